#!/usr/bin/env python3
"""Runs lowbit_bench with 1 and 2 threads (or reads JSON files) and prints, per benchmark
pair, lowbit's time, the peer's, and the ratio peer_time / lowbit_time (> 1: lowbit faster).

  benchmarks/ratios.py build/benchmarks/lowbit_bench           # runs it (about 3 minutes)
  benchmarks/ratios.py --json run1.json [run2.json ...]        # tables from saved runs
"""
import json
import os
import subprocess
import sys

# lowbit benchmark -> the peer it is compared with (same run)
PEERS = {
    "quantize/int8/token/4096x4096/lowbit": "quantize/int8/token/4096x4096/onednn",
    "quantize/fp8_e4m3fn/block128/4096x4096/lowbit": "quantize/int8/token/4096x4096/onednn",
    "quantize/int8/group128/4096x4096/lowbit": "quantize/int8/token/4096x4096/onednn",
    "quantize/mxfp4/4096x4096/lowbit": "quantize/int8/token/4096x4096/onednn",
    "dequantize/int8/channel/4096x4096/lowbit": "dequantize/int8/channel/4096x4096/onednn",
    "matmul/int8/K-C/1x4096x4096/lowbit": "matmul/int8/K-C/1x4096x4096/onednn",
    "matmul/int8/K-C/16x4096x4096/lowbit": "matmul/int8/K-C/16x4096x4096/onednn",
    "matmul/int8/K-C/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/onednn",
    "matmul/int8/K-C/1024x4096x4096/lowbit": "matmul/int8/K-C/1024x4096x4096/onednn",
    # the other integer modes against lowbit's own K-C on the same product (goal >= 0.9x)
    "matmul/int8/T-C/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/T-C-requant/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/G-B/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/K-G/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/fp8/G-B/128x4096x4096/lowbit": "matmul/bf16/128x4096x4096/onednn",
    "matmul/mxfp8/MX/128x4096x4096/lowbit": "matmul/bf16/128x4096x4096/onednn",
    "matmul/mxfp4/MX/128x4096x4096/lowbit": "matmul/bf16/128x4096x4096/onednn",
    "gemv/int4/weight-only/1x4096x4096/lowbit": "gemv/int8/1x4096x4096/onednn",
}


def load(path):
    with open(path) as f:
        data = json.load(f)
    ctx = data.get("context", {})
    out = {b["name"]: b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"}
    return ctx, out


def rate(b):
    if "bytes_per_second" in b:
        return f"{b['bytes_per_second'] / 1e9:.1f} GB/s"
    if "ops" in b:
        return f"{b['ops'] / 1e9:.0f} GOP/s"
    return ""


def table(ctx, res, threads):
    print(f"\n### {threads} thread{'s' if threads > 1 else ''}\n")
    print("| benchmark | lowbit ms | lowbit rate | peer | peer ms | peer rate | ratio (peer / lowbit time) |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for ours, peer in PEERS.items():
        if ours not in res or peer not in res:
            continue
        a, b = res[ours], res[peer]
        ta, tb = a["real_time"], b["real_time"]  # ms (benchmarks use kMillisecond)
        print(f"| {ours} | {ta:.2f} | {rate(a)} | {peer.rsplit('/', 1)[0]} | {tb:.2f} | {rate(b)} | {tb / ta:.2f}x |")


def main():
    args = sys.argv[1:]
    if args and args[0] == "--json":
        for p in args[1:]:
            ctx, res = load(p)
            table(ctx, res, ctx.get("lowbit_threads", "?"))
        return
    binary = args[0] if args else "build/benchmarks/lowbit_bench"
    for threads in (1, 2):
        out = f"bench-{threads}t.json"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="close", OMP_PLACES="cores")
        subprocess.run([binary, "--benchmark_min_time=0.5", f"--benchmark_out={out}", "--benchmark_out_format=json",
                        f"--benchmark_context=lowbit_threads={threads}"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        ctx, res = load(out)
        table(ctx, res, threads)


if __name__ == "__main__":
    main()
