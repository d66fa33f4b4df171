"""lowbit quantize/dequantize --preset against NumPy models written from shared/spec/presets.md
(§1 primitives, §2 NVFP4, §3 MX): every step one float32 operation, e4m3 and e2m1 rounding by a
search over the ml_dtypes decode tables (lowbit_cli.nearest_even), not by the C++ codecs."""
import unittest

import numpy as np

from lowbit_cli import CliCase, decode_table, f32, nearest_even

F = np.float32
FLT_MAX = F(np.finfo(np.float32).max)
R6 = F(1) / F(6)
R2688 = F(1) / F(2688)
E4M3 = decode_table("fp8_e4m3fn")
E2M1 = decode_table("fp4_e2m1fn")


def e4m3(v):
    """P3a/P3b for a non-negative scale: RNE with subnormals, saturating, NaN -> 0x7f."""
    return 0x7F if np.isnan(v) else int(nearest_even(np.array([v], np.float64), "fp8_e4m3fn")[0])


def e2m1_rne(y):
    """RNE to e2m1, saturating, the sign bit kept (-0 -> 0x8); y not NaN."""
    return int(nearest_even(np.array([y], np.float64), "fp4_e2m1fn")[0])


def amax(v, nan):
    a = np.abs(v.astype(np.float32))
    if nan and np.isnan(a).any():
        return F(np.nan)
    a = a[~np.isnan(a)]
    return F(a.max()) if a.size else F(0)


