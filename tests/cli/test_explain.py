"""lowbit compare --explain: each suspect planted alone into a golden that lowbit computes must be
the top-ranked cause, with the count of mismatches it explains; random noise must be
"unexplained"; --svg must be well-formed and light the cells of a known pattern."""
import json
import unittest
import xml.etree.ElementTree as ET

import numpy as np

from lowbit_cli import CliCase, f32


def bf16_bits(x):
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


class Explain(CliCase):
    def explain(self, e, a, *extra):
        r = self.run_ok("compare", self.save("e.npy", e), self.save("a.npy", a), "--explain", "--json", *extra)
        return json.loads(r.stdout)

    def top(self, j, cause, count=None):
        self.assertTrue(j["causes"], j)
        first = j["causes"][0]
        self.assertEqual(first["cause"], cause, j["causes"])
        self.assertEqual(first["explained"], j["mismatches"] if count is None else count, j["causes"])
        self.assertIsInstance(first["example"], list)
        self.assertTrue(first["detail"])
        return first

    def ties_input(self):
        """int8 per-token quantize with scale exactly 1 (amax 127) and many exact ties."""
        rng = np.random.default_rng(1)
        x = (rng.integers(-120, 120, (8, 40)) + 0.5).astype(np.float32)
        x[:, 0] = 127.0
        return x

    def quantize(self, x, *flags):
        self.run_ok("quantize", "--dtype", "int8", "--granularity", "token", self.save("x.npy", x), "--values",
                    self.p("q.npy"), "--scale", self.p("s.npy"), *flags)
        return self.load("q.npy"), self.load("s.npy")

    def test_rounding_ties_and_directed(self):
        x = self.ties_input()
        q, _ = self.quantize(x)
        inp = ["--format", "int8", "--input", self.p("x.npy"), "--granularity", "token"]
        qr, _ = self.quantize(x, "--round", "round")
        j = self.explain(q, qr, *inp)
        first = self.top(j, "rounding_ties")
        self.assertIn("away from zero", first["detail"])
        self.assertGreater(j["mismatches"], 100)
        # the expected scales given (--scale): the codes are recomputed from them
        self.top(self.explain(q, qr, *inp, "--scale", self.p("s.npy")), "rounding_ties")
        qf, _ = self.quantize(x, "--round", "floor")
        self.top(self.explain(q, qf, *inp), "rounding_directed")
        # without the input these suspects are skipped and named
        j = self.explain(q, qr, "--format", "int8")
        self.assertIn("rounding_ties", j["skipped"])
        self.assertEqual(j["causes"][0]["cause"], "off_by_one_code")

    def test_scale_reciprocal_from_the_input(self):
        # rows whose amax gives fl(amax * fl(1/127)) != fl(amax / 127), elements at half-steps
        rng = np.random.default_rng(2)
        r127 = np.float32(1) / np.float32(127)
        cands = rng.uniform(1, 100, 4000).astype(np.float32)
        amaxes = [a for a in cands if a * r127 != a / np.float32(127)][:16]
        x = np.zeros((16, 64), np.float32)
        for i, a in enumerate(amaxes):
            s1 = a * r127
            x[i] = ((rng.integers(-120, 120, 64) + 0.5) * s1).astype(np.float32)
            x[i, 32:] = (rng.uniform(-1, 1, 32) * a).astype(np.float32)  # and ordinary values
            x[i, 0] = a
        q, s = self.quantize(x)
        amax = np.abs(x).max(axis=1)
        alt = np.rint(np.clip(x / (amax / np.float32(127)).astype(np.float32)[:, None], -128, 127)).astype(np.int8)
        if (alt == q).all():
            self.skipTest("this data does not tell the two scale rules apart")
        j = self.explain(q, alt, "--format", "int8", "--input", self.p("x.npy"), "--granularity", "token")
        self.top(j, "scale_reciprocal")
        # and on the scale arrays themselves: one ulp apart
        s_alt = (amax / np.float32(127)).astype(np.float32)
        if (s_alt != s).any():
            self.top(self.explain(s, s_alt, "--scales"), "scale_reciprocal")

    def test_array_only_suspects(self):
        rng = np.random.default_rng(3)
        y = rng.standard_normal((24, 24)).astype(np.float32)
        self.top(self.explain(y, y.T.copy()), "transposed")
        self.top(self.explain(y, y * np.float32(2)), "scale_binade")
        self.top(self.explain(y, bf16_bits(y)), "dtype_misread")
        ya = y.copy()
        ya.view(np.uint32)[:] += rng.integers(0, 3, y.shape).astype(np.uint32)
        self.top(self.explain(y, ya), "accumulation_order")
        p = rng.integers(0, 256, (8, 16)).astype(np.uint8)
        swapped = ((p >> 4) | (p << 4)).astype(np.uint8)
        self.top(self.explain(p, swapped, "--packed"), "nibble_order")
        c = rng.integers(0, 0x70, (4, 16)).astype(np.uint8)
        c[0, :4] = 0x7E  # e4m3 448
        ca = c.copy()
        ca[0, :4] = 0x7F  # NaN: overflow instead of saturation
        self.top(self.explain(c, ca, "--format", "fp8_e4m3fn"), "saturation", 4)
        f = y.copy()
        f[0, :5] = np.nan
        f0 = f.copy()
        f0[0, :5] = 0
        self.top(self.explain(f, f0), "nan_policy", 5)
        z = np.zeros((4, 4), np.float32)
        self.top(self.explain(z, -z), "signed_zero", 16)
        sc = rng.integers(100, 140, (4, 6)).astype(np.uint8)  # right-operand e8m0 scales (nb, n)
        cann = sc.reshape(2, 2, 6).transpose(0, 2, 1).reshape(4, 6).copy()
        self.top(self.explain(sc, cann, "--format", "e8m0", "--scales"), "scale_layout")
        q = rng.integers(-100, 100, (8, 8)).astype(np.int8)
        q1 = q.copy()
        q1[::2] += 1
        self.top(self.explain(q, q1, "--format", "int8"), "off_by_one_code", 32)

    def test_matmul_suspects(self):
        """--matmul with the matmul's flags: a fused epilogue, and another fp32 summation order
        within its bound."""
        from fractions import Fraction
        from test_matmul import to_f32, exact_block, values, random_codes
        rng = np.random.default_rng(5)
        m, k, n = 6, 64, 10
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        x1s = (rng.random(m) * 0.01 + 0.001).astype(np.float32)
        x2s = (rng.random(n) * 0.01 + 0.001).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        files = ["--x1", self.save("x1.npy", a), "--x2", self.save("x2.npy", b), "--x1-dtype", "int8", "--x2-dtype",
                 "int8", "--x1-scale", self.save("s1.npy", x1s), "--x2-scale", self.save("s2.npy", x2s), "--bias",
                 self.save("b.npy", bias)]
        self.run_ok("matmul", "--mode", "K-C", *files, "--out", self.p("y.npy"))
        y = self.load("y.npy")
        acc = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.float32)
        t = acc * x2s  # fl(acc * x2s[n]), then one rounding of t * x1s + bias (an FMA)
        fused = np.array([[to_f32(Fraction(float(t[i, j])) * Fraction(float(x1s[i])) + Fraction(float(bias[j])))
                           for j in range(n)] for i in range(m)], np.float32)
        self.assertTrue((fused != y).any())
        j = self.explain(y, fused, "--matmul", "--mode", "K-C", *files)
        self.top(j, "fused_multiply_add")
        # fp8 G-B golden against the same products summed in float32 in another order
        fa, fb = random_codes(rng, (4, 256), "fp8_e4m3fn"), random_codes(rng, (256, 6), "fp8_e4m3fn")
        va, vb = values(fa, "fp8_e4m3fn").astype(np.float32), values(fb, "fp8_e4m3fn").astype(np.float32)
        golden = np.array([[exact_block(va, vb, i, jj, 0, 256) for jj in range(6)] for i in range(4)], np.float32)
        other = np.zeros((4, 6), np.float32)
        for kk in reversed(range(256)):  # descending k, one fp32 rounding per add
            other = (other + (va[:, kk:kk + 1] * vb[kk:kk + 1, :]).astype(np.float32)).astype(np.float32)
        if (other == golden).all():
            self.skipTest("the orders agree on this data")
        j = self.explain(golden, other, "--matmul", "--mode", "T-C", "--x1", self.save("fa.npy", fa), "--x2",
                         self.save("fb.npy", fb), "--x1-dtype", "fp8_e4m3fn", "--x2-dtype", "fp8_e4m3fn")
        first = self.top(j, "accumulation_order")
        self.assertIn("of its bound", first["detail"])

    def test_random_noise_has_no_known_cause(self):
        rng = np.random.default_rng(4)
        y = rng.standard_normal((32, 32)).astype(np.float32)
        noisy = (y + rng.standard_normal(y.shape).astype(np.float32) * np.float32(0.05)).astype(np.float32)
        first = self.top(self.explain(y, noisy), "unexplained")
        self.assertIn("no known cause", first["detail"])
        q = rng.integers(-128, 128, (16, 16)).astype(np.int8)
        noise = rng.integers(-128, 128, (16, 16)).astype(np.int8)
        self.assertEqual(self.explain(q, noise, "--format", "int8")["causes"][0]["cause"], "unexplained")

    def test_text_report_and_equal_arrays(self):
        y = f32(np.arange(12).reshape(3, 4))
        out = self.run_ok("compare", self.save("e.npy", y), self.save("a.npy", y * 2), "--explain").stdout
        self.assertIn("scale_binade", out)
        self.assertIn("e.g. at [0, 1]", out)  # index 0 is 0 == 0
        j = self.explain(y, y)
        self.assertEqual(j["mismatches"], 0)
        self.assertEqual(j["causes"], [])
        self.run_fail("compare", self.p("e.npy"), self.p("a.npy"), "--svg", self.p("m.svg"), mentions="--explain")

    def test_svg_heat_map(self):
        y = np.zeros((256, 512), np.float32)
        a = y.copy()
        a[:, 130] = 1  # one column of mismatches: a per-channel pattern
        self.run_ok("compare", self.save("e.npy", y), self.save("a.npy", a), "--explain", "--svg", self.p("m.svg"),
                    "--granularity", "group:128", "--operand", "left")
        root = ET.parse(self.p("m.svg")).getroot()  # well-formed XML
        self.assertTrue(root.tag.endswith("svg"))
        ns = {"s": "http://www.w3.org/2000/svg"}
        cells = root.findall(".//s:rect[@class='cell']", ns)
        self.assertEqual({int(c.get("data-col")) for c in cells}, {130 * 64 // 512})  # one column of cells lit
        self.assertEqual(len(cells), 64)  # every row of cells
        self.assertEqual(sum(int(c.get("data-count")) for c in cells), 256)
        grid = root.findall(".//s:line[@class='grid']", ns)
        self.assertEqual(len(grid), 3)  # group 128 along 512 columns: boundaries at 128, 256, 384
        # an output that is an input is refused, nothing written
        self.run_fail("compare", self.p("e.npy"), self.p("a.npy"), "--explain", "--svg", self.p("e.npy"),
                      mentions="replace the input")


if __name__ == "__main__":
    unittest.main()
