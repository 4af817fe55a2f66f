"""Chapter 04's case for attention, measured: a small GPT and an LSTM of about the same
size trained on associative recall (``course_lib.tasks.associative_recall``), their
accuracy by how far back the answer stands, and their training speed in tokens per
second as the context grows. Writes ``data/attention_pays.json``.

    python scripts/attention_pays.py     # both models, then their tokens per second
    python scripts/attention_pays.py --models GPT --lengths   # one model, no timing

(data/README.md gives the commands that made the committed file.)

The models are trained with ``course_lib.training.train`` on the same batches (the
same seed), scored on the same held-out sequences; a run replaces only the models it
trains. The notebook only reads the file.
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
from course_lib.tasks import associative_recall
from course_lib.training import TrainConfig, train
from course_lib.utils import count_parameters

NUM_KEYS, NUM_VALUES = 64, 16  # chance: 1 / 16


def make_model(name: str, block_size: int) -> torch.nn.Module:
    """The two contestants, about 110k parameters each."""
    vocab = NUM_KEYS + NUM_VALUES
    if name == "GPT":
        config = GPTConfig(
            vocab_size=vocab, block_size=block_size, num_layers=2, num_heads=4,
            d_model=64,
        )  # fmt: skip
        return GPT(config)
    return LSTMLanguageModel(vocab, d_model=64, hidden_size=128)


def recall_batches(batch_size: int, num_pairs: int, num_queries: int):
    def batch_fn(generator):
        x, y, _ = associative_recall(
            batch_size, num_pairs, num_queries, NUM_KEYS, NUM_VALUES, generator
        )
        return x, y

    return batch_fn


@torch.no_grad()
def accuracy_by_distance(model, num_pairs: int, num_queries: int, n: int = 1000):
    """Overall accuracy and, per distance (query position - key position), the
    fraction of right answers on ``n`` held-out sequences (seed 1234)."""
    g = torch.Generator().manual_seed(1234)
    x, y, dist = associative_recall(n, num_pairs, num_queries, NUM_KEYS, NUM_VALUES, g)
    model.eval()
    right = (model(x)[0].argmax(-1) == y)[y >= 0].float()
    dist = dist[y >= 0]
    by = {int(d): round(right[dist == d].mean().item(), 4) for d in dist.unique()}
    return round(right.mean().item(), 4), by


def tokens_per_second(name: str, T: int, batch_size: int) -> float:
    """Training tokens per second (forward, backward) at context ``T``."""
    torch.manual_seed(0)
    model = make_model(name, T)
    x = torch.randint(0, NUM_KEYS, (batch_size, T))

    def step():
        model.zero_grad(set_to_none=True)
        model(x, x)[1].backward()

    return batch_size * T / time_call(step, repeat=3)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=["GPT", "LSTM"])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-pairs", type=int, default=8)
    p.add_argument("--num-queries", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lengths", type=int, nargs="*", default=[64, 128, 256, 512])
    p.add_argument("--out", default="data/attention_pays.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    n, m = args.num_pairs, args.num_queries
    block = 2 * (n + m) - 1
    config = TrainConfig(
        max_steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        min_lr=args.lr / 10, warmup_steps=50, weight_decay=0.0,
        eval_interval=100, eval_steps=4, progress=False,
    )  # fmt: skip
    batches = recall_batches(args.batch_size, n, m)
    results = {}
    for name in args.models:
        torch.manual_seed(0)
        model = make_model(name, block)
        t0 = time.perf_counter()
        h = train(model, batches, batches, config)
        seconds = time.perf_counter() - t0
        accuracy, by_distance = accuracy_by_distance(model, n, m)
        results[name] = {
            "parameters": count_parameters(model),
            "seconds": round(seconds, 1),
            "eval_step": h["eval_step"],
            "val_loss": [round(v, 4) for v in h["val_loss"]],
            "accuracy": accuracy,
            "accuracy_by_distance": by_distance,
        }
        print(name, {k: v for k, v in results[name].items() if "by" not in k},
              file=sys.stderr, flush=True)  # fmt: skip
        results[name]["command"] = shlex.join(
            ["python", "scripts/attention_pays.py", *(argv or [])]
        )
    speed = {
        name: {T: round(tokens_per_second(name, T, 8)) for T in args.lengths}
        for name in ("GPT", "LSTM")
    }
    print(speed, file=sys.stderr)
    out_path = Path(args.out)  # read at the end: another run may have written it
    old = json.loads(out_path.read_text()) if out_path.exists() else {}
    results = {**old.get("results", {}), **results}
    out = {
        "settings": {**vars(args), "num_keys": NUM_KEYS, "num_values": NUM_VALUES},
        "chance": 1 / NUM_VALUES,
        "results": results,
        "tokens_per_second": {"batch_size": 8, **speed}
        if args.lengths
        else old.get("tokens_per_second"),
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    out_path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
