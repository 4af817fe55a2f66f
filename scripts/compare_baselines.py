"""Chapter 07's longer comparison: bigram, LSTM and GPT trained with the same loop on
the same budget, their validation curves written to ``data/baselines.json``.

    python scripts/compare_baselines.py     # every model: about an hour on 2 cores
    python scripts/compare_baselines.py --block-size 256 --batch-size 8 \
        --models "LSTM, tuned lr 1e-2" "GPT 4x128, lr 3e-3"

Every model sees the same batches (the same seed), ``--steps`` x ``--batch-size`` x
``--block-size`` training characters of the built-in ``pydocs`` corpus, and is scored
by ``course_lib.training.evaluate`` on the same 20 validation batches. Each budget
(context length and steps) has its own entry ("context 64, 3000 steps", ...) in the
file; a run adds or replaces only the models it trains, and each model's result keeps
the command that made it. The notebook only reads the file; this script is how it was
made."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from course_lib.baselines import BigramLanguageModel, LSTMLanguageModel
from course_lib.batching import train_val_split
from course_lib.corpora import load_corpus
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer
from course_lib.training import TrainConfig, train
from course_lib.utils import count_parameters

# name -> (model factory given V and the context length, peak learning rate)
MODELS = {
    "bigram": (lambda V, T: BigramLanguageModel(V), 0.1),
    "LSTM, chapter 01's lr 3e-3": (
        lambda V, T: LSTMLanguageModel(V, d_model=64, hidden_size=256),
        3e-3,
    ),
    "LSTM, tuned lr 1e-2": (
        lambda V, T: LSTMLanguageModel(V, d_model=64, hidden_size=256),
        1e-2,
    ),
    "GPT 4x128, lr 3e-3": (
        lambda V, T: GPT(
            GPTConfig(
                vocab_size=V, block_size=T, num_layers=4, num_heads=4, d_model=128
            )
        ),
        3e-3,
    ),
    "GPT 4x128, dropout 0.1, lr 3e-3": (
        lambda V, T: GPT(
            GPTConfig(
                vocab_size=V,
                block_size=T,
                num_layers=4,
                num_heads=4,
                d_model=128,
                dropout=0.1,
            )
        ),
        3e-3,
    ),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--out", default="data/baselines.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    text = load_corpus().text
    tok = CharTokenizer.from_text(text)
    train_data, val_data = train_val_split(torch.tensor(tok.encode(text)), 0.1)
    budget = TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        block_size=args.block_size,
        warmup_steps=100,
        eval_interval=args.eval_interval,
        eval_steps=20,
        progress=False,
    )
    key = f"context {args.block_size}, {args.steps} steps"
    command = shlex.join(["python", sys.argv[0], *(argv or sys.argv[1:])])
    for name in args.models:
        make, lr = MODELS[name]
        torch.manual_seed(0)
        model = make(tok.vocab_size, args.block_size)
        config = dataclasses.replace(budget, lr=lr, min_lr=lr / 10)
        t0 = time.perf_counter()
        h = train(model, train_data, val_data, config)
        result = {
            "lr": lr,
            "parameters": count_parameters(model),
            "eval_step": h["eval_step"],
            "val_loss": [round(v, 4) for v in h["val_loss"]],
            "seconds": round(time.perf_counter() - t0, 1),
            "command": command,
        }
        print(name, result, file=sys.stderr, flush=True)
        record(Path(args.out), key, budget, args.threads, name, result)


def record(
    out: Path, key: str, budget: TrainConfig, threads: int, name: str, result: dict
) -> None:
    """Add one model's result to the file, under its budget's entry.

    The file is read again just before writing, so runs of this script side by side
    (other models, other budgets) keep each other's results; it is written whole to a
    temporary file and renamed, so it is never left half-written."""
    everything = json.loads(out.read_text()) if out.exists() else {}
    as_json = json.loads(json.dumps(dataclasses.asdict(budget)))  # tuples become lists
    entry = everything.get(key)
    if entry is None or entry["budget"] != as_json:  # a new (or changed) budget
        entry = everything[key] = {"budget": as_json, "threads": threads, "models": {}}
    entry["models"][name] = result
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(everything, indent=1) + "\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
