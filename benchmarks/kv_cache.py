"""Generation speed with and without the KV cache (chapter 08).

Greedy decoding from a fixed prompt on a randomly initialised GPT of the course's
char-level shape, at several numbers of new tokens, both paths in the same process
(so their ratio is fair on a shared machine). Prints a table and the speed-ups; the
last line is one JSON object.

    python benchmarks/kv_cache.py [--lengths 64 256 512] [--prompt 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_lib.generation import generate
from course_lib.gpt import GPT, GPTConfig


def tokens_per_second(model, prompt, n, use_cache, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = generate(model, prompt, n, temperature=0, use_cache=use_cache)
        best = min(best, time.perf_counter() - start)
    return n / best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--prompt", type=int, default=16, help="prompt length")
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs")
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=65,
        block_size=args.prompt + max(args.lengths),
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        d_model=args.d_model,
    )
    model = GPT(config).eval()
    prompt = torch.randint(0, 65, (1, args.prompt))
    generate(model, prompt, 8)  # warm-up
    rows = []
    print(f"GPT {config}, threads={torch.get_num_threads()}")
    head = ("new tokens", "no cache tok/s", "cache tok/s", "speed-up")
    print(f"{head[0]:>10} {head[1]:>15} {head[2]:>12} {head[3]:>9}")
    for n in args.lengths:
        slow, a = tokens_per_second(model, prompt, n, False, args.repeats)
        fast, b = tokens_per_second(model, prompt, n, True, args.repeats)
        if not torch.equal(a, b):
            raise SystemExit(f"cache and no-cache tokens differ at {n} new tokens")
        rows.append(
            {
                "new_tokens": n,
                "no_cache_tok_s": round(slow, 1),
                "cache_tok_s": round(fast, 1),
                "speedup": round(fast / slow, 2),
            }
        )
        print(f"{n:>10} {slow:>15.1f} {fast:>12.1f} {fast / slow:>8.2f}x")
    print(
        json.dumps(
            {
                "benchmark": "kv_cache",
                "config": config.__dict__,
                "threads": torch.get_num_threads(),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
