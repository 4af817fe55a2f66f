"""Train a character-level GPT from the command line.

    python -m course_lib.train_gpt --out data/gpt_pydocs --max-steps 2000

Writes the checkpoint ``OUT.json`` + the weights file it names,
``OUT.<step>.safetensors`` (see ``course_lib.checkpoints``), and
``OUT.tokenizer.json``. ``--resume`` continues the run saved at ``--out``. Every
``TrainConfig`` field and the model's shape are flags.
``--device`` (default: ``COURSE_DEVICE``, else the best one here) picks cpu, cuda
or mps. Data-parallel on 2 processes (chapter 11; gloo on the CPU, NCCL on GPUs):

    torchrun --standalone --nproc_per_node=2 -m course_lib.train_gpt --out run ...

``--batch-size`` is then per process: the global batch is ``2 * batch_size *
grad_accum_steps``. Only rank 0 prints (``report``) and writes files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

from course_lib import distributed
from course_lib.batching import train_val_split
from course_lib.checkpoints import load_checkpoint
from course_lib.corpora import load_corpus
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer
from course_lib.training import TrainConfig, train
from course_lib.utils import get_device

MODEL_FLAGS = dict(num_layers=4, num_heads=4, d_model=128, block_size=128, dropout=0.0)


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
    p.add_argument(
        "--device", default=None, help="cpu, cuda or mps (default: COURSE_DEVICE)"
    )
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
        elif f.name == "autocast":
            p.add_argument(
                flag, choices=["bfloat16"], default=None, help="(chapter 11)"
            )
        else:
            p.add_argument(flag, type=type(f.default), default=f.default)
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def report(message: str) -> None:
    """All console output of a run: printed by rank 0 only, so that N processes
    under torchrun print one log, not N interleaved copies."""
    if distributed.is_main():
        print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.threads < 0:
        raise ValueError(f"train_gpt: --threads must be >= 0, got {args.threads}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    # the run's settings are checked before the corpus is read
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"block_size"}
    config = TrainConfig(
        block_size=args.block_size,
        progress=not args.no_progress,
        **{k: getattr(args, k) for k in fields - {"progress"}},
    )
    text = load_corpus(args.text_file).text
    tokenizer = CharTokenizer.from_text(text)
    data = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_data, val_data = train_val_split(data, args.val_fraction)
    model_config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        **{k: getattr(args, k) for k in MODEL_FLAGS},
    )
    out = Path(args.out)
    device = get_device(args.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:  # one GPU per rank
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    context = distributed.setup(device)
    if context.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        tokenizer.save(out.with_name(out.name + ".tokenizer.json"))
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    model = GPT(model_config).to(device)
    report(
        f"GPT {model_config}: {sum(p.numel() for p in model.parameters()):,} "
        f"parameters; {len(train_data):,} train / {len(val_data):,} val tokens; "
        f"{device}, {context.world_size} process(es), global batch "
        f"{context.world_size * config.grad_accum_steps * config.batch_size}"
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
        "world_size": context.world_size,
    }
    report(json.dumps(summary))
    distributed.cleanup()
    return summary


if __name__ == "__main__":
    main()
