"""Train a character-level GPT from the command line.

    python -m course_lib.train_gpt --out data/gpt_pydocs --max-steps 2000

Writes ``OUT.safetensors`` + ``OUT.json`` (the checkpoint, see
``course_lib.checkpoints``) and ``OUT.tokenizer.json``. ``--resume`` continues the
run saved at ``--out``. Every ``TrainConfig`` field and the model's shape are flags.
Printing happens here only (one process; rank-0-only logic would go in ``report``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from course_lib.data import load_corpus, train_val_split
from course_lib.models import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer
from course_lib.training import TrainConfig, load_checkpoint, train

MODEL_FLAGS = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_lib.train_gpt", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--text-file",
        default="pydocs",
        help="corpus name or UTF-8 text file (default: pydocs, built in)",
    )
    p.add_argument("--out", required=True, help="checkpoint path without suffix")
    p.add_argument("--resume", action="store_true", help="continue the run at --out")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    for name, default in MODEL_FLAGS.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(default),
            default=default,
            help="model" + (" and training" if name == "block_size" else ""),
        )
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("block_size", "progress"):
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if f.name == "betas":
            p.add_argument(flag, type=float, nargs=2, default=list(f.default))
        elif isinstance(f.default, bool):
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default
            )
        elif f.name == "decay_steps":
            p.add_argument(flag, type=int, default=None)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default)
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def report(message: str) -> None:
    """All console output of a run (the place to add a rank-0 check)."""
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    text = load_corpus(args.text_file).text
    tokenizer = CharTokenizer.from_text(text)
    data = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_data, val_data = train_val_split(data, args.val_fraction)
    model_config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        **{k: getattr(args, k) for k in MODEL_FLAGS},
    )
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"block_size"}
    config = TrainConfig(
        block_size=args.block_size,
        progress=not args.no_progress,
        **{k: getattr(args, k) for k in fields - {"progress"}},
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out.with_name(out.name + ".tokenizer.json"))
    torch.manual_seed(config.seed)
    model = GPT(model_config)
    report(
        f"GPT {model_config}: {sum(p.numel() for p in model.parameters()):,} "
        f"parameters; {len(train_data):,} train / {len(val_data):,} val tokens"
    )
    # with --resume and save_best, --out holds the best state; resume from it
    history = train(
        model,
        train_data,
        val_data,
        config,
        checkpoint_path=out,
        resume_from=out if args.resume else None,
    )
    meta = load_checkpoint(out, restore_rng=False)
    summary = {
        "out": str(out),
        "steps": config.max_steps,
        "best_val_loss": round(history["best_val"], 4),
        "final_val_loss": round(history["val_loss"][-1], 4),
        "final_train_loss": round(history["train_loss"][-1], 4),
        "saved_step": meta["step"],
        "seconds": round(history["time"][-1], 1),
    }
    report(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
