"""Helpers for tests that run the `lowbit` binary (cli.md): a temp dir per test, run(),
and numpy references that are written from the spec, independently of the C++ code."""
import csv
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

LOWBIT = os.environ.get("LOWBIT", "lowbit")
GOLDEN = os.environ.get("LOWBIT_GOLDEN_DIR", "")

# DTYPE_MAX defaults (cli.md)
DTYPE_MAX = {"int8": 127, "int4": 7, "fp8_e4m3fn": 448, "fp8_e5m2": 57344, "hifloat8": 32768,
             "fp4_e2m1fn": 6, "fp6_e2m3fn": 7.5, "fp6_e3m2fn": 28, "fp4_e1m2fn": 1.75}
INT_RANGE = {"int8": (-128, 127), "int4": (-8, 7)}
TABLE = {"fp8_e4m3fn": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2", "fp4_e2m1fn": "float4_e2m1fn",
         "fp6_e2m3fn": "float6_e2m3fn", "fp6_e3m2fn": "float6_e3m2fn", "e8m0": "float8_e8m0fnu"}


def f32(x):
    return np.asarray(x, dtype=np.float32)


class CliCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="lowbit_cli_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)

    def save(self, name, arr):
        np.save(self.p(name), arr)
        return self.p(name)

    def load(self, name):
        return np.load(self.p(name))

    def run_ok(self, *args):
        r = subprocess.run([LOWBIT, *map(str, args)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, f"lowbit {' '.join(map(str, args))}: {r.stderr}")
        return r

    def run_fail(self, *args, mentions=None, outputs=()):
        """Bad input: non-zero status, one line on stderr naming the problem, no output."""
        r = subprocess.run([LOWBIT, *map(str, args)], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0, f"expected failure: lowbit {' '.join(map(str, args))}")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        if mentions:
            self.assertIn(mentions, r.stderr)
        for o in outputs:
            self.assertFalse(os.path.exists(self.p(o)), f"{o} was written on failure")
        return r


def decode_table(fmt):
    """code -> float32 value from the ml_dtypes decode table (or the spec table for e1m2)."""
    if fmt == "fp4_e1m2fn":  # spec §1.3 table
        pos = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]
        return np.array(pos + [-v for v in pos], dtype=np.float32)
    with open(os.path.join(GOLDEN, TABLE[fmt] + "_decode.csv")) as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["out_f32"], 16) for r in rows], dtype=np.uint32).view(np.float32)


def nearest_even(values, fmt, sat=True):
    """Round float64 values to codes of fmt, ties to the even code, saturating (spec §1.6).
    A straightforward search over the decoded values: independent of the C++ codecs."""
    table = decode_table(fmt).astype(np.float64)
    nbits = {"fp4_e2m1fn": 4, "fp4_e1m2fn": 4, "fp6_e2m3fn": 6, "fp6_e3m2fn": 6}.get(fmt, 8)
    sign = 1 << (nbits - 1)
    mags = [(table[c], c) for c in range(sign) if np.isfinite(table[c])]
    mags.sort()
    mv = np.array([m for m, _ in mags])
    mc = np.array([c for _, c in mags])
    out = np.zeros(values.shape, dtype=np.uint8)
    for i, x in np.ndenumerate(values):
        if np.isnan(x):
            out[i] = 0
            continue
        a = abs(x)
        j = np.searchsorted(mv, a, side="right") - 1
        if j == len(mv) - 1:
            c = mc[j]  # at or above max: saturate
        else:
            lo, hi = mv[j], mv[j + 1]
            mid = (lo + hi) / 2
            c = mc[j + 1] if (a > mid or (a == mid and mc[j + 1] % 2 == 0)) else mc[j]
        if x < 0 or (x == 0 and np.signbit(x)):
            c |= sign
        out[i] = c
    return out


def blocks(shape, gran, side):
    """(br, bc) block extents of a granularity (cli.md table), and the public scale shape."""
    m, n = shape
    left = side == "left"
    if gran == "tensor":
        return (m, n), (1,)
    if gran == "channel":
        return (m, 1), (n,)
    if gran == "token":
        return (1, n), (m,)
    kind, _, arg = gran.partition(":")
    if kind == "group":
        gs = int(arg)
        br, bc = (1, gs) if left else (gs, 1)
    elif kind == "mx":
        br, bc = (1, 32) if left else (32, 1)
    else:
        a = [int(t) for t in arg.split(",")]
        br, bc = (a[0], a[0]) if len(a) == 1 else a
    return (br, bc), (-(-m // br), -(-n // bc))


def block_index(shape, br, bc):
    m, n = shape
    gc = -(-n // bc)
    r = np.arange(m)[:, None] // br
    c = np.arange(n)[None, :] // bc
    return r * gc + c
