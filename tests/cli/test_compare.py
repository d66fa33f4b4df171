"""lowbit compare (cli.md): every statistic against numpy formulas written from its definition,
the mismatch classes on planted differences, and the refusal to read bit patterns as integers."""
import json
import unittest

import numpy as np

from lowbit_cli import CliCase, f32


def bf16_bits(x):
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


class Compare(CliCase):
    def cmp(self, e, a, *extra):
        r = self.run_ok("compare", self.save("e.npy", e), self.save("a.npy", a), "--json", *extra)
        return json.loads(r.stdout)

    def test_statistics_of_random_arrays(self):
        rng = np.random.default_rng(21)
        e = rng.standard_normal((17, 33)).astype(np.float32)
        a = (e + rng.standard_normal(e.shape).astype(np.float32) * 0.01).astype(np.float32)
        a[0, 0] = e[0, 0]  # one equal element
        j = self.cmp(e, a)
        ed, ad = e.astype(np.float64), a.astype(np.float64)
        d = np.abs(ad - ed)
        self.assertEqual(j["count"], e.size)
        self.assertEqual(j["mismatches"], int(np.count_nonzero(ed != ad)))
        self.assertAlmostEqual(j["max_abs"], d.max(), delta=1e-9 * d.max())
        self.assertAlmostEqual(j["max_rel"], (d / np.abs(ed)).max(), delta=1e-8 * (d / np.abs(ed)).max())
        norm_rel = np.linalg.norm(ad - ed) / np.linalg.norm(ed)
        self.assertAlmostEqual(j["norm_rel"], norm_rel, delta=1e-8 * norm_rel)
        cos = (ed * ad).sum() / (np.linalg.norm(ed) * np.linalg.norm(ad))
        self.assertAlmostEqual(j["cosine"], cos, places=9)
        sqnr = 10 * np.log10((ed ** 2).sum() / ((ed - ad) ** 2).sum())
        self.assertAlmostEqual(j["sqnr_db"], sqnr, places=6)
        self.assertIsNone(j["max_ulp"])

    def test_norm_rel_is_not_dominated_by_values_near_zero(self):
        e = f32([1e-6, 100.0, -50.0, 20.0])
        a = f32([2e-6, 100.0, -50.0, 20.0])  # max_rel 1, but the vector is almost exact
        j = self.cmp(e, a)
        self.assertAlmostEqual(j["max_rel"], 1.0, places=5)
        self.assertLess(j["norm_rel"], 1e-7)
        self.assertEqual(self.cmp(e, e)["norm_rel"], 0)

    def test_classes_of_planted_mismatches(self):
        # e4m3 codes: one off by one code, one saturated, one sign flip, one NaN vs number
        e = np.array([0x30, 0x7E, 0x28, 0x20, 0x10, 0x00], np.uint8)
        a = np.array([0x31, 0x7D, 0xA8, 0x7F, 0x10, 0x80], np.uint8)
        j = self.cmp(e, a, "--format", "fp8_e4m3fn")
        self.assertEqual(j["mismatches"], 5)
        self.assertEqual(j["classes"], {"off_by_one": 1, "saturation": 1, "sign": 1, "nan_vs_number": 1,
                                        "signed_zero": 1})
        # 0x30 -> 0x31 and 0x7e -> 0x7d are one step each; the sign flip of 0.25 (0x28) is 0.5
        # away, 16 steps of 2^-5 (e4m3's spacing at 0.25)
        self.assertEqual(j["max_ulp"], 16.0)

    def test_bit_patterns_next_to_real_numbers_need_a_format(self):
        y = np.linspace(-3, 3, 12).astype(np.float32)
        yb = bf16_bits(y)
        self.run_fail("compare", self.save("y.npy", y), self.save("yb.npy", yb), mentions="--format")
        self.run_fail("compare", self.save("yb.npy", yb), self.save("y.npy", y), mentions="bf16 or fp16")
        self.run_fail("compare", self.save("c.npy", np.zeros(12, np.uint8)), self.save("y.npy", y),
                      mentions="--format")
        j = self.cmp(y, yb, "--format", "bf16")  # read as bf16: a small error, not cosine -0.36
        self.assertGreater(j["cosine"], 0.9999)
        want = (bf16_bits(y).astype(np.uint32) << 16).view(np.float32)
        self.assertEqual(j["mismatches"], int(np.count_nonzero(want != y)))
        self.cmp(np.zeros(3, np.uint8), np.ones(3, np.uint8))  # codes against codes: allowed


if __name__ == "__main__":
    unittest.main()
