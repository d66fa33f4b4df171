"""lowbit help and --help (issue: papercuts): the accepted values and defaults are listed, the
tables print, and no text sends an installed tool's user to a README it does not have."""
import os
import pty
import re
import subprocess
import unittest

import numpy as np

from lowbit_cli import LOWBIT, CliCase, DTYPE_MAX

COMMANDS = ["convert", "decode", "quantize", "dequantize", "matmul", "compare", "demo"]


class Help(CliCase):
    def test_every_command_help_lists_values_and_never_a_readme(self):
        for cmd in COMMANDS:
            out = self.run_ok(cmd, "--help").stdout
            self.assertEqual(out, self.run_ok("help", cmd).stdout, cmd)
            self.assertNotIn("README", out, cmd)
            if cmd in ("convert", "quantize"):
                for value in ["rint", "round", "floor", "ceil", "trunc", "saturate", "propagate", "zero",
                              "keep", "default rint", "hifloat8: round", "default saturate", "default zero"]:
                    self.assertIn(value, out, f"{cmd}: {value}")
            if cmd in ("convert", "decode", "quantize", "dequantize", "matmul", "compare"):
                for fmt in DTYPE_MAX:
                    self.assertIn(fmt, out, f"{cmd}: {fmt}")
            if cmd in ("quantize", "dequantize"):
                for g in ["tensor", "token", "channel", "group:GS", "block:B", "mx"]:
                    self.assertIn(g, out, f"{cmd}: {g}")

    def test_format_table(self):
        out = self.run_ok("help", "formats").stdout
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line and line.split()[0] in
                ["int8", "int4", "fp8_e4m3fn", "fp8_e5m2", "hifloat8", "fp6_e2m3fn", "fp6_e3m2fn", "fp4_e2m1fn",
                 "fp4_e1m2fn", "e8m0", "bf16", "fp16", "fp32"]}
        self.assertEqual(len(rows), 13)
        for fmt, dmax in DTYPE_MAX.items():  # cli.md's DTYPE_MAX defaults
            self.assertEqual(float(rows[fmt][5]), dmax, fmt)
        self.assertEqual(rows["fp8_e4m3fn"][1:5], ["8", "448", "no", "yes"])
        self.assertEqual(rows["fp8_e5m2"][3:5], ["yes", "yes"])
        self.assertEqual(rows["fp4_e2m1fn"][1:5], ["4", "6", "no", "no"])
        self.assertEqual(rows["hifloat8"][6], "round")
        self.assertEqual(rows["int8"][6], "rint")

    def test_mode_table(self):
        out = self.run_ok("help", "modes").stdout
        for mode in ["T-C / T-T", "K-C / K-T", "G-B", "B-B", "MX", "T-CG", "K-G", "weight-only", "int32", "NVFP4"]:
            self.assertRegex(out, re.compile("^" + re.escape(mode) + "$", re.M))
        blocks = {b.splitlines()[0]: b for b in out.split("\n\n")[1:]}
        self.assertIn("--group-size, default 128", blocks["G-B"])
        self.assertIn("--group-size, default 256", blocks["K-G"])
        self.assertIn("fixed at 32", blocks["MX"])
        self.assertIn("fixed at 16", blocks["NVFP4"])
        self.assertIn("int32 (default)", blocks["int32"])
        self.assertIn("fp32 (default) bf16 fp16 int8 int32", blocks["T-C / T-T"])
        self.run_fail("help", "nothing", mentions="no help on")


class Progress(CliCase):
    def test_progress_only_on_a_terminal(self):
        """A step longer than a second shows progress on stderr when it is a terminal, never
        otherwise (a HiFloat8 matmul of 256 x 4096 x 256 on the scalar backend, the reference,
        takes more than a second)."""
        rng = np.random.default_rng(0)
        args = [LOWBIT, "matmul", "--mode", "T-C", "--x1", self.save("a.npy", rng.integers(0, 0x70, (256, 4096)).astype(np.uint8)),
                "--x2", self.save("b.npy", rng.integers(0, 0x70, (4096, 256)).astype(np.uint8)), "--x1-dtype", "hifloat8",
                "--x2-dtype", "hifloat8", "--x2-scale", self.save("s.npy", np.ones(256, np.float32)),
                "--out", self.p("y.npy")]
        env = dict(os.environ, LOWBIT_BACKEND="scalar")
        r = subprocess.run(args, capture_output=True, env=env)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr, b"")
        master, slave = pty.openpty()
        p = subprocess.Popen(args, stderr=slave, stdout=subprocess.DEVNULL, env=env)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        self.assertEqual(p.wait(), 0)
        os.close(master)
        self.assertIn(b"lowbit: matmul T-C ...", seen)
        self.assertTrue(seen.endswith(b"\r\x1b[K"), seen[-20:])  # the line is erased at the end


if __name__ == "__main__":
    unittest.main()
