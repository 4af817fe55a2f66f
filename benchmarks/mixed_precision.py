"""Step time of one GPT training step three ways: float32, bfloat16 autocast, and
torch.compile (float32), on chapter 07's shape (nanoGPT's CPU recipe).

    python benchmarks/mixed_precision.py                  # CPU, 30 timed steps each
    python benchmarks/mixed_precision.py --device cuda --steps 100
    python benchmarks/mixed_precision.py --threads 1      # steadier on a busy machine
    python benchmarks/mixed_precision.py --cold           # compile with an empty cache

Shape: num_layers=4, num_heads=4, d_model=128, block_size=64, batch_size=12, dropout=0,
the built-in character corpus, AdamW. A step is forward + backward + optimizer
step. Each mode starts from the same weights and sees the same batches. For
torch.compile the first step is timed on its own (tracing, Inductor's code
generation and the C++/Triton compiler; much shorter when Inductor's on-disk cache
already holds the kernels) and the steady-state time is the median of the steps
after ``--warmup``. Prints a table, then as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import tempfile
import time

import torch

from course_lib.batching import get_batch, train_val_split
from course_lib.corpora import load_corpus
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer

MODES = ("float32", "bfloat16", "compiled")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()  # GPU kernels run asynchronously: wait for them


def run(mode, config, batches, device, warmup):
    """Seconds of every step and the losses of one mode."""
    torch.manual_seed(1337)
    model = GPT(config).to(device)
    net = torch.compile(model) if mode == "compiled" else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cast = (
        torch.autocast(device, dtype=torch.bfloat16)
        if mode == "bfloat16"
        else contextlib.nullcontext()
    )
    seconds, losses = [], []
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        sync(device)
        t0 = time.perf_counter()
        with cast:  # matmuls in bfloat16; softmax, norms and the loss stay float32
            _, loss = net(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        seconds.append(time.perf_counter() - t0)
        losses.append(loss.item())
    steady = statistics.median(seconds[warmup:])
    return dict(
        mode=mode,
        first_step_s=round(seconds[0], 3),
        step_ms=round(steady * 1e3, 2),
        tokens_per_s=round(x.numel() / steady),
        first_loss=round(losses[0], 4),
        last_loss=round(losses[-1], 4),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per mode")
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the median")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="0: torch's default")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument(
        "--cold", action="store_true", help="an empty Inductor cache (a first run)"
    )
    args = p.parse_args()
    if args.cold:  # read when Inductor first compiles, so setting it here is in time
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    if args.threads:
        torch.set_num_threads(args.threads)
    # our GPT checks its token ids with .item(): one graph break, said once here
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
    text = load_corpus("pydocs").text
    tok = CharTokenizer.from_text(text)
    train_data, _ = train_val_split(torch.tensor(tok.encode(text)), 0.1)
    config = GPTConfig(
        vocab_size=tok.vocab_size,
        block_size=64,
        num_layers=4,
        num_heads=4,
        d_model=128,
        dropout=0.0,
    )
    g = torch.Generator().manual_seed(0)
    steps = args.warmup + args.steps
    batches = [get_batch(train_data, 64, 12, generator=g) for _ in range(steps)]
    rows = [run(m, config, batches, args.device, args.warmup) for m in args.modes]
    print(
        f"GPT 4x128, B=12, T=64, {args.device}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, load {os.getloadavg()[0]:.2f}"
        + (", empty compile cache" if args.cold else "")
    )
    print(
        f"{'mode':>9} {'first step s':>12} {'ms/step':>8} {'tokens/s':>9} "
        f"{'loss first→last':>16}"
    )
    for r in rows:
        print(
            f"{r['mode']:>9} {r['first_step_s']:>12.2f} {r['step_ms']:>8.1f} "
            f"{r['tokens_per_s']:>9} {r['first_loss']:>8.4f}→{r['last_loss']:.4f}"
        )
    base = rows[0]["step_ms"] if rows[0]["mode"] == "float32" else None
    summary = dict(
        benchmark="mixed_precision",
        device=args.device,
        cpu=platform.processor() or platform.machine(),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        steps=args.steps,
        cold_compile_cache=args.cold,
        rows=rows,
        speedup_vs_float32={r["mode"]: round(base / r["step_ms"], 3) for r in rows}
        if base
        else None,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
