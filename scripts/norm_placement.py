"""Chapter 05's training comparison of the two LayerNorm placements: the same small
character-level GPT, post-norm or pre-norm, with or without a learning-rate warm-up,
its training and validation losses written to ``data/norm_placement.json``.

    python scripts/norm_placement.py            # the four runs of the chapter

The model is ``course_lib.gpt.GPT`` (pre-norm, as GPT-2), deep and narrow; for the
post-norm runs each block's ``norm_first`` is set to False, so the two models have the
same weights at step 0 and differ only in where the LayerNorms sit. Every run sees the
same batches of the built-in ``pydocs`` corpus (``course_lib.training.train``, seed 0)
and is scored on the same validation batches. The chapter only reads the file and
re-runs the first steps of one run live; this script is how the file was made.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from course_lib.batching import train_val_split
from course_lib.corpora import load_corpus
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer
from course_lib.training import TrainConfig, train

OUT = Path(__file__).resolve().parent.parent / "data" / "norm_placement.json"


def build_model(vocab_size: int, norm_first: bool, args) -> GPT:
    """The GPT of the runs, seeded; post-norm when ``norm_first`` is False."""
    torch.manual_seed(args.seed)
    config = GPTConfig(
        vocab_size=vocab_size,
        block_size=args.block_size,
        num_layers=args.layers,
        num_heads=args.heads,
        d_model=args.d_model,
    )
    model = GPT(config)
    for block in model.blocks:
        block.norm_first = norm_first  # the block reads it at every forward
    return model


def run(norm_first: bool, warmup: int, data, vocab_size: int, args) -> dict:
    model = build_model(vocab_size, norm_first, args)
    config = TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        block_size=args.block_size,
        lr=args.lr,
        min_lr=args.lr / 10,
        warmup_steps=warmup,
        eval_interval=args.eval_interval,
        eval_steps=args.eval_steps,
        seed=args.seed,
        progress=False,
    )
    start = time.perf_counter()
    history = train(model, *data, config)
    return {
        "norm_first": norm_first,
        "warmup_steps": warmup,
        "train_loss": [round(x, 4) for x in history["train_loss"]],
        "eval_step": history["eval_step"],
        "val_loss": [round(x, 4) for x in history["val_loss"]],
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--eval-interval", type=int, default=50)
    parser.add_argument("--eval-steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = CharTokenizer.from_text(load_corpus().text)
    data = train_val_split(torch.tensor(tokenizer.encode(load_corpus().text)), 0.1)
    runs = []
    for norm_first in (False, True):
        for warmup in (0, args.warmup):
            runs.append(run(norm_first, warmup, data, tokenizer.vocab_size, args))
            last = runs[-1]
            print(
                f"norm_first={norm_first!s:5} warmup={warmup:3d}: final val "
                f"{last['val_loss'][-1]:.3f} ({last['seconds']:.0f} s)",
                flush=True,
            )
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "threads")}
    result = {
        "command": "python " + shlex.join(["scripts/norm_placement.py", *sys.argv[1:]]),
        "settings": settings,
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
