"""lowbit convert / decode against the ml_dtypes tables and cli.md's rules."""
import csv
import os
import unittest

import numpy as np

from lowbit_cli import GOLDEN, TABLE, CliCase, decode_table, f32


def table_rows(fmt, kind):
    with open(os.path.join(GOLDEN, f"{TABLE[fmt]}_from_{kind}.csv")) as f:
        r = list(csv.reader(f))[1:]
    return (np.array([int(a, 16) for a, _, _ in r], dtype=np.uint32),
            np.array([int(b, 16) for _, b, _ in r], dtype=np.uint8),
            np.array([int(c, 16) for _, _, c in r], dtype=np.uint8))


class Convert(CliCase):
    def test_every_f32_row_through_the_binary(self):
        for fmt in ["fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn", "fp6_e2m3fn", "fp6_e3m2fn"]:
            ins, nonsat, sat = table_rows(fmt, "f32")
            x = ins.view(np.float32)
            keep = ~np.isnan(x) & ~np.isinf(x)  # NaN/Inf policies differ on purpose (tested below)
            inp = self.save("in.npy", x.reshape(-1, 1))
            self.run_ok("convert", "--to", fmt, "--overflow", "propagate", "--nan", "keep", inp, self.p("o.npy"))
            got = self.load("o.npy").reshape(-1)
            self.assertEqual(got.dtype, np.uint8)
            np.testing.assert_array_equal(got[keep], nonsat[keep], err_msg=fmt)
            self.run_ok("convert", "--to", fmt, inp, self.p("s.npy"))  # defaults: saturate, NaN -> 0
            got = self.load("s.npy").reshape(-1)
            np.testing.assert_array_equal(got[keep], sat[keep], err_msg=fmt)
            self.assertTrue((got[np.isnan(x)] == 0).all())

    def test_bf16_input_every_pattern(self):
        ins, nonsat, sat = table_rows("fp8_e4m3fn", "bf16")
        inp = self.save("b.npy", ins.astype(np.uint16))
        self.run_ok("convert", "--to", "fp8_e4m3fn", "--bf16", "--nan", "keep", inp, self.p("o.npy"))
        x = (ins.astype(np.uint32) << 16).view(np.float32)
        fin = np.isfinite(x)
        np.testing.assert_array_equal(self.load("o.npy")[fin], sat[fin])
        self.run_fail("convert", "--to", "fp8_e4m3fn", inp, self.p("x.npy"), mentions="--bf16", outputs=["x.npy"])

    def test_float16_input(self):
        h = np.array([1.0, -2.5, 65504, 0.000061], dtype=np.float16)
        self.run_ok("convert", "--to", "fp8_e5m2", self.save("h.npy", h), self.p("o.npy"))
        self.run_ok("decode", "--from", "fp8_e5m2", self.p("o.npy"), self.p("d.npy"))
        np.testing.assert_array_equal(self.load("d.npy")[:2], f32([1.0, -2.5]))
        self.assertEqual(self.load("d.npy")[2], 57344)  # saturated

    def test_decode_every_code(self):
        for fmt in TABLE:
            n = 16 if "fp4" in fmt else 64 if "fp6" in fmt else 256
            codes = np.arange(n, dtype=np.uint8)
            self.run_ok("decode", "--from", fmt, self.save("c.npy", codes), self.p("d.npy"))
            d = self.load("d.npy")
            self.assertEqual(d.dtype, np.float32)
            want = decode_table(fmt)
            np.testing.assert_array_equal(d.view(np.uint32)[~np.isnan(want)], want.view(np.uint32)[~np.isnan(want)], err_msg=fmt)
            self.assertTrue(np.isnan(d[np.isnan(want)]).all())
        self.run_fail("decode", "--from", "fp4_e2m1fn", self.save("big.npy", np.array([16], dtype=np.uint8)), self.p("o.npy"),
                      mentions="does not fit", outputs=["o.npy"])

    def test_int_formats_and_packing(self):
        x = f32([[0.5, 1.5, -2.5, 7.6, -9, 3.2]])
        self.run_ok("convert", "--to", "int4", self.save("x.npy", x), self.p("q.npy"))
        q = self.load("q.npy")
        self.assertEqual(q.dtype, np.int8)
        np.testing.assert_array_equal(q, [[0, 2, -2, 7, -8, 3]])
        self.run_ok("convert", "--to", "int4", "--packed", self.p("x.npy"), self.p("p.npy"))
        p = self.load("p.npy")
        self.assertEqual(p.shape, (1, 3))
        np.testing.assert_array_equal(p, [[0x20, 0x7e, 0x38]])  # low nibble first
        self.run_ok("decode", "--from", "int4", "--packed", self.p("p.npy"), self.p("d.npy"))
        np.testing.assert_array_equal(self.load("d.npy"), [[0, 2, -2, 7, -8, 3]])
        self.run_ok("convert", "--to", "int8", "--round", "round", self.p("x.npy"), self.p("r.npy"))
        np.testing.assert_array_equal(self.load("r.npy"), [[1, 2, -3, 8, -9, 3]])
        odd = self.save("odd.npy", f32([[1, 2, 3]]))
        self.run_fail("convert", "--to", "fp4_e2m1fn", "--packed", odd, self.p("o.npy"), mentions="even", outputs=["o.npy"])
        self.run_fail("convert", "--to", "int8", "--packed", odd, self.p("o.npy"), mentions="4-bit", outputs=["o.npy"])

    def test_e8m0_rules(self):
        x = f32([0, 3, 1.5, 1.4999999, -4, np.inf, np.nan, 2.0 ** -130, 3e38])
        inp = self.save("x.npy", x)
        expect = {
            "rint": [0x00, 0x81, 0x80, 0x7f, 0x81, 0xfe, 0xff, 0x00, 0xfe],
            "floor": [0x00, 0x80, 0x7f, 0x7f, 0x81, 0xfe, 0xff, 0x00, 0xfe],
            "ceil": [0x00, 0x81, 0x80, 0x80, 0x81, 0xfe, 0xff, 0x00, 0xfe],
        }
        for mode, want in expect.items():
            self.run_ok("convert", "--to", "e8m0", "--round", mode, inp, self.p("o.npy"))
            np.testing.assert_array_equal(self.load("o.npy"), want, err_msg=mode)
        self.run_ok("convert", "--to", "e8m0", "--overflow", "propagate", inp, self.p("o.npy"))
        np.testing.assert_array_equal(self.load("o.npy")[[0, 5, 8]], [0xff, 0xff, 0xff])

    def test_hifloat8_default_round_and_saturation(self):
        x = f32([40960, 2.125, 0.0, -32768, 1e9])
        self.run_ok("convert", "--to", "hifloat8", self.save("x.npy", x), self.p("o.npy"))
        # 2.125 ties away to 2.25 (0x11); 40960 saturates to 32768
        np.testing.assert_array_equal(self.load("o.npy"), [0x6e, 0x11, 0x00, 0xee, 0x6e])
        self.run_ok("convert", "--to", "hifloat8", "--overflow", "propagate", self.p("x.npy"), self.p("o.npy"))
        self.assertEqual(self.load("o.npy")[0], 0x6f)
        self.run_ok("convert", "--to", "hifloat8", "--round", "rint", self.p("x.npy"), self.p("o.npy"))
        self.assertEqual(self.load("o.npy")[1], 0x10)  # 2.125 ties to the even code: 2 (0x10)

    def test_bf16_fp16_fp32_outputs(self):
        x = f32([1.0, 3.140625, -0.0])
        self.run_ok("convert", "--to", "bf16", self.save("x.npy", x), self.p("b.npy"))
        b = self.load("b.npy")
        self.assertEqual(b.dtype, np.uint16)
        np.testing.assert_array_equal(b, (x.view(np.uint32) >> 16).astype(np.uint16))
        self.run_ok("convert", "--to", "fp16", self.p("x.npy"), self.p("h.npy"))
        np.testing.assert_array_equal(self.load("h.npy"), x.astype(np.float16))
        self.run_ok("convert", "--to", "fp32", self.p("x.npy"), self.p("f.npy"))
        np.testing.assert_array_equal(self.load("f.npy"), x)

    def test_errors(self):
        x = self.save("x.npy", f32([1, 2]))
        self.run_fail("convert", "--to", "fp9", x, self.p("o.npy"), mentions="unknown format", outputs=["o.npy"])
        self.run_fail("convert", x, self.p("o.npy"), mentions="--to", outputs=["o.npy"])
        self.run_fail("convert", "--to", "int8", "--round", "nearest", x, self.p("o.npy"), mentions="--round")
        self.run_fail("convert", "--to", "int8", "--bogus", x, self.p("o.npy"), mentions="--bogus")
        self.run_fail("convert", "--to", "int8", self.p("missing.npy"), self.p("o.npy"), mentions="missing.npy")
        self.run_fail("convert", "--to", "int8", self.dir, self.p("o.npy"), mentions="not a regular file")  # fuzzer find
        with open(self.p("bad.npy"), "wb") as f:
            f.write(b"not numpy at all")
        self.run_fail("convert", "--to", "int8", self.p("bad.npy"), self.p("o.npy"), mentions="magic", outputs=["o.npy"])
        self.run_fail("convert", "--to", "int8", self.save("i.npy", np.array([1], dtype=np.int32)), self.p("o.npy"), mentions="int32")
        self.run_fail("convert", "--to", "int8", x, self.p("nodir/o.npy"), mentions="nodir")
        r = self.run_ok("convert", "--help")
        self.assertIn("usage: lowbit convert", r.stdout)


if __name__ == "__main__":
    unittest.main()