def nvfp4_model(name, x, g=None, version=18, cpu=False):
    """(codes, scales, global) of an NVFP4 preset, blocks of 16 along the rows."""
    m, k = x.shape
    nb = -(-k // 16)
    codes = np.zeros((m, k), np.uint8)
    scales = np.zeros((m, nb), np.uint8)
    with np.errstate(all="ignore"):
        if name == "nvfp4-te":  # §2.1 steps 1-9
            glob = amax(x, False) if g is None else F(g)
            s_enc = np.fmin(F(2688) / glob, FLT_MAX)
            if glob == 0 or s_enc == 0:
                s_enc = F(1)
            s_dec = F(1) / s_enc
            k6 = s_enc * R6
        elif name in ("nvfp4-torchao", "nvfp4-modelopt"):  # §2.2, §2.3a; P5: CUDA amax * fl(1/2688)
            glob = (amax(x, True) / F(2688) if cpu else amax(x, True) * R2688) if g is None else F(g)
        else:  # nvfp4-trtllm §2.4, vLLM's helper fl(1/amax) * 2688
            glob = (F(1) / amax(x, True)) * F(2688) if g is None else F(g)
        for r in range(m):
            for j in range(nb):
                blk = x[r, j * 16:(j + 1) * 16]
                if name == "nvfp4-te":
                    s = e4m3(np.fmin(amax(blk, False) * k6, FLT_MAX))
                    mult = np.fmin(F(1) / (E4M3[s] * s_dec), FLT_MAX)
                elif name == "nvfp4-torchao":
                    sbs = ((amax(blk, True) / F(6)) if cpu else (amax(blk, True) * R6)) / glob
                    s = e4m3(sbs if np.isnan(sbs) else min(max(sbs, F(2.0 ** -6)), F(448)))
                    mult = (F(1) / glob) / E4M3[s]
                    div = glob * E4M3[s]  # v0.16: x / fl(pts * s)
                elif name == "nvfp4-modelopt":
                    pbs = amax(blk, True) / (F(6) * glob)
                    if pbs == 0:
                        pbs = F(1)
                    s = e4m3(pbs if np.isnan(pbs) else min(max(pbs, F(2.0 ** -9)), F(448)))
                    div = E4M3[s] * glob
                else:
                    vm = amax(blk, False)
                    s = e4m3(vm * (glob * R6)) if vm != 0 else 0
                    mult = np.fmin(F(1) / (E4M3[s] * (F(1) / glob)), FLT_MAX) if vm != 0 else F(0)
                scales[r, j] = s
                for c, v in enumerate(blk):
                    if name == "nvfp4-modelopt":
                        y = v / div
                        q = 7 if np.isnan(y) else (e2m1_rne(abs(y)) | (8 if y < 0 else 0))  # P2d
                    elif name == "nvfp4-torchao":
                        y = v / div if version == 16 else v * mult
                        q = 0x4 if np.isnan(y) else e2m1_rne(min(max(y, F(-6)), F(6)))  # P2c, CUDA NaN
                    else:
                        y = v * mult
                        q = 7 if np.isnan(y) else e2m1_rne(y)  # P2a
                    codes[r, j * 16 + c] = q
    return codes, scales, glob


def p7(v, satfinite):
    """e8m0 by rounding up (cvt.rp.ue8m0x2), §1 P7."""
    if np.isnan(v):
        return 0xFF
    if np.isinf(v):
        return 0xFE if satfinite else 0xFF
    b = int(np.array([v], np.float32).view(np.uint32)[0])
    e, mt = (b >> 23) & 0xFF, b & 0x7FFFFF
    if satfinite and e == 0xFE:
        return 0xFE
    return e + (int(mt > 0x400000) if e == 0 else int(mt != 0))


def mx_model(name, x, fmt):
    """(codes, scales) of mx-te / mx-torchao-floor / mx-torchao-rceil, blocks of 32 (§3.1, §3.2)."""
    emax, mx = {"fp8_e4m3fn": (8, 448), "fp4_e2m1fn": (2, 6)}[fmt]
    m, k = x.shape
    nb = -(-k // 32)
    codes = np.zeros((m, k), np.uint8)
    scales = np.zeros((m, nb), np.uint8)
    with np.errstate(all="ignore"):
        for r in range(m):
            for j in range(nb):
                blk = x[r, j * 32:(j + 1) * 32]
                a = amax(blk, name != "mx-te")
                if name == "mx-te":
                    b = p7(a * (F(1) / F(mx)), True)
                elif name == "mx-torchao-rceil":
                    b = p7(a * (F(1) / F(mx)), False)
                elif not np.isfinite(a):
                    b = 0xFF
                else:
                    p = ((int(np.array([a], np.float32).view(np.uint32)[0]) >> 23) & 0xFF) - 127
                    b = min(max(p - emax, -127), 128) + 127
                scales[r, j] = b
                rcp = F(np.nan) if b == 255 else np.array(
                    [0x00400000 if b == 254 else (254 - b) << 23], np.uint32).view(np.float32)[0]
                for c, v in enumerate(blk):
                    y = v * rcp
                    if fmt == "fp8_e4m3fn":
                        q = 0x7F if np.isnan(y) else int(nearest_even(np.array([y], np.float64), fmt)[0])
                    else:
                        q = 0x4 if np.isnan(y) else e2m1_rne(y)
                    codes[r, j * 32 + c] = q
    return codes, scales


def sample(seed, m=6, k=64):
    """Blocks of very different magnitudes, a zero block, ties and -0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k)).astype(np.float32)
    x *= (10.0 ** rng.uniform(-4, 4, (m, k // 16))).astype(np.float32).repeat(16, axis=1)
    x[1, 16:32] = 0
    x[2, 3] = -0.0
    x[3, :8] = f32([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6]) * F(4)
    return x


class Presets(CliCase):
    def quant(self, name, x, *extra):
        self.run_ok("quantize", "--preset", name, self.save("x.npy", x), "--values", self.p("q.npy"),
                    "--scale", self.p("s.npy"), "--global-scale", self.p("g.npy"), *extra)
        return self.load("q.npy"), self.load("s.npy"), self.load("g.npy")

    def test_nvfp4_presets_match_the_spec_models(self):
        for seed in range(3):
            x = sample(seed)
            if seed == 2:
                x[4, 40] = np.nan  # a NaN: the NaN-propagating presets poison what the spec says
            for name in ["nvfp4-te", "nvfp4-torchao", "nvfp4-modelopt", "nvfp4-trtllm"]:
                codes, scales, glob = nvfp4_model(name, x)
                q, s, g = self.quant(name, x)
                msg = f"{name} seed {seed}"
                np.testing.assert_array_equal(s, scales, err_msg=msg)
                np.testing.assert_array_equal(q, codes, err_msg=msg)
                self.assertEqual(g.dtype, np.float32)
                self.assertEqual(g.shape, (1,))
                np.testing.assert_array_equal(g.view(np.uint32), np.array([glob], np.float32).view(np.uint32))
                # a given per-tensor value (the stored form) instead of the computed one
                given = F(0.37) if name != "nvfp4-te" else F(123.0)
                codes, scales, _ = nvfp4_model(name, x, given)
                q, s, _ = self.quant(name, x, "--static-global-scale", self.save("gg.npy", f32([given])))
                np.testing.assert_array_equal(s, scales, err_msg=msg + " static")
                np.testing.assert_array_equal(q, codes, err_msg=msg + " static")

    def test_torchao_versions_and_the_cpu_rule(self):
        """§2.2 version history (v0.16 divides by fl(pts * s)) and P5 (CPU divides by 2688 and 6)."""
        for seed in range(3):
            x = sample(40 + seed)
            x[0, 0] = F(913628.0)  # an amax whose fl(amax * fl(1/2688)) and fl(amax / 2688) differ
            for extra, version, cpu in [(["--torchao-version", "16"], 16, False), (["--device", "cpu"], 18, True),
                                        (["--torchao-version", "17"], 17, False)]:
                codes, scales, glob = nvfp4_model("nvfp4-torchao", x, version=version, cpu=cpu)
                q, s, g = self.quant("nvfp4-torchao", x, *extra)
                np.testing.assert_array_equal(s, scales, err_msg=str(extra))
                np.testing.assert_array_equal(q, codes, err_msg=str(extra))
                np.testing.assert_array_equal(g, f32([glob]))
            codes, scales, glob = nvfp4_model("nvfp4-modelopt", x, cpu=True)
            q, s, g = self.quant("nvfp4-modelopt", x, "--device", "cpu")
            np.testing.assert_array_equal(q, codes)
            np.testing.assert_array_equal(g, f32([glob]))
        amax_ = F(913628.0)
        self.assertNotEqual(amax_ * R2688, amax_ / F(2688))  # so the cpu case above was a real test
        # a block where the versions part: pts = 0.14501545, s = 1.25; x = 0.04531733 gives
        # x / fl(pts * s) = 0.25 exactly (v0.16: tie -> code 0) but x * fl(fl(1/pts) / s) =
        # 0.25000003 (v0.17+: code 1)
        pts = F(0.14501544833183289)
        blk = np.zeros((1, 16), np.float32)
        blk[0, 0], blk[0, 1] = F(6) * pts * F(1.25), F(0.045317329466342926)
        self.save("pts.npy", f32([pts]))
        q18, s18, _ = self.quant("nvfp4-torchao", blk, "--static-global-scale", self.p("pts.npy"))
        q16, s16, _ = self.quant("nvfp4-torchao", blk, "--static-global-scale", self.p("pts.npy"),
                                 "--torchao-version", "16")
        self.assertEqual((s18[0, 0], s16[0, 0]), (0x3A, 0x3A))  # 1.25
        self.assertEqual((q18[0, 1], q16[0, 1]), (1, 0))
        self.run_fail("quantize", "--preset", "nvfp4-te", "--device", "cpu", self.p("x.npy"), "--values",
                      self.p("q9.npy"), "--scale", self.p("s9.npy"), mentions="--device")

    def test_mx_presets_match_the_spec_models(self):
        for seed in range(2):
            x = sample(10 + seed)
            if seed == 1:
                x[0, 5], x[5, 50] = np.nan, np.inf
            for name in ["mx-te", "mx-torchao-floor", "mx-torchao-rceil"]:
                for fmt in ["fp8_e4m3fn", "fp4_e2m1fn"]:
                    if name == "mx-te" and fmt != "fp8_e4m3fn":
                        continue
                    codes, scales = mx_model(name, x, fmt)
                    self.run_ok("quantize", "--preset", name, "--dtype", fmt, self.save("x.npy", x),
                                "--values", self.p("q.npy"), "--scale", self.p("s.npy"))
                    np.testing.assert_array_equal(self.load("s.npy"), scales, err_msg=f"{name} {fmt}")
                    np.testing.assert_array_equal(self.load("q.npy"), codes, err_msg=f"{name} {fmt}")

    def test_packed_tiled_and_dequantize(self):
        x = sample(20, m=130, k=48)  # 130 rows: two 128-row tiles; 3 scale columns: padded to 4
        codes, scales, glob = nvfp4_model("nvfp4-te", x)
        q, s, g = self.quant("nvfp4-te", x, "--packed", "--tiled")
        np.testing.assert_array_equal(q, (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8))
        self.assertEqual(s.shape, (256, 4))
        for r in range(130):
            for c in range(3):  # P9: ((r/128)*(C'/4) + c/4)*512 + (r%32)*16 + ((r/32)%4)*4 + c%4
                off = ((r // 128) * 1 + c // 4) * 512 + (r % 32) * 16 + ((r // 32) % 4) * 4 + c % 4
                self.assertEqual(s.reshape(-1)[off], scales[r, c])
        self.assertEqual(int(np.count_nonzero(s)), int(np.count_nonzero(scales)))  # padding is zero
        # dequantize from the packed and tiled files: q * fl(fl(s * amax) * fl(1/2688))
        self.run_ok("dequantize", "--preset", "nvfp4-te", "--packed", "--tiled", self.p("q.npy"), self.p("s.npy"),
                    "--global-scale", self.p("g.npy"), self.p("y.npy"))
        want = E2M1[codes] * ((E4M3[scales] * glob) * R2688).repeat(16, axis=1)
        np.testing.assert_array_equal(self.load("y.npy"), want.astype(np.float32))
        # MX: q * 2^(b - 127)
        self.run_ok("quantize", "--preset", "mx-torchao-floor", "--dtype", "fp8_e4m3fn", self.save("x.npy", x),
                    "--values", self.p("mq.npy"), "--scale", self.p("ms.npy"))
        self.run_ok("dequantize", "--preset", "mx-torchao-floor", "--dtype", "fp8_e4m3fn",
                    "--values", self.p("mq.npy"), "--scale", self.p("ms.npy"), "--out", self.p("my.npy"))
        mq, ms = self.load("mq.npy"), self.load("ms.npy")
        want = E4M3[mq] * np.ldexp(np.float32(1), ms.astype(np.int32) - 127).repeat(32, axis=1)[:, :48]
        np.testing.assert_array_equal(self.load("my.npy"), want.astype(np.float32))

    def test_compare_says_which_preset_matches(self):
        x = sample(50, m=4, k=64)
        x[0, 3] = -0.0  # 0x8 in the TE kernel, torchao and TRT-LLM; 0x0 in TE's Python reference and ModelOpt
        self.quant("nvfp4-modelopt", x)
        out = self.run_ok("compare", "--presets", self.p("x.npy"), self.p("q.npy"), "--scale", self.p("s.npy")).stdout
        matched = {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("matches")}
        self.assertIn("nvfp4-modelopt", matched)
        self.assertNotIn("nvfp4-te", matched)
        self.assertNotIn("nvfp4-torchao", matched)
        self.run_ok("quantize", "--preset", "mx-torchao-ceil", "--dtype", "fp8_e4m3fn", self.p("x.npy"), "--values",
                    self.p("mq.npy"), "--scale", self.p("ms.npy"))
        out = self.run_ok("compare", "--presets", self.p("x.npy"), self.p("mq.npy"), "--scale", self.p("ms.npy"),
                          "--dtype", "fp8_e4m3fn").stdout
        self.assertIn("matches      mx-torchao-ceil --dtype fp8_e4m3fn", out)
        self.assertNotIn("matches      mx-torchao-floor", out)

    def test_bf16_input_and_errors(self):
        x = sample(30, m=4, k=32)
        bits = ((x.view(np.uint32).astype(np.uint64) + 0x7FFF + ((x.view(np.uint32) >> 16) & 1)) >> 16)
        xb = bits.astype(np.uint16)
        xv = (xb.astype(np.uint32) << 16).view(np.float32)
        codes, scales, _ = nvfp4_model("nvfp4-te", xv)
        self.run_ok("quantize", "--preset", "nvfp4-te", "--bf16", self.save("xb.npy", xb), "--values", self.p("q.npy"),
                    "--scale", self.p("s.npy"))
        np.testing.assert_array_equal(self.load("q.npy"), codes)
        x1 = self.save("x.npy", x)
        out = ["--values", self.p("q2.npy"), "--scale", self.p("s2.npy")]
        self.run_fail("quantize", "--preset", "nvfp4", x1, *out, mentions="unknown preset", outputs=["q2.npy"])
        self.run_fail("quantize", "--preset", "mx-ocp", x1, *out, mentions="--dtype is required")
        self.run_fail("quantize", "--preset", "mx-te", "--dtype", "fp4_e2m1fn", x1, *out, mentions="MXFP8")
        self.run_fail("quantize", "--preset", "nvfp4-te", "--granularity", "token", x1, *out, mentions="--granularity")
        self.run_fail("quantize", "--preset", "mx-ocp", "--dtype", "fp8_e4m3fn", "--global-scale", self.p("g.npy"),
                      x1, *out, mentions="--global-scale")
        self.run_fail("quantize", "--dtype", "int8", "--granularity", "token", "--tiled", x1, *out,
                      mentions="--preset only")
        self.run_fail("quantize", "--preset", "nvfp4-te", "--static-global-scale", self.save("g2.npy", f32([1, 2])),
                      x1, *out, mentions="one float32", outputs=["q2.npy", "s2.npy"])
        self.run_fail("dequantize", "--preset", "nvfp4-te", self.p("q.npy"), self.p("s.npy"), self.p("y.npy"),
                      mentions="--global-scale", outputs=["y.npy"])
        out = self.run_ok("presets").stdout
        for name in ["nvfp4-te", "nvfp4-te-2d", "nvfp4-te-pyref", "nvfp4-torchao", "nvfp4-modelopt", "nvfp4-trtllm",
                     "mx-te", "mx-torchao-floor", "mx-torchao-ceil", "mx-torchao-even", "mx-torchao-rceil", "mx-ocp"]:
            self.assertIn(name, out)


if __name__ == "__main__":
    unittest.main()
