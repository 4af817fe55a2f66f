"""Time and peak memory of attention as the sequence length T grows: our step-by-step
teaching path (which builds the (H, T, T) weights) against PyTorch's fused
F.scaled_dot_product_attention (which never holds them whole). Chapter 04 plots a
small version of this table.

    python benchmarks/attention_scaling.py                    # T = 64 .. 8192, CPU
    python benchmarks/attention_scaling.py --max-T 2048 --device cuda
    python benchmarks/attention_scaling.py --threads 1   # steadier on a busy machine

Memory is the peak of PyTorch's allocator during one call (on the CPU replayed from
torch.profiler's allocation events; see course_lib/profiling.py). Prints a table, the
log-log slopes over the largest lengths, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch

from course_lib.profiling import attention_scaling, loglog_slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-T", type=int, default=64)
    parser.add_argument("--max-T", type=int, default=8192)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    lengths = []
    T = args.min_T
    while T <= args.max_T:
        lengths.append(T)
        T *= 2
    rows = attention_scaling(
        lengths, args.heads, args.head_dim, repeat=args.repeat, device=args.device
    )
    print(
        f"self-attention, B=1, H={args.heads}, D={args.head_dim}, float32, "
        f"{args.device}, {torch.get_num_threads()} threads, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'T':>6} {'path':>9} {'ms/call':>10} {'peak MiB':>10} {'(H,T,T) MiB':>12}")
    for r in rows:
        print(
            f"{r['T']:>6} {r['path']:>9} {r['seconds'] * 1e3:>10.2f} "
            f"{r['peak_bytes'] / 2**20:>10.2f} {r['weights_bytes'] / 2**20:>12.2f}"
        )
    slopes = {}
    for path in ("teaching", "fused"):
        big = [r for r in rows if r["path"] == path][-4:]  # the largest lengths
        for key in ("seconds", "peak_bytes"):
            slope = loglog_slope([r["T"] for r in big], [r[key] for r in big])
            slopes[f"{path}_{key}_slope"] = round(slope, 2)
    print("log-log slopes over the four largest T (2 = O(T²), 1 = O(T)):", slopes)
    summary = dict(
        benchmark="attention_scaling",
        device=args.device,
        cpu=platform.processor() or platform.machine(),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        heads=args.heads,
        head_dim=args.head_dim,
        rows=rows,
        **slopes,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
