"""lowbit matmul in every mode against references written from cann-semantics §4-5 and cli.md:
integer sums in numpy int64, low-bit float sums as exact rationals (fractions.Fraction)
rounded once to fp32, epilogues as numpy float32 operations in the spec's order."""
import itertools
import unittest
from fractions import Fraction

import numpy as np

from lowbit_cli import CliCase, decode_table, f32


def hif8_value(c):
    """HiFloat8 code -> value, spec §1.4 (written independently of the C++ decoder)."""
    if c == 0x80:
        return float("nan")
    s = -1.0 if c & 0x80 else 1.0
    r = c & 0x7F
    if r == 0x6F:
        return s * float("inf")
    if r == 0:
        return 0.0
    for d, plen, prefix, mb in [(4, 2, 0b11, 1), (3, 2, 0b10, 2), (2, 2, 0b01, 3), (1, 3, 0b001, 3), (0, 4, 0b0001, 3)]:
        if r >> (7 - plen) == prefix:
            m = r & ((1 << mb) - 1)
            ef = (r >> mb) & ((1 << d) - 1)
            e = 0
            if d:
                mag = (1 << (d - 1)) + (ef & ((1 << (d - 1)) - 1))
                e = -mag if ef >> (d - 1) else mag
            return s * (1 + m / (1 << mb)) * 2.0 ** e
    return s * 2.0 ** ((r & 7) - 23)


def values(codes, fmt):
    if fmt in ("int8", "int4"):
        return codes.astype(np.float64)
    if fmt == "hifloat8":
        return np.vectorize(hif8_value)(codes.astype(np.int64))
    return decode_table(fmt).astype(np.float64)[codes]


def random_codes(rng, shape, fmt):
    if fmt == "int8":
        return rng.integers(-128, 128, shape).astype(np.int8)
    if fmt == "int4":
        return rng.integers(-8, 8, shape).astype(np.int8)
    nbits = {"fp4_e2m1fn": 4, "fp4_e1m2fn": 4, "fp6_e2m3fn": 6, "fp6_e3m2fn": 6}.get(fmt, 8)
    c = rng.integers(0, 1 << nbits, shape).astype(np.uint8)
    v = values(c, fmt)
    return np.where(np.isfinite(v), c, 0).astype(np.uint8)


def to_f32(fr):
    """Exact rational -> nearest fp32, ties to even (no double rounding)."""
    if fr == 0:
        return np.float32(0)
    sign, a = (-1, -fr) if fr < 0 else (1, fr)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    e = max(e, -126)
    q = a / Fraction(2) ** (e - 23)
    n = q.numerator // q.denominator
    rem = q - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2):
        n += 1
    if e > 127 or (e == 127 and n >= 1 << 24):
        return np.float32(sign * np.inf)
    return np.float32(sign * n * 2.0 ** (e - 23))


def exact_block(v1, v2, m, n, k0, k1, scale_exp=0):
    s = sum((Fraction(float(v1[m, k])) * Fraction(float(v2[k, n])) for k in range(k0, k1)), Fraction(0))
    return to_f32(s * Fraction(2) ** scale_exp)


def bf16_round(x):
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(x):
    return (bf16_round(x).astype(np.uint32) << 16).view(np.float32)


