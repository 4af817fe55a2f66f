"""Chapter 04's case for attention, measured: a small GPT and an LSTM of about the same
size trained on associative recall (``course_lib.tasks.associative_recall``), their
accuracy by how far back the answer stands, and the time of one training step of each
as the context grows. Writes ``data/attention_pays.json``. With ``--task copy`` the
same two models learn to copy a sequence (``course_lib.tasks.copy_task``) instead, with
accuracy by position in the copy and no timings; that writes
``data/attention_copy.json``.

    python scripts/attention_pays.py --threads 1            # both models, then timings
    python scripts/attention_pays.py --models GPT --lengths  # one model, no timing
    python scripts/attention_pays.py --min-pairs 8 ...      # lists of 8 to 64 pairs
    python scripts/attention_pays.py --task copy --length 64 --models LSTM

(data/README.md gives the commands that made the committed file.)

The models are trained with ``course_lib.training.train`` on the same batches (the
same seed) and scored on the same 1,000 held-out sequences; a run replaces only the
models it trains (and the timings, unless ``--lengths`` is given empty). The notebook
only reads the file.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from course_lib.baselines import LSTMLanguageModel
from course_lib.gpt import GPT, GPTConfig
from course_lib.profiling import time_call
from course_lib.tasks import associative_recall, copy_task
from course_lib.training import TrainConfig, train
from course_lib.utils import count_parameters


def make_model(name: str, args, block_size: int) -> torch.nn.Module:
    """The two contestants, of about the same number of parameters."""
    vocab = args.vocab + 1 if args.task == "copy" else args.num_keys + args.num_values
    if name == "GPT":
        config = GPTConfig(
            vocab_size=vocab, block_size=block_size, num_layers=2,
            num_heads=args.heads, d_model=args.d_model,
        )  # fmt: skip
        return GPT(config)
    return LSTMLanguageModel(vocab, d_model=args.d_model, hidden_size=args.hidden)


def task(args, batch_size: int, generator):
    if args.task == "copy":
        return copy_task(batch_size, args.length, args.vocab, generator)
    return associative_recall(
        batch_size, args.num_pairs, args.num_queries, args.num_keys, args.num_values,
        generator,
    )  # fmt: skip


@torch.no_grad()
def accuracy_by_distance(model, args, n: int = 1000):
    """Overall accuracy, accuracy on answers 100+ positions back, and, per distance
    (query position - key position), the fraction of right answers, on ``n``
    held-out sequences (seed 1234)."""
    x, y, dist = task(args, n, torch.Generator().manual_seed(1234))
    was_training = model.training
    model.eval()
    right = torch.cat([model(xb)[0].argmax(-1) == yb for xb, yb in
                       zip(x.split(250), y.split(250), strict=True)])  # fmt: skip
    model.train(was_training)
    if args.task == "copy":  # by position in the copy: 0 = its first token
        by_position = right[:, args.length :].float().mean(0)  # (length,)
        whole = right[:, args.length :].all(1).float().mean().item()  # all right
        by = [round(a, 4) for a in by_position.tolist()]
        return round(by_position.mean().item(), 4), round(whole, 4), by
    right, dist = right[y >= 0].float(), dist[y >= 0]
    by = {int(d): round(right[dist == d].mean().item(), 4) for d in dist.unique()}
    far = right[dist >= 100].mean().item()
    return round(right.mean().item(), 4), round(far, 4), by


def step_seconds(name: str, args, T: int, batch_size: int) -> float:
    """Seconds of one training step (forward, backward) on a batch of context ``T``."""
    torch.manual_seed(0)
    model = make_model(name, args, T)
    x = torch.randint(0, args.num_keys, (batch_size, T))

    def step():
        model.zero_grad(set_to_none=True)
        model(x, x)[1].backward()

    return time_call(step, repeat=3)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=["recall", "copy"], default="recall")
    p.add_argument("--length", type=int, default=64)  # copy: tokens to copy
    p.add_argument("--vocab", type=int, default=16)  # copy: distinct tokens
    p.add_argument("--models", nargs="*", default=["GPT", "LSTM"])
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-pairs", type=int, default=64)
    p.add_argument("--num-queries", type=int, default=8)
    p.add_argument("--min-pairs", type=int, default=None)
    p.add_argument("--num-keys", type=int, default=64)
    p.add_argument("--num-values", type=int, default=16)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lengths", type=int, nargs="*", default=[64, 128, 256, 512])
    p.add_argument("--timing-batch", type=int, default=32)
    p.add_argument("--timing-tokens", type=int, default=4096)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    copying = args.task == "copy"
    if args.out is None:
        args.out = f"data/attention_{'copy' if copying else 'pays'}.json"
    if copying:
        args.lengths = []  # the timings belong to the recall file
    torch.set_num_threads(args.threads)
    block = 2 * args.length if copying else 2 * (args.num_pairs + args.num_queries) - 1
    config = TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        min_lr=args.lr / 10, warmup_steps=args.warmup, weight_decay=0.0,
        eval_interval=50, eval_steps=4, progress=False,
    )  # fmt: skip

    def batches(generator):
        if args.min_pairs is None:
            x, y, _ = task(args, args.batch_size, generator)
            return x, y
        # a curriculum of lengths: each batch lists between min_pairs and num_pairs
        n = torch.randint(args.min_pairs, args.num_pairs + 1, (), generator=generator)
        short = argparse.Namespace(**{**vars(args), "num_pairs": int(n)})
        x, y, _ = task(short, args.batch_size, generator)
        return x, y

    results = {}
    for name in args.models:
        torch.manual_seed(0)
        model = make_model(name, args, block)
        curve = []  # (step, held-out accuracy), at every evaluation

        def score(history, name=name, model=model, curve=curve):
            step = history["eval_step"][-1]  # held-out accuracy on 250 sequences
            curve.append((step, accuracy_by_distance(model, args, 250)[0]))
            print(name, curve[-1], round(history["val_loss"][-1], 3),
                  round(history["time"][-1]), file=sys.stderr, flush=True)  # fmt: skip

        t0 = time.perf_counter()
        h = train(model, batches, batches, config, callbacks=[score])
        seconds = time.perf_counter() - t0
        accuracy, far, by_distance = accuracy_by_distance(model, args)
        key = f"{name}, L={args.length}" if copying else name
        results[key] = {
            "parameters": count_parameters(model),
            "seconds": round(seconds, 1),
            "eval_step": h["eval_step"],
            "val_loss": [round(v, 4) for v in h["val_loss"]],
            "accuracy_curve": [a for _, a in curve],
            "accuracy": accuracy,
            # recall: answers 100+ back, by distance; copy: whole copies, by position
            ("accuracy_whole_copy" if copying else "accuracy_100_plus"): far,
            (
                "accuracy_by_position" if copying else "accuracy_by_distance"
            ): by_distance,
            **(
                {
                    "length": args.length,
                    "lr": args.lr,
                    "steps": args.steps,
                    "warmup": args.warmup,
                }
                if copying
                else {}
            ),
            "command": shlex.join(["python", "scripts/attention_pays.py", *argv]),
        }
        print(key, {k: v for k, v in results[key].items() if "by" not in k},
              file=sys.stderr, flush=True)  # fmt: skip
    timing = None
    if args.lengths:
        # (a) a fixed batch of sequences: the tokens per step grow with T; (b) a fixed
        # number of tokens per step, cut into fewer, longer sequences as T grows
        timing = {"threads": args.threads, "batch_size": args.timing_batch,
                  "tokens_per_step": args.timing_tokens}  # fmt: skip
        for name in ("GPT", "LSTM"):
            timing[name] = {
                "fixed_batch": {T: round(step_seconds(name, args, T,
                                args.timing_batch), 4) for T in args.lengths},
                "fixed_tokens": {T: round(step_seconds(name, args, T,
                                 args.timing_tokens // T), 4) for T in args.lengths},
            }  # fmt: skip
            print(name, timing[name], file=sys.stderr, flush=True)
    out_path = Path(args.out)  # read at the end: another run may have written it
    old = json.loads(out_path.read_text()) if out_path.exists() else {}
    results = {**old.get("results", {}), **results}
    out = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("models", "out")},
        "chance": 1 / (args.vocab if copying else args.num_values),
        "results": results,
        "step_seconds": timing or old.get("step_seconds"),
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    out_path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
