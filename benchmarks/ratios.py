#!/usr/bin/env python3
"""Runs lowbit_bench with 1 and 2 threads (or reads JSON files) and prints, per benchmark
pair, lowbit's time, the peer's, and the ratio peer_time / lowbit_time (> 1: lowbit faster).

  benchmarks/ratios.py build/benchmarks/lowbit_bench           # runs it (about 8 minutes)
  benchmarks/ratios.py --json run1.json [run2.json ...]        # tables from saved runs
"""
import json
import os
import subprocess
import sys

# lowbit benchmark -> the peer it is compared with (same run), issue 11's table
Q = "quantize/int8/token/4096x4096/onednn"
BF16 = "matmul/bf16/128x4096x4096/onednn"
PEERS = {
    "quantize/int8/token/4096x4096/lowbit": Q,
    "quantize/int8/group128/4096x4096/lowbit": Q,
    "quantize/fp8_e4m3fn/block128/4096x4096/lowbit": Q,
    "quantize/mxfp4/4096x4096/lowbit": Q,
    "quantize/mxfp8/4096x4096/lowbit": Q,
    "quantize/int4/group128-packed/4096x4096/lowbit": Q,
    "quantize/int8/token-asym/4096x4096/lowbit": Q,
    "quantize/int8/token-smooth/4096x4096/lowbit": Q,
    "quantize/int8/token/4096x4096-bf16/lowbit": Q,
    "dequantize/int8/channel/4096x4096/lowbit": "dequantize/int8/channel/4096x4096/onednn",
    "dequantize/fp8_e4m3fn/block128/4096x4096/lowbit": "dequantize/int8/channel/4096x4096/onednn",
    "dequantize/mxfp4/4096x4096/lowbit": "dequantize/int8/channel/4096x4096/onednn",
    "matmul/int8/K-C/1x4096x4096/lowbit": "matmul/int8/K-C/1x4096x4096/onednn",
    "matmul/int8/K-C/16x4096x4096/lowbit": "matmul/int8/K-C/16x4096x4096/onednn",
    "matmul/int8/K-C/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/onednn",
    "matmul/int8/K-C/1024x4096x4096/lowbit": "matmul/int8/K-C/1024x4096x4096/onednn",
    # the other integer modes and the bf16 output against lowbit's own K-C on the same product
    "matmul/int8/K-C/128x4096x4096-bf16out/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/T-C/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/T-C-requant/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/G-B/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/int8/K-G/128x4096x4096/lowbit": "matmul/int8/K-C/128x4096x4096/lowbit",
    "matmul/mxfp4/MX/128x4096x4096/lowbit-exact": BF16,
    "matmul/mxfp6_e2m3/MX/128x4096x4096/lowbit-exact": BF16,
    "matmul/fp8/G-B/128x4096x4096/lowbit-exact": BF16,
    "matmul/fp8/B-B/128x4096x4096/lowbit-exact": BF16,
    "matmul/mxfp8/MX/128x4096x4096/lowbit-exact": BF16,
    "matmul/fp8xfp4/T-CG/128x4096x4096/lowbit-exact": BF16,
    "matmul/fp8_e5m2/G-B/128x4096x4096/lowbit-exact": BF16,
    "matmul/hifloat8/G-B/128x4096x4096/lowbit-exact": BF16,
    "matmul/fp8_e5m2/G-B/128x4096x4096/lowbit-exact-uniform-codes": BF16,
    "matmul/int4/weight-only/128x4096x4096/lowbit-exact": BF16,
    "matmul/fp8/G-B/128x4096x4096/lowbit": BF16,
    "matmul/mxfp8/MX/128x4096x4096/lowbit": BF16,
    "matmul/mxfp4/MX/128x4096x4096/lowbit": BF16,
    "gemv/int4/weight-only/1x4096x4096/lowbit": "gemv/int8/1x4096x4096/onednn",
}
COPY = "copy/4096x4096-fp32/memcpy"
# VNNI int8 instruction peak per core: the anchors' 469 GOP/s (shared/anchors, a Zen 4 host), or
# LOWBIT_PEAK_GOPS for another host (a Zen 5 host, two 512-bit vpdpbusd per cycle at 3.4 GHz: 870e9)
PEAK_GOPS = float(os.environ.get("LOWBIT_PEAK_GOPS", "469e9"))