def trunc19(x):
    return (np.asarray(x, np.float32).view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


def pack(scale, offset=0.0):
    o = int(np.clip(np.rint(offset), -256, 255)) & 0x1FF
    return np.uint64((1 << 46) | (o << 37) | int(np.float32(scale).view(np.uint32) & 0xFFFFE000))


class Matmul(CliCase):
    def mm(self, mode, x1, x2, d1, d2, *extra, **files):
        args = ["matmul", "--mode", mode, "--x1", self.save("x1.npy", x1), "--x2", self.save("x2.npy", x2),
                "--x1-dtype", d1, "--x2-dtype", d2, "--out", self.p("y.npy"), *extra]
        for k, v in files.items():
            args += ["--" + k.replace("_", "-"), self.save(k + ".npy", v)]
        self.run_ok(*args)
        return self.load("y.npy")

    def test_int32_and_overflow(self):
        rng = np.random.default_rng(1)
        a, b = random_codes(rng, (5, 77), "int8"), random_codes(rng, (77, 6), "int8")
        bias = rng.integers(-1000, 1000, 6).astype(np.int32)
        y = self.mm("int32", a, b, "int8", "int8", bias=bias)
        self.assertEqual(y.dtype, np.int32)
        np.testing.assert_array_equal(y, a.astype(np.int64) @ b.astype(np.int64) + bias)
        k = 131073
        big = np.full((1, k), -128, np.int8)
        self.run_fail("matmul", "--mode", "int32", "--x1", self.save("a.npy", big), "--x2", self.save("b.npy", big.T.copy()),
                      "--x1-dtype", "int8", "--x2-dtype", "int8", "--out", self.p("o.npy"), mentions="does not fit int32",
                      outputs=["o.npy"])

    def test_tc_int8_rules(self):
        rng = np.random.default_rng(2)
        a, b = random_codes(rng, (4, 50), "int8"), random_codes(rng, (50, 7), "int8")
        acc = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32)
        sc = (rng.random(7) * 0.01).astype(np.float32)
        fb = rng.standard_normal(7).astype(np.float32)
        y = self.mm("T-C", a, b, "int8", "int8", x2_scale=sc, bias=fb)
        np.testing.assert_array_equal(y, acc * sc + fb)
        st = f32([0.0123456789])
        y = self.mm("T-T", a, b, "int8", "int8", x2_scale=st)  # fixpipe: truncated to 19 bits
        np.testing.assert_array_equal(y, acc * trunc19(st)[0])
        x1s = f32([0.37])
        y = self.mm("T-C", a, b, "int8", "int8", x2_scale=sc, x1_scale=x1s, bias=fb)
        np.testing.assert_array_equal(y, (acc * sc) * x1s[0] + fb)
        ib = rng.integers(-500, 500, 7).astype(np.int32)
        acc_b = (a.astype(np.int64) @ b.astype(np.int64) + ib).astype(np.float32)
        packed = np.array([pack(s, o) for s, o in zip(sc, np.linspace(-300, 300, 7))], np.uint64)
        y = self.mm("T-C", a, b, "int8", "int8", "--out-dtype", "bf16", x2_scale=packed, bias=ib)
        np.testing.assert_array_equal(y, bf16_round(acc_b * trunc19(sc)))
        y = self.mm("T-C", a, b, "int8", "int8", "--out-dtype", "int8", x2_scale=packed, bias=ib)
        offs = np.clip(np.rint(np.linspace(-300, 300, 7)), -256, 255)
        t = np.clip(np.rint(np.clip(acc_b * trunc19(sc), -256, 255)), -256, 255)
        np.testing.assert_array_equal(y, np.clip(t + offs, -128, 127).astype(np.int8))
        y2 = self.mm("T-C", a, b, "int8", "int8", "--out-dtype", "int8", x2_scale=sc,
                     x2_offset=np.linspace(-300, 300, 7).astype(np.float32), bias=ib)
        np.testing.assert_array_equal(y2, y)  # fp32 scale + offset are packed first (TransQuantParamV2)
        y = self.mm("T-C", a, b, "int8", "int8", "--out-dtype", "int32", x2_scale=sc)
        np.testing.assert_array_equal(y, a.astype(np.int64) @ b.astype(np.int64))  # CANN ignores scales
        common = ["matmul", "--mode", "T-C", "--x1", self.p("x1.npy"), "--x2", self.p("x2.npy"), "--x1-dtype", "int8",
                  "--x2-dtype", "int8", "--out", self.p("o.npy")]
        self.run_fail(*common, "--x2-scale", self.save("p.npy", packed), "--x2-offset", self.save("o2.npy", sc),
                      "--out-dtype", "int8", mentions="carries its own offset", outputs=["o.npy"])
        self.run_fail(*common, "--x2-scale", self.save("s.npy", sc), "--out-dtype", "int8", mentions="--x2-offset")
        self.run_fail(*common, "--x2-scale", self.save("s.npy", f32([1, 2, 3])), mentions="x2 scale has shape (3,)")

    def test_tc_fp8_double_scale_and_uint64(self):
        rng = np.random.default_rng(3)
        a, b = random_codes(rng, (3, 40), "fp8_e4m3fn"), random_codes(rng, (40, 5), "fp8_e5m2")
        va, vb = values(a, "fp8_e4m3fn"), values(b, "fp8_e5m2")
        acc = np.array([[exact_block(va, vb, m, n, 0, 40) for n in range(5)] for m in range(3)], np.float32)
        x1s, x2t = f32([0.731]), f32([0.0173])
        y = self.mm("T-T", a, b, "fp8_e4m3fn", "fp8_e5m2", x1_scale=x1s, x2_scale=x2t)
        np.testing.assert_array_equal(y, acc * trunc19(x2t * x1s)[0])  # merged, truncated
        sc = (rng.random(5) + 0.5).astype(np.float32)
        fb = rng.standard_normal(5).astype(np.float32)
        y = self.mm("T-C", a, b, "fp8_e4m3fn", "fp8_e5m2", x1_scale=x1s, x2_scale=sc, bias=fb)
        np.testing.assert_array_equal(y, (acc * sc) * x1s[0] + fb)
        packed = np.array([pack(s) for s in sc], np.uint64)
        y = self.mm("T-C", a, b, "fp8_e4m3fn", "fp8_e5m2", x2_scale=packed, bias=fb)
        np.testing.assert_array_equal(y, (acc + fb) * trunc19(sc))  # bias before scaling

    def test_kc_every_family(self):
        rng = np.random.default_rng(4)
        for d1, d2 in [("int8", "int4"), ("int4", "int4"), ("fp8_e5m2", "fp8_e4m3fn"), ("hifloat8", "hifloat8")]:
            m, k, n = 3, 66, 4
            a, b = random_codes(rng, (m, k), d1), random_codes(rng, (k, n), d2)
            x1s, x2s = (rng.random(m) + 0.1).astype(np.float32), (rng.random(n) + 0.1).astype(np.float32)
            fb = rng.standard_normal(n).astype(np.float32)
            va, vb = values(a, d1), values(b, d2)
            acc = np.array([[exact_block(va, vb, i, j, 0, k) for j in range(n)] for i in range(m)], np.float32)
            extra = ["--packed"] if d1 == "int4" else []
            x1 = a
            if d1 == "int4":  # both operands packed two per byte along their last axis
                pa = (a.astype(np.uint8) & 0xF)
                x1 = (pa[:, 0::2] | (pa[:, 1::2] << 4)).astype(np.uint8)
                pb = (b.astype(np.uint8) & 0xF)
                b = (pb[:, 0::2] | (pb[:, 1::2] << 4)).astype(np.uint8)
            y = self.mm("K-C", x1, b, d1, d2, *extra, x1_scale=x1s, x2_scale=x2s, bias=fb)
            np.testing.assert_array_equal(y, (acc * x2s) * x1s[:, None] + fb, err_msg=f"{d1} x {d2}")
            for out, conv in [("bf16", bf16_round), ("fp16", lambda v: v.astype(np.float16))]:
                yo = self.mm("K-C", x1, b, d1, d2, *extra, "--out-dtype", out, x1_scale=x1s, x2_scale=x2s, bias=fb)
                np.testing.assert_array_equal(yo, conv((acc * x2s) * x1s[:, None] + fb), err_msg=out)

    def test_half_precision_biases_where_the_spec_lists_them(self):
        """spec §4.2, §4.3, §4.6, §5: BF16 (uint16 bit patterns) and FP16 biases widen exactly to
        fp32 and are added where a float32 bias would be; elsewhere they are refused."""
        rng = np.random.default_rng(14)
        m, k, n = 3, 40, 6
        a, b = random_codes(rng, (m, k), "int8"), random_codes(rng, (k, n), "int8")
        acc = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32)
        x1s, x2s = (rng.random(m) + 0.1).astype(np.float32), (rng.random(n) * 0.01).astype(np.float32)
        b16 = bf16_round(rng.standard_normal(n) * 3)  # uint16 bf16 bits
        bv = (b16.astype(np.uint32) << 16).view(np.float32)
        h16 = (rng.standard_normal(n) * 3).astype(np.float16)
        hv = h16.astype(np.float32)
        for bias, val, extra in [(b16, bv, []), (b16, bv, ["--bf16"]), (h16, hv, [])]:
            y = self.mm("K-C", a, b, "int8", "int8", *extra, x1_scale=x1s, x2_scale=x2s, bias=bias)
            np.testing.assert_array_equal(y, (acc * x2s) * x1s[:, None] + val)
        y = self.mm("T-C", a, b, "int8", "int8", "--out-dtype", "bf16", x2_scale=x2s, bias=b16)
        np.testing.assert_array_equal(y, bf16_round(acc * x2s + bv))
        # MX pseudo-quant: e4m3 x e2m1 with an fp16 bias
        fa, fb4 = random_codes(rng, (m, 64), "fp8_e4m3fn"), random_codes(rng, (64, n), "fp4_e2m1fn")
        va, vb = values(fa, "fp8_e4m3fn"), values(fb4, "fp4_e2m1fn")
        e1, e2 = np.full((m, 2), 127, np.uint8), np.full((2, n), 127, np.uint8)
        want = np.array([[exact_block(va, vb, i, j, 0, 32) + exact_block(va, vb, i, j, 32, 64) for j in range(n)]
                         for i in range(m)], np.float32)
        y = self.mm("MX", fa, fb4, "fp8_e4m3fn", "fp4_e2m1fn", x1_scale=e1, x2_scale=e2, bias=h16)
        np.testing.assert_array_equal(y, want + hv)
        # weight-only: fp16 bias with fp16 x (int8 weight, per tensor scale 1: W' = w exactly)
        x = rng.standard_normal((m, k)).astype(np.float16)
        want = np.array([[to_f32(sum((Fraction(float(x[i, kk])) * int(b[kk, j]) for kk in range(k)), Fraction(0)))
                          for j in range(n)] for i in range(m)], np.float32) + hv
        y = self.mm("weight-only", x, b, "fp16", "int8", x2_scale=f32([1.0]), bias=h16)
        np.testing.assert_array_equal(y, want)
        common = ["matmul", "--x1", self.p("x1.npy"), "--x2", self.p("x2.npy"), "--out", self.p("o.npy")]
        self.save("x1.npy", a)
        self.save("x2.npy", b)
        self.run_fail(*common, "--mode", "G-B", "--x1-dtype", "int8", "--x2-dtype", "int8",
                      "--x1-scale", self.save("g1.npy", np.ones((m, 1), np.float32)),
                      "--x2-scale", self.save("g2.npy", np.ones((1, 1), np.float32)),
                      "--bias", self.save("h.npy", h16), mentions="float32 expected", outputs=["o.npy"])
        self.save("x1.npy", x)  # an fp16 x takes an fp16 bias, not a bf16 one
        self.run_fail(*common, "--mode", "weight-only", "--x1-dtype", "fp16", "--x2-dtype", "int8",
                      "--x2-scale", self.save("one.npy", f32([1.0])),
                      "--bias", self.save("b16.npy", b16), mentions="float16 expected", outputs=["o.npy"])

    def test_requant_broadcasts_a_per_tensor_scale_against_per_channel_offsets(self):
        """aclnnTransQuantParamV2 broadcasts scale (1,) and offset (n,) into n packed words."""
        rng = np.random.default_rng(15)
        a, b = random_codes(rng, (4, 30), "int8"), random_codes(rng, (30, 5), "int8")
        acc = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32)
        st, offs = f32([0.0071]), np.linspace(-40, 40, 5).astype(np.float32)
        y = self.mm("T-T", a, b, "int8", "int8", "--out-dtype", "int8", x2_scale=st, x2_offset=offs)
        t = np.clip(np.rint(acc * trunc19(st)[0]), -256, 255)
        np.testing.assert_array_equal(y, np.clip(t + np.rint(offs), -128, 127).astype(np.int8))
        sc = (rng.random(5) * 0.01).astype(np.float32)
        y = self.mm("T-C", a, b, "int8", "int8", "--out-dtype", "int8", x2_scale=sc, x2_offset=f32([3.0]))
        t = np.clip(np.rint(acc * trunc19(sc)), -256, 255)
        np.testing.assert_array_equal(y, np.clip(t + 3, -128, 127).astype(np.int8))

    def test_nvfp4(self):
        """NVFP4: y = fl(alpha * sum_j fl(P_j * s1 * s2)) + bias, j ascending in fp32, e4m3 scales
        per 16 along k (the block terms are exact), with a tail block and a NaN scale."""
        rng = np.random.default_rng(16)
        m, k, n = 5, 70, 6
        a, b = random_codes(rng, (m, k), "fp4_e2m1fn"), random_codes(rng, (k, n), "fp4_e2m1fn")
        va, vb = values(a, "fp4_e2m1fn"), values(b, "fp4_e2m1fn")
        nb = -(-k // 16)
        s1 = rng.integers(0x20, 0x50, (m, nb)).astype(np.uint8)
        s2 = rng.integers(0x20, 0x50, (nb, n)).astype(np.uint8)
        s1[4, 2] = 0x7F  # NaN
        e4 = decode_table("fp8_e4m3fn")
        alpha, fb = f32([0.0371]), rng.standard_normal(n).astype(np.float32)
        want = np.zeros((m, n), np.float32)
        for i in range(m):
            for j in range(n):
                tot = np.float32(0)
                for blk in range(nb):
                    p = sum((Fraction(float(va[i, kk])) * Fraction(float(vb[kk, j])) for kk in range(blk * 16, min(k, blk * 16 + 16))),
                            Fraction(0))
                    sc = float(e4[s1[i, blk]]) * float(e4[s2[blk, j]])
                    term = np.float32(np.nan) if np.isnan(sc) else to_f32(p * Fraction(sc))
                    tot = np.float32(tot + term)
                want[i, j] = np.float32(np.float32(alpha[0] * tot) + fb[j])
        y = self.mm("NVFP4", a, b, "fp4_e2m1fn", "fp4_e2m1fn", x1_scale=s1, x2_scale=s2, y_scale=alpha, bias=fb)
        np.testing.assert_array_equal(y, want)
        self.assertTrue(np.isnan(y[4]).all())
        # x1 packed two per byte, x2 given as (n, k): the same bits
        pa = (a[:, 0::2] | (a[:, 1::2] << 4)).astype(np.uint8)
        pb = np.ascontiguousarray((b.T[:, 0::2] | (b.T[:, 1::2] << 4)).astype(np.uint8))
        y1 = self.mm("NVFP4", pa, pb, "fp4_e2m1fn", "fp4_e2m1fn", "--packed", "--transpose-x2", x1_scale=s1,
                     x2_scale=s2, y_scale=alpha, bias=fb)
        np.testing.assert_array_equal(y1, y)
        self.run_fail("matmul", "--mode", "NVFP4", "--x1", self.save("x1.npy", a), "--x2", self.save("x2.npy", b),
                      "--x1-dtype", "fp4_e2m1fn", "--x2-dtype", "fp4_e2m1fn", "--x1-scale",
                      self.save("bad.npy", s1.astype(np.float32)), "--x2-scale", self.save("s2.npy", s2),
                      "--out", self.p("o.npy"), mentions="uint8 e4m3", outputs=["o.npy"])

    def test_gb_bb_blocks_with_tails(self):
        rng = np.random.default_rng(5)
        for mode, fmt, gs in [("G-B", "int8", 128), ("G-B", "fp8_e4m3fn", 32), ("B-B", "hifloat8", 16)]:
            m, k, n = 5, 300, 37
            a, b = random_codes(rng, (m, k), fmt), random_codes(rng, (k, n), fmt)
            kb, nb, mb = -(-k // gs), -(-n // gs), -(-m // gs)
            s1 = (rng.random((m, kb) if mode == "G-B" else (mb, kb)) + 0.1).astype(np.float32)
            s2 = (rng.random((kb, nb)) + 0.1).astype(np.float32)
            extra = [] if gs == 128 else ["--group-size", str(gs)]
            y = self.mm(mode, a, b, fmt, fmt, *extra, x1_scale=s1, x2_scale=s2)
            va, vb = values(a, fmt), values(b, fmt)
            want = np.zeros((m, n), np.float32)
            for i, j in itertools.product(range(m), range(n)):
                acc = np.float32(0)
                for blk in range(kb):
                    p = exact_block(va, vb, i, j, blk * gs, min(blk * gs + gs, k))
                    sj = np.float32(s1[i if mode == "G-B" else i // gs, blk] * s2[blk, j // gs])
                    acc = np.float32(acc + np.float32(p * sj))
                want[i, j] = acc
            np.testing.assert_array_equal(y, want, err_msg=mode + " " + fmt)

    def test_mx_layouts(self):
        rng = np.random.default_rng(6)
        for d1, d2 in [("fp4_e2m1fn", "fp8_e4m3fn"), ("fp6_e3m2fn", "fp6_e2m3fn")]:
            m, k, n = 3, 100, 4
            a, b = random_codes(rng, (m, k), d1), random_codes(rng, (k, n), d2)
            nb = -(-k // 32)
            e1 = rng.integers(115, 135, (m, nb)).astype(np.uint8)
            e2 = rng.integers(115, 135, (nb, n)).astype(np.uint8)
            fb = rng.standard_normal(n).astype(np.float32)
            y = self.mm("MX", a, b, d1, d2, x1_scale=e1, x2_scale=e2, bias=fb)
            va, vb = values(a, d1), values(b, d2)
            want = np.zeros((m, n), np.float32)
            for i, j in itertools.product(range(m), range(n)):
                acc = np.float32(0)
                for blk in range(nb):
                    acc = np.float32(acc + exact_block(va, vb, i, j, 32 * blk, min(32 * blk + 32, k),
                                                       int(e1[i, blk]) + int(e2[blk, j]) - 254))
                want[i, j] = np.float32(acc + fb[j])
            np.testing.assert_array_equal(y, want)
            c1 = np.pad(e1, ((0, 0), (0, nb % 2))).reshape(m, -1, 2)
            c2 = np.pad(e2, ((0, nb % 2), (0, 0))).reshape(-1, 2, n).transpose(0, 2, 1).copy()
            yc = self.mm("MX", a, b, d1, d2, "--cann-layout", x1_scale=c1, x2_scale=c2, bias=fb)
            np.testing.assert_array_equal(yc, want)

    def test_tcg(self):
        rng = np.random.default_rng(7)
        m, k, n = 3, 96, 5
        a, w = random_codes(rng, (m, k), "fp8_e4m3fn"), random_codes(rng, (k, n), "fp4_e2m1fn")
        gsv = (rng.random((k // 32, n)) * 40 + 0.1).astype(np.float32)
        ys = (rng.random(n) + 0.2).astype(np.float32)
        va, vw = values(a, "fp8_e4m3fn"), values(w, "fp4_e2m1fn")
        for kind in ["bf16", "fp16"]:
            if kind == "bf16":
                sfile, sval = bf16_round(gsv), bf16_value(gsv)
                wd = bf16_value((vw * sval[np.arange(k) // 32]).astype(np.float32))
            else:
                sfile = gsv.astype(np.float16)
                sval = sfile.astype(np.float32)
                wd = (vw * sval[np.arange(k) // 32]).astype(np.float32).astype(np.float16).astype(np.float32)
            # re-quantize to e4m3 (RNE, saturating) with the table-driven reference
            from lowbit_cli import nearest_even
            wq = values(nearest_even(wd.astype(np.float64), "fp8_e4m3fn"), "fp8_e4m3fn")
            want = np.array([[exact_block(va, wq, i, j, 0, k) for j in range(n)] for i in range(m)], np.float32) * trunc19(ys)
            y = self.mm("T-CG", a, w, "fp8_e4m3fn", "fp4_e2m1fn", x2_scale=sfile, y_scale=ys)
            np.testing.assert_array_equal(y, want, err_msg=kind)
            y = self.mm("T-CG", a, w, "fp8_e4m3fn", "fp4_e2m1fn", x2_scale=sfile,
                        y_scale=np.array([pack(v) for v in ys], np.uint64))
            np.testing.assert_array_equal(y, want, err_msg=kind + " uint64")

    def test_kg(self):
        rng = np.random.default_rng(8)
        m, k, n = 4, 600, 6
        a, b = random_codes(rng, (m, k), "int8"), random_codes(rng, (k, n), "int4")
        g = -(-k // 256)
        s1 = (rng.random(m) + 0.1).astype(np.float32)
        s2 = (rng.random((g, n)) * 0.01).astype(np.float32)
        fb = rng.standard_normal(n).astype(np.float32)
        y = self.mm("K-G", a, b, "int8", "int4", x1_scale=s1, x2_scale=s2, bias=fb)
        a64, b64 = a.astype(np.int64), b.astype(np.int64)
        want = np.zeros((m, n), np.float32)
        for i, j in itertools.product(range(m), range(n)):
            acc = np.float32(0)
            for gi in range(g):
                p = np.float32(a64[i, gi * 256:(gi + 1) * 256] @ b64[gi * 256:(gi + 1) * 256, j])
                acc = np.float32(acc + np.float32(p * s2[gi, j]))
            want[i, j] = np.float32(np.float32(s1[i] * acc) + fb[j])
        np.testing.assert_array_equal(y, want)

    def test_weight_only(self):
        rng = np.random.default_rng(9)
        m, k, n = 3, 70, 5
        x = rng.standard_normal((m, k)).astype(np.float32)
        fb = rng.standard_normal(n).astype(np.float32)

        def expected(xv, wv, sc, off, inter, bias):
            """spec §5: every intermediate rounded to x's dtype; sum exact, rounded once."""
            W = inter(wv)
            if off is not None:
                W = inter(W + inter(off))
            W = inter(W * inter(sc))
            acc = np.array([[to_f32(sum((Fraction(float(xv[i, kk])) * Fraction(float(W[kk, j])) for kk in range(k)),
                                        Fraction(0))) for j in range(n)] for i in range(m)], np.float32)
            return acc + bias

        # bf16 x, int4 weights per group of 32 with offsets
        w4 = random_codes(rng, (k, n), "int4")
        g = -(-k // 32)
        sc = (rng.random((g, n)) * 0.1).astype(np.float32)
        off = rng.standard_normal((g, n)).astype(np.float32)
        xb = bf16_round(x)
        rows = np.arange(k) // 32
        want = bf16_value(expected(bf16_value(x), w4.astype(np.float32), sc[rows], off[rows], bf16_value, fb))
        y = self.mm("weight-only", xb, w4, "bf16", "int4", "--bf16", "--group-size", "32", x2_scale=sc, x2_offset=off, bias=fb)
        np.testing.assert_array_equal(y, want)
        # fp16 x, int8 per channel, transposed x2
        w8 = random_codes(rng, (k, n), "int8")
        sc8 = (rng.random(n) * 0.1).astype(np.float32)
        h = lambda v: np.asarray(v, np.float32).astype(np.float16).astype(np.float32)
        want = expected(h(x), w8.astype(np.float32), sc8[None, :], None, h, fb)
        y = self.mm("weight-only", x.astype(np.float16), w8.T.copy(), "fp16", "int8", "--transpose-x2", x2_scale=sc8, bias=fb)
        np.testing.assert_array_equal(y, want)
        # fp32 x, fp8 per tensor
        w8f = random_codes(rng, (k, n), "fp8_e4m3fn")
        want = expected(x, values(w8f, "fp8_e4m3fn").astype(np.float32), f32([0.5]), None, lambda v: np.asarray(v, np.float32), 0)
        y = self.mm("weight-only", x, w8f, "fp32", "fp8_e4m3fn", x2_scale=f32([0.5]))
        np.testing.assert_array_equal(y, want)
        # bf16 x, fp4 MX (e8m0 scales)
        w4f = random_codes(rng, (k, n), "fp4_e2m1fn")
        e = rng.integers(120, 130, (g, n)).astype(np.uint8)
        ev = (2.0 ** (e.astype(np.float64) - 127)).astype(np.float32)
        want = bf16_value(expected(bf16_value(x), values(w4f, "fp4_e2m1fn").astype(np.float32), ev[rows], None, bf16_value, 0))
        y = self.mm("weight-only", xb, w4f, "bf16", "fp4_e2m1fn", "--bf16", x2_scale=e)
        np.testing.assert_array_equal(y, want)

    def test_errors(self):
        rng = np.random.default_rng(10)
        a, b = random_codes(rng, (2, 8), "int8"), random_codes(rng, (9, 3), "int8")
        base = ["matmul", "--x1", self.save("a.npy", a), "--x2", self.save("b.npy", b), "--out", self.p("o.npy")]
        self.run_fail(*base, "--mode", "int32", "--x1-dtype", "int8", "--x2-dtype", "int8", mentions="k differs", outputs=["o.npy"])
        self.save("b.npy", random_codes(rng, (8, 3), "int8"))
        self.run_fail(*base, "--mode", "B-B", "--x1-dtype", "int8", "--x2-dtype", "int8", mentions="B-B takes")
        self.run_fail(*base, "--mode", "T-C", "--x1-dtype", "int8", "--x2-dtype", "fp8_e4m3fn", mentions="T-C/T-T takes")
        self.run_fail(*base, "--mode", "K-C", "--x1-dtype", "int8", "--x2-dtype", "int8", "--x2-scale",
                      self.save("s.npy", f32([1, 1, 1])), mentions="--x1-scale is required")
        self.run_fail(*base, "--mode", "K-C", "--x1-dtype", "int8", "--x2-dtype", "int8", "--x1-scale",
                      self.save("s1.npy", f32([1, 1, 1])), "--x2-scale", self.p("s.npy"), mentions="x1 scale")
        self.run_fail(*base, "--mode", "T-C", "--x1-dtype", "int8", "--x2-dtype", "int8", "--x2-scale", self.p("s.npy"),
                      "--group-size", "64", mentions="--group-size")
        self.run_fail(*base, "--mode", "XYZ", "--x1-dtype", "int8", "--x2-dtype", "int8", mentions="unknown mode")
        self.run_fail(*base, "--mode", "K-C", "--x1-dtype", "int8", "--x2-dtype", "int8", "--x1-scale",
                      self.save("s2.npy", f32([1, 1])), "--x2-scale", self.p("s.npy"), "--out-dtype", "int8",
                      mentions="--out-dtype int8")
        self.run_fail(*base, "--mode", "int32", "--x1-dtype", "int8", "--x2-dtype", "int8", "--bias",
                      self.save("fb.npy", f32([1, 2, 3])), mentions="bias")


if __name__ == "__main__":
    unittest.main()
