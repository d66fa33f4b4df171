"""lowbit quantize / dequantize against numpy implementations of the spec's formulas
(cann-semantics §2.3-2.5, cli.md), written independently of the C++ code, and against torch's
quantize_per_channel as a real peer for static int8 per-channel."""
import itertools
import os
import unittest

import numpy as np

from lowbit_cli import DTYPE_MAX, INT_RANGE, CliCase, block_index, blocks, f32, nearest_even

MX_EMAX = {"fp8_e4m3fn": 8, "fp8_e5m2": 15, "fp6_e2m3fn": 2, "fp6_e3m2fn": 4, "fp4_e2m1fn": 2, "fp4_e1m2fn": 0}


def sample(shape, seed, side):
    """Gaussian data with outlier channels along the non-k axis, a zero group, NaN and Inf."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    if side == "left":
        x[:, 3] *= 40  # outlier channel (a k column)
        x[2, :] = 0    # an all-zero token
    else:
        x[3, :] *= 40
        x[:, 2] = 0
    return x


def reference(x, fmt, gran, side, asym=False, smooth=None, dtype_max=None, min_scale=0.0):
    """Dynamic quantization per spec §2.3 (sym/asym) and §2.4 (min_scale); returns
    (t, scales, offsets) where t = v / scale (+ offset) before the final cast."""
    v = f32(x)
    if smooth is not None:
        v = v * (smooth[None, :] if side == "left" else smooth[:, None])
    (br, bc), sshape = blocks(v.shape, gran, side)
    idx = block_index(v.shape, br, bc)
    n = int(np.prod(sshape))
    qmax = np.float32(dtype_max or DTYPE_MAX[fmt])
    qmin = -qmax - 1 if fmt in INT_RANGE else -qmax
    scales = np.zeros(n, np.float32)
    offsets = np.zeros(n, np.float32)
    for s in range(n):
        vals = v[idx == s]
        fin = vals[np.isfinite(vals)]
        if not asym:
            amax = np.abs(fin).max() if fin.size else np.float32(0)
            scale = np.float32(amax) * np.float32(1 / float(qmax))
            if min_scale > 0:
                scale = min(scale, np.float32(1) / np.float32(min_scale))
            scales[s] = scale
        else:
            hi = fin.max() if fin.size else np.float32(0)
            lo = fin.min() if fin.size else np.float32(0)
            if hi == lo and hi != 0:
                hi, lo = max(hi, np.float32(0)), min(lo, np.float32(0))
            scale = np.float32(hi - lo) * np.float32(1 / (float(qmax) - float(qmin)))
            scales[s] = scale
            offsets[s] = 0 if scale == 0 else qmax - np.float32(hi) / scale
    sc = scales[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = v / sc
        if asym:
            t = t + offsets[idx]
    t = np.where((sc == 0) & np.isfinite(v), np.float32(0), t).astype(np.float32)
    return t, scales.reshape(sshape), offsets.reshape(sshape)


def int_cast(t, fmt):
    lo, hi = INT_RANGE[fmt]
    t = np.where(np.isnan(t), 0, t)
    return np.clip(np.rint(t), lo, hi).astype(np.int8)


class Quantize(CliCase):
    def codes_of(self, t, fmt, *policy):
        """Float casts go through `lowbit convert`, itself checked row by row against ml_dtypes."""
        self.run_ok("convert", "--to", fmt, *policy, self.save("t.npy", t), self.p("tc.npy"))
        return self.load("tc.npy")

    def quantize(self, x, fmt, gran, side, *extra, offset=False):
        args = ["quantize", "--dtype", fmt, "--granularity", gran, "--operand", side, *extra,
                self.save("x.npy", x), "--values", self.p("q.npy"), "--scale", self.p("s.npy")]
        if offset:
            args += ["--offset", self.p("o.npy")]
        self.run_ok(*args)
        return self.load("q.npy"), self.load("s.npy"), (self.load("o.npy") if offset else None)

    def grans(self, side):
        return ["tensor", "token" if side == "left" else "channel", "group:32", "group:7", "block:4,8",
                "block:16", "block:100"]

    def test_integer_formats_every_granularity_sym_and_asym(self):
        x_nan = None
        for fmt, side, asym in itertools.product(["int8", "int4"], ["left", "right"], [False, True]):
            shape = (13, 70) if side == "left" else (70, 13)
            x = sample(shape, 1, side)
            x[5, 6], x[6, 5], x[7, 7] = np.nan, np.inf, -np.inf
            for gran in self.grans(side):
                extra = ["--asymmetric"] if asym else []
                q, s, o = self.quantize(x, fmt, gran, side, *extra, offset=asym)
                t, rs, ro = reference(x, fmt, gran, side, asym)
                msg = f"{fmt} {gran} {side} asym={asym}"
                self.assertEqual(q.dtype, np.int8)
                np.testing.assert_array_equal(s.view(np.uint32), rs.view(np.uint32), err_msg=msg)
                if asym:
                    np.testing.assert_array_equal(o.view(np.uint32), ro.view(np.uint32), err_msg=msg)
                np.testing.assert_array_equal(q, int_cast(t, fmt), err_msg=msg)
                # dequantize: (q - offset) * scale in fp32
                args = ["dequantize", "--dtype", fmt, "--granularity", gran, "--operand", side,
                        self.p("q.npy"), self.p("s.npy"), self.p("y.npy")]
                if asym:
                    args += ["--offset", self.p("o.npy")]
                self.run_ok(*args)
                (br, bc), _ = blocks(shape, gran, side)
                idx = block_index(shape, br, bc)
                want = (q.astype(np.float32) - ro.reshape(-1)[idx]) * rs.reshape(-1)[idx]
                np.testing.assert_array_equal(self.load("y.npy"), want.astype(np.float32), err_msg=msg)

    def test_float_formats_every_granularity(self):
        for fmt, side in itertools.product(["fp8_e4m3fn", "fp8_e5m2", "hifloat8", "fp6_e2m3fn", "fp6_e3m2fn",
                                            "fp4_e2m1fn", "fp4_e1m2fn"], ["left", "right"]):
            shape = (9, 40) if side == "left" else (40, 9)
            x = sample(shape, 2, side)
            for gran in ["tensor", "token" if side == "left" else "channel", "group:16", "block:8,5"]:
                q, s, _ = self.quantize(x, fmt, gran, side)
                t, rs, _ = reference(x, fmt, gran, side)
                msg = f"{fmt} {gran} {side}"
                np.testing.assert_array_equal(s.view(np.uint32), rs.view(np.uint32), err_msg=msg)
                np.testing.assert_array_equal(q, self.codes_of(t, fmt), err_msg=msg)

    def test_smooth_dtype_max_min_scale_and_rounding(self):
        x = sample((6, 64), 3, "left")
        sm = np.linspace(0.5, 2.0, 64).astype(np.float32)
        q, s, _ = self.quantize(x, "int8", "token", "left", "--smooth", self.save("sm.npy", sm))
        t, rs, _ = reference(x, "int8", "token", "left", smooth=sm)
        np.testing.assert_array_equal(s, rs)
        np.testing.assert_array_equal(q, int_cast(t, "int8"))
        q, s, _ = self.quantize(x, "hifloat8", "group:16", "left", "--dtype-max", "15")
        t, rs, _ = reference(x, "hifloat8", "group:16", "left", dtype_max=15)
        np.testing.assert_array_equal(s, rs)
        np.testing.assert_array_equal(q, self.codes_of(t, "hifloat8"))
        q, s, _ = self.quantize(x * 1e-4, "fp8_e4m3fn", "block:2,32", "left", "--min-scale", "2000")
        t, rs, _ = reference(x * 1e-4, "fp8_e4m3fn", "block:2,32", "left", min_scale=2000.0)
        np.testing.assert_array_equal(s, rs)
        self.assertTrue((rs <= np.float32(1) / np.float32(2000)).all())
        np.testing.assert_array_equal(q, self.codes_of(t, "fp8_e4m3fn"))
        for mode in ["round", "floor", "ceil", "trunc"]:
            q, s, _ = self.quantize(x, "int4", "group:8", "left", "--round", mode)
            t, _, _ = reference(x, "int4", "group:8", "left")
            fn = {"round": lambda a: np.sign(a) * np.floor(np.abs(a) + 0.5), "floor": np.floor, "ceil": np.ceil,
                  "trunc": np.trunc}[mode]
            np.testing.assert_array_equal(q, np.clip(fn(t), -8, 7).astype(np.int8), err_msg=mode)

    def test_bf16_input_and_packed_output(self):
        x = sample((4, 32), 4, "left")
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)  # truncate to bf16 exactly
        xb = (bits.astype(np.uint32) << 16).view(np.float32)
        self.run_ok("quantize", "--dtype", "int4", "--granularity", "group:8", "--operand", "left", "--bf16", "--packed",
                    self.save("b.npy", bits), "--values", self.p("q.npy"), "--scale", self.p("s.npy"))
        t, rs, _ = reference(xb, "int4", "group:8", "left")
        q = self.load("q.npy")
        self.assertEqual(q.dtype, np.uint8)
        self.assertEqual(q.shape, (4, 16))
        unpacked = np.stack([q & 0xF, q >> 4], axis=-1).reshape(4, 32).astype(np.int8)
        unpacked = np.where(unpacked > 7, unpacked - 16, unpacked)
        np.testing.assert_array_equal(unpacked, int_cast(t, "int4"))
        self.run_ok("dequantize", "--dtype", "int4", "--granularity", "group:8", "--operand", "left", "--packed",
                    self.p("q.npy"), self.p("s.npy"), self.p("y.npy"))
        self.assertEqual(self.load("y.npy").shape, (4, 32))

    def test_static_divide_and_multiply(self):
        x = sample((5, 12), 5, "right")
        s = np.linspace(0.01, 0.2, 12).astype(np.float32)
        o = np.arange(-6, 6).astype(np.float32)
        for form, extra in [("divide", []), ("multiply", ["--multiply"])]:
            self.run_ok("quantize", "--dtype", "int8", "--granularity", "channel", "--operand", "right",
                        "--static-scale", self.save("ss.npy", s), "--static-offset", self.save("so.npy", o), *extra,
                        self.save("x.npy", x), "--values", self.p("q.npy"), "--scale", self.p("s.npy"))
            t = (x / s[None, :] if form == "divide" else x * s[None, :]) + o[None, :]
            np.testing.assert_array_equal(self.load("q.npy"), int_cast(t.astype(np.float32), "int8"), err_msg=form)
            np.testing.assert_array_equal(self.load("s.npy"), s)
        self.run_ok("quantize", "--dtype", "fp8_e5m2", "--granularity", "tensor", "--operand", "left",
                    "--static-scale", self.save("st.npy", f32([0.125])), self.p("x.npy"), "--values", self.p("q.npy"))
        np.testing.assert_array_equal(self.load("q.npy"), self.codes_of(x / np.float32(0.125), "fp8_e5m2"))

    def test_torch_quantize_per_channel_peer(self):
        try:
            import torch
        except ImportError:  # the README's test command installs python3-torch
            self.fail("python3-torch is required for the peer test")
        rng = np.random.default_rng(6)
        x = rng.standard_normal((256, 96)).astype(np.float32) * 3
        s = (np.abs(x).max(axis=0) / 127).astype(np.float32)
        self.run_ok("quantize", "--dtype", "int8", "--granularity", "channel", "--operand", "right",
                    "--static-scale", self.save("ss.npy", s), self.save("x.npy", x), "--values", self.p("q.npy"))
        ours = self.load("q.npy").astype(np.int32)
        theirs = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(s.astype(np.float64)),
                                            torch.zeros(96, dtype=torch.long), 1, torch.qint8).int_repr().numpy()
        diff = ours - theirs
        # torch multiplies by 1/s (documented in shared/anchors); we divide as aclnnQuantize
        # does. The two may differ by one code, and only where x/s is within float rounding of
        # a .5 tie.
        self.assertLessEqual(np.abs(diff).max(), 1)
        frac = np.abs(np.abs(x / s[None, :]) % 1 - 0.5)
        self.assertTrue((frac[diff != 0] < 1e-4).all())
        self.assertLess((diff != 0).mean(), 1e-3)

    def test_errors(self):
        x = self.save("x.npy", sample((4, 6), 7, "left"))
        q = ["--values", self.p("q.npy"), "--scale", self.p("s.npy")]
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "channel", "--operand", "left", x, *q,
                      mentions="channel", outputs=["q.npy", "s.npy"])
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "right", x, *q, mentions="token")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "group:0", "--operand", "left", x, *q, mentions="group size")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "rows", "--operand", "left", x, *q, mentions="--granularity")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "up", x, *q, mentions="--operand")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "left", x, "--values",
                      self.p("q.npy"), mentions="--scale", outputs=["q.npy"])
        self.run_fail("quantize", "--dtype", "fp4_e2m1fn", "--granularity", "mx", "--operand", "left", "--overflow",
                      "propagate", x, *q, mentions="--overflow")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "mx", "--operand", "left", x, *q, mentions="mx")
        self.run_fail("quantize", "--dtype", "e8m0", "--granularity", "token", "--operand", "left", x, *q,
                      mentions="not a quantization format")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "left", "--scale-alg", "ceil",
                      x, *q, mentions="--scale-alg")
        odd = self.save("odd.npy", sample((4, 5), 7, "left"))
        self.run_fail("quantize", "--dtype", "int4", "--granularity", "token", "--operand", "left", "--packed", odd, *q,
                      mentions="even", outputs=["q.npy", "s.npy"])
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "left", "--static-scale",
                      self.save("bad.npy", f32([1, 2, 3])), x, *q, mentions="static scale has shape (3,)")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "left", "--static-offset",
                      self.save("so.npy", f32([1, 2, 3, 4])), x, *q, mentions="--static-scale")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "left", "--smooth",
                      self.save("sm.npy", f32([1, 2])), x, *q, mentions="smooth")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--operand", "left",
                      self.save("v.npy", f32([1, 2])), *q, mentions="2-D")
        self.run_fail("dequantize", "--dtype", "int8", "--granularity", "token", "--operand", "left",
                      self.save("qq.npy", np.zeros((4, 6), np.int8)), self.save("s3.npy", f32([1, 2, 3])),
                      self.p("y.npy"), mentions="scale has shape", outputs=["y.npy"])
        self.run_fail("dequantize", "--dtype", "int4", "--granularity", "token", "--operand", "left",
                      self.save("q9.npy", np.full((4, 6), 9, np.int8)), self.save("s4.npy", f32([1, 2, 3, 4])),
                      self.p("y.npy"), mentions="int4", outputs=["y.npy"])


    def test_operand_implied_by_token_and_channel(self):
        """token is per row of the left operand and channel per column of the right one: --operand
        may be left out for them (and only them)."""
        x = sample((6, 40), 8, "left")
        for gran, side in [("token", "left"), ("channel", "right")]:
            q1, s1, _ = self.quantize(x, "int8", gran, side)
            self.run_ok("quantize", "--dtype", "int8", "--granularity", gran, self.save("x.npy", x),
                        "--values", self.p("q2.npy"), "--scale", self.p("s2.npy"))
            np.testing.assert_array_equal(self.load("q2.npy"), q1)
            np.testing.assert_array_equal(self.load("s2.npy"), s1)
            self.run_ok("dequantize", "--dtype", "int8", "--granularity", gran, self.p("q2.npy"), self.p("s2.npy"),
                        self.p("y.npy"))
            want = q1.astype(np.float32) * (s1[:, None] if side == "left" else s1[None, :])
            np.testing.assert_array_equal(self.load("y.npy"), want)
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "group:8", self.p("x.npy"),
                      "--values", self.p("q3.npy"), "--scale", self.p("s3.npy"), mentions="--operand",
                      outputs=["q3.npy", "s3.npy"])

    def test_dequantize_takes_quantize_array_names(self):
        """--values/--scale/--offset/--out (quantize's names) or cli.md's positional Q S OUT."""
        x = sample((5, 33), 9, "left")
        q, s, o = self.quantize(x, "int8", "group:8", "left", "--asymmetric", offset=True)
        common = ["dequantize", "--dtype", "int8", "--granularity", "group:8", "--operand", "left",
                  "--offset", self.p("o.npy")]
        self.run_ok(*common, self.p("q.npy"), self.p("s.npy"), self.p("y1.npy"))
        self.run_ok(*common, "--values", self.p("q.npy"), "--scale", self.p("s.npy"), "--out", self.p("y2.npy"))
        self.run_ok(*common, "--scale", self.p("s.npy"), self.p("q.npy"), self.p("y3.npy"))
        idx = np.arange(33) // 8
        want = (q.astype(np.float32) - o[:, idx]) * s[:, idx]
        for y in ("y1.npy", "y2.npy", "y3.npy"):
            np.testing.assert_array_equal(self.load(y), want, err_msg=y)
        self.run_fail(*common, "--values", self.p("q.npy"), "--scale", self.p("s.npy"), mentions="--out")
        self.run_fail(*common, "--values", self.p("q.npy"), "--scale", self.p("s.npy"), "--out", self.p("y4.npy"),
                      self.p("extra.npy"), mentions="unexpected argument", outputs=["y4.npy"])


class QuantizeMx(CliCase):
    def reference(self, x, fmt, side, rule="ocp"):
        v = f32(x)
        (br, bc), sshape = blocks(v.shape, "mx", side)
        idx = block_index(v.shape, br, bc)
        scales = np.zeros(int(np.prod(sshape)), np.uint8)
        codes = np.zeros(v.shape, np.uint8)
        for s in range(scales.size):
            vals = v[idx == s]
            if not np.isfinite(vals).all():
                scales[s] = 255
                continue
            amax = np.abs(vals).max()
            if amax == 0:
                continue
            if rule == "ocp":
                se = max(int(np.frexp(amax)[1]) - 1 - MX_EMAX[fmt], -127)
                byte = se + 127
            else:
                S = np.float32(amax) / np.float32(DTYPE_MAX[fmt])
                b = int(np.array(S, np.float32).view(np.uint32))
                byte, m = (b >> 23) & 0xFF, b & 0x7FFFFF
                if 0 < byte < 254 and m > 0:
                    byte += 1
                elif byte == 0 and m > 0x400000:
                    byte = 1
            scales[s] = byte
            codes[idx == s] = nearest_even(vals.astype(np.float64) * 2.0 ** (127 - byte), fmt)
        return codes, scales.reshape(sshape)

    def test_every_element_format_side_and_rule(self):
        for fmt, side, rule in itertools.product(MX_EMAX, ["left", "right"], ["ocp", "ceil"]):
            shape = (5, 100) if side == "left" else (100, 5)
            x = sample(shape, 8, side)
            x[1, 1] = np.nan if side == "left" else x[1, 1]
            if side == "right":
                x[40, 0] = np.inf
            self.run_ok("quantize", "--dtype", fmt, "--granularity", "mx", "--operand", side, "--scale-alg", rule,
                        self.save("x.npy", x), "--values", self.p("q.npy"), "--scale", self.p("s.npy"))
            codes, scales = self.reference(x, fmt, side, rule)
            msg = f"{fmt} {side} {rule}"
            np.testing.assert_array_equal(self.load("s.npy"), scales, err_msg=msg)
            np.testing.assert_array_equal(self.load("q.npy"), codes, err_msg=msg)
            # CANN pair layout (spec §2.5)
            self.run_ok("quantize", "--dtype", fmt, "--granularity", "mx", "--operand", side, "--scale-alg", rule,
                        "--cann-layout", self.p("x.npy"), "--values", self.p("q2.npy"), "--scale", self.p("c.npy"))
            if side == "left":
                pad = np.pad(scales, ((0, 0), (0, scales.shape[1] % 2)))
                want = pad.reshape(scales.shape[0], -1, 2)
            else:
                pad = np.pad(scales, ((0, scales.shape[0] % 2), (0, 0)))
                want = pad.reshape(-1, 2, scales.shape[1]).transpose(0, 2, 1)
            np.testing.assert_array_equal(self.load("c.npy"), want, err_msg=msg)
            # dequantize from either layout: q * 2^(e - 127)
            for layout, sfile in [([], "s.npy"), (["--cann-layout"], "c.npy")]:
                self.run_ok("dequantize", "--dtype", fmt, "--granularity", "mx", "--operand", side, *layout,
                            self.p("q.npy"), self.p(sfile), self.p("y.npy"))
                self.run_ok("decode", "--from", fmt, self.p("q.npy"), self.p("d.npy"))
                (br, bc), _ = blocks(shape, "mx", side)
                e = scales.reshape(-1)[block_index(shape, br, bc)].astype(np.float64)
                want_y = np.where(e == 255, np.nan, self.load("d.npy") * 2.0 ** (e - 127)).astype(np.float32)
                np.testing.assert_array_equal(self.load("y.npy"), want_y, err_msg=msg)


class OutputSafety(CliCase):
    """Outputs that alias each other or an input, or are not regular files, are refused before
    anything is written (README "Bad input")."""

    def test_aliasing_and_non_regular_outputs(self):
        x = self.save("x.npy", f32(np.arange(12).reshape(3, 4)))
        q = ["quantize", x, "--dtype", "int8", "--granularity", "token", "--operand", "left"]
        self.run_fail(*q, "--values", self.p("o.npy"), "--scale", self.p("o.npy"), mentions="two outputs",
                      outputs=["o.npy"])
        self.run_fail(*q, "--values", x, "--scale", self.p("s.npy"), mentions="would replace the input",
                      outputs=["s.npy"])
        np.testing.assert_array_equal(self.load("x.npy"), np.arange(12).reshape(3, 4))  # input untouched
        os.mkdir(self.p("adir"))
        os.mkfifo(self.p("fifo"))
        for bad in ("adir", "fifo"):
            self.run_fail(*q, "--values", self.p("v.npy"), "--scale", self.p(bad), mentions="not a regular file",
                          outputs=["v.npy"])
        self.assertEqual(sorted(os.listdir(self.dir)), ["adir", "fifo", "x.npy"])  # no temporaries

    def test_flag_values_and_combinations_are_usage_errors(self):
        x = self.save("x.npy", f32(np.arange(12).reshape(3, 4)))
        out = ["--values", self.p("q.npy"), "--scale", self.p("s.npy")]
        for flags, mentions in [
                (["--granularity", "group:0", "--operand", "left"], "group size"),
                (["--granularity", "block:0,4", "--operand", "left"], "block sizes"),
                (["--granularity", "token", "--operand", "right"], "token applies to --operand left"),
                (["--granularity", "channel", "--operand", "left"], "channel applies to --operand right"),
                (["--granularity", "token", "--operand", "left", "--dtype-max", "1e39"], "float32 range"),
                (["--granularity", "token", "--operand", "left", "--dtype-max", " 5"], "not a number")]:
            r = self.run_fail("quantize", x, "--dtype", "int8", *flags, *out, mentions=mentions,
                              outputs=["q.npy", "s.npy"])
            self.assertEqual(r.returncode, 2, flags)
        r = self.run_fail("quantize", x, "--dtype", "int8", "--granularity", "token", "--operand", "left",
                          "--dtype-max", "1e-45", *out, mentions="dtype max is so small", outputs=["q.npy"])
        # a newline in a value stays on one line of stderr (run_fail checks the line count)
        self.run_fail("quantize", x, "--dtype", "int8\nx", "--granularity", "token", "--operand", "left", *out,
                      mentions="int8\\nx")
        for gs in [" -5", "-5", "+5", "99999999999999999999999"]:
            r = self.run_fail("matmul", "--mode", "G-B", "--group-size", gs, "--x1", x, "--x2", x, "--x1-dtype", "int8",
                              "--x2-dtype", "int8", "--out", self.p("y.npy"), mentions="--group-size", outputs=["y.npy"])
            self.assertEqual(r.returncode, 2, gs)

    def test_min_scale_is_for_symmetric_quantization(self):
        x = self.save("x.npy", f32(np.arange(12).reshape(3, 4)))
        r = self.run_fail("quantize", x, "--dtype", "int8", "--granularity", "token", "--operand", "left",
                          "--asymmetric", "--min-scale", "2", "--values", self.p("q.npy"), "--scale", self.p("s.npy"),
                          "--offset", self.p("o.npy"), mentions="--min-scale", outputs=["q.npy", "s.npy", "o.npy"])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