def load(path):
    """Each benchmark's median over its repetitions (a run with --benchmark_repetitions), else its
    one measurement."""
    with open(path) as f:
        data = json.load(f)
    ctx = data.get("context", {})
    out = {b["name"]: b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median":
            out[b["run_name"]] = b
    return ctx, out


def rate(b):
    if "bytes_per_second" in b:
        return f"{b['bytes_per_second'] / 1e9:.1f} GB/s"
    if "ops" in b:
        return f"{b['ops'] / 1e9:.0f} GOP/s"
    return ""


def limit(b, res, threads):
    """Quantize / dequantize: fraction of the streaming copy's bytes/s; matmul: of the int8 peak."""
    if "bytes_per_second" in b and COPY in res and "gemv" not in b["name"]:
        return f"{b['bytes_per_second'] / res[COPY]['bytes_per_second']:.0%} of copy"
    if "ops" in b:
        return f"{b['ops'] / (PEAK_GOPS * threads):.1%} of peak"
    return ""


def table(ctx, res, threads):
    threads = int(threads)
    print(f"\n### {threads} thread{'s' if threads > 1 else ''}\n")
    if COPY in res:
        print(f"Streaming copy (memcpy of 64 MiB, read + write): {res[COPY]['bytes_per_second'] / 1e9:.1f} GB/s; "
              f"int8 peak {PEAK_GOPS * threads / 1e9:.0f} GOP/s.\n")
    print("| benchmark | lowbit ms | lowbit rate | of the limit | peer | peer ms | ratio (peer / lowbit time) |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for ours, peer in PEERS.items():
        if ours not in res or peer not in res:
            continue
        a, b = res[ours], res[peer]
        ta, tb = a["real_time"], b["real_time"]  # ms (benchmarks use kMillisecond)
        print(f"| {ours} | {ta:.2f} | {rate(a)} | {limit(a, res, threads)} | {peer.rsplit('/', 1)[0]} | {tb:.2f} "
              f"| {tb / ta:.2f}x |")
    extra = [n for n in res if "allocs_per_call" in res[n]]
    if extra:
        print("\n| engine benchmark | time | allocations per call |")
        print("|---|---:|---:|")
        for n in extra:
            b = res[n]
            print(f"| {n} | {b['real_time']:.3g} {b['time_unit']} | {b['allocs_per_call']:.0f} |")
    packed = [n for n in res if "packed_bytes" in res[n]]
    if packed:
        print("\n| packed weights | packed MB | stored MB | packed / stored |")
        print("|---|---:|---:|---:|")
        for n in packed:
            p, st = res[n]["packed_bytes"], res[n]["stored_bytes"]
            print(f"| {n} | {p / 1e6:.1f} | {st / 1e6:.1f} | {p / st:.2f}x |")


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
        # no OMP_PROC_BIND: a bound main thread would pass its one-core mask to the engine pool's
        # worker threads (the engine benchmarks)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        # three repetitions of each benchmark in a random order, the median of each: the host's
        # memory bandwidth drifts by up to 2x within minutes, and a benchmark timed right after
        # its peer saw a different machine
        # (a warm-up first: scratch and outputs allocated by a library are touched before timing)
        subprocess.run([binary, "--benchmark_min_time=0.2", "--benchmark_min_warmup_time=0.05",
                        "--benchmark_repetitions=3",
                        "--benchmark_enable_random_interleaving=true", "--benchmark_report_aggregates_only=true",
                        f"--benchmark_out={out}", "--benchmark_out_format=json",
                        f"--benchmark_context=lowbit_threads={threads}"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        ctx, res = load(out)
        table(ctx, res, threads)


if __name__ == "__main__":
    main()
