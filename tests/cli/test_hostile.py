"""Hostile input to the `lowbit` tool (README "Bad input"): sizes that would need more memory
than the machine has, shapes whose arithmetic overflows, .npy oddities, and writes that must be
all-or-nothing. Each case must end with one line on stderr, a non-zero status and no output."""
import os
import struct
import subprocess
import unittest

import numpy as np

from lowbit_cli import LOWBIT, CliCase, f32


def raw_npy(path, descr, shape, data=b""):
    """A .npy file written by hand: the header may claim any shape (no data needed for a zero
    dimension) or hold what numpy would never write."""
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data)
    return path


class HugeSizes(CliCase):
    def test_outputs_beyond_memory_are_refused_up_front(self):
        tall = raw_npy(self.p("tall.npy"), "<f4", "(1000000000000, 0)")  # 128 bytes, 0 elements
        r = self.run_fail("quantize", tall, "--dtype", "int8", "--granularity", "token", "--operand", "left",
                          "--values", self.p("q.npy"), "--scale", self.p("s.npy"),
                          mentions="4000000000000 bytes", outputs=["q.npy", "s.npy"])
        self.assertIn("more than this machine's memory", r.stderr)
        # the same tall array per channel has n = 0 scales: an empty result, at once
        self.run_ok("quantize", tall, "--dtype", "int8", "--granularity", "channel", "--operand", "right",
                    "--values", self.p("q.npy"), "--scale", self.p("s.npy"))
        self.assertEqual(np.load(self.p("q.npy")).shape, (1000000000000, 0))
        self.assertEqual(np.load(self.p("s.npy")).shape, (0,))

        a = raw_npy(self.p("a.npy"), "|i1", "(1000000, 0)")
        b = raw_npy(self.p("b.npy"), "|i1", "(0, 1000000)")
        s = self.save("s1.npy", np.ones(1000000, np.float32))
        self.run_fail("matmul", "--mode", "int32", "--x1", a, "--x2", b, "--x1-dtype", "int8", "--x2-dtype", "int8",
                      "--out", self.p("y.npy"), mentions="(1000000, 1000000) would need 4000000000000 bytes",
                      outputs=["y.npy"])
        self.run_fail("matmul", "--mode", "K-C", "--x1", a, "--x2", b, "--x1-dtype", "int8", "--x2-dtype", "int8",
                      "--x1-scale", s, "--x2-scale", s, "--out", self.p("y.npy"), mentions="4000000000000 bytes",
                      outputs=["y.npy"])
        # (1e6, 0) x (0, 3): a small output of zeros plus the bias, at once
        b3 = raw_npy(self.p("b3.npy"), "|i1", "(0, 3)")
        bias = self.save("bias.npy", np.array([1, -2, 3], np.int32))
        self.run_ok("matmul", "--mode", "int32", "--x1", a, "--x2", b3, "--x1-dtype", "int8", "--x2-dtype", "int8",
                    "--bias", bias, "--out", self.p("y.npy"))
        y = np.load(self.p("y.npy"))
        self.assertEqual(y.shape, (1000000, 3))
        np.testing.assert_array_equal(y[[0, -1]], [[1, -2, 3], [1, -2, 3]])

    def test_shape_arithmetic_that_would_wrap(self):
        p = raw_npy(self.p("p.npy"), "|u1", "(0, 9223372036854775809)")
        self.run_fail("decode", "--from", "fp4_e2m1fn", "--packed", p, self.p("d.npy"),
                      mentions="too large to unpack", outputs=["d.npy"])
        big = str(2 ** 32)
        r = subprocess.run([LOWBIT, "demo", "--m", big, "--k", big, "--n", big], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)  # a usage error, not a crash (2^32 * 2^32 wraps to 0)
        self.assertIn("shape too large", r.stderr)


class NpyOddities(CliCase):
    def test_duplicated_keys_and_bool_arrays_are_refused(self):
        dup = raw_npy(self.p("dup.npy"), "<f4", "(2,), 'shape': (3,)", b"\0" * 24)
        self.run_fail("decode", "--from", "fp8_e4m3fn", dup, self.p("d.npy"), mentions="duplicated key 'shape'",
                      outputs=["d.npy"])
        dup2 = raw_npy(self.p("dup2.npy"), "<f4", "(2,), 'descr': '<f4'", b"\0" * 8)
        self.run_fail("decode", "--from", "fp8_e4m3fn", dup2, self.p("d.npy"), mentions="duplicated key 'descr'")
        flags = self.save("flags.npy", np.array([True, False, True]))
        self.run_fail("decode", "--from", "fp8_e4m3fn", flags, self.p("d.npy"), mentions="bool arrays",
                      outputs=["d.npy"])

    def test_messages_name_the_real_problem(self):
        os.symlink("loop_b", self.p("loop_a"))
        os.symlink("loop_a", self.p("loop_b"))
        self.run_fail("decode", "--from", "int8", self.p("loop_a"), self.p("d.npy"),
                      mentions="Too many levels of symbolic links")
        x = self.save("x.npy", f32(np.ones((4, 5))))
        self.run_fail("quantize", x, "--dtype", "int4", "--granularity", "token", "--operand", "left", "--packed",
                      "--values", self.p("q.npy"), "--scale", self.p("s.npy"),
                      mentions="x.npy: --packed needs an even last dimension", outputs=["q.npy", "s.npy"])
        bad = self.save("bad.npy", np.array([1, 2, 9, -9], np.int8))
        good = self.save("good.npy", np.array([1, 2, 3, -3], np.int8))
        self.run_fail("compare", bad, good, "--format", "int4", mentions="value 9 at index 2 is outside int4")
        self.run_ok("compare", good, good, "--format", "int4")


class AllOrNothing(CliCase):
    def test_no_output_is_replaced_when_another_cannot_be_written(self):
        x = self.save("x.npy", f32(np.arange(12).reshape(3, 4)))
        old = self.save("o.npy", np.array([7], np.int8))
        self.run_fail("quantize", x, "--dtype", "int8", "--granularity", "token", "--operand", "left",
                      "--values", old, "--scale", self.p("missing_dir/s.npy"))
        np.testing.assert_array_equal(np.load(old), [7])  # the first output was not replaced
        self.assertEqual(sorted(os.listdir(self.dir)), ["o.npy", "x.npy"])  # and no temporary is left


if __name__ == "__main__":
    unittest.main()
