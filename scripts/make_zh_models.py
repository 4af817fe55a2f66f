"""Make the course's Chinese artefacts (issue #20, chapters 08-10), from the Chinese
data of ``course_lib.chinese``:

    python scripts/make_zh_models.py pretrain --out data/gpt_zh [--threads 2]

trains the character-level Chinese GPT: pretraining text = the People's Daily corpus
(its last 10 % held out for validation) + the *training* split of the reviews
(unlabelled; no validation or test review is ever seen). Its tokenizer holds every
character seen at least twice in that text, plus ``UNK`` for the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch

from course_lib.batching import train_val_split
from course_lib.chinese import chinese_reviews, peoples_daily
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer
from course_lib.training import TrainConfig, train, validation_loss

UNK = "\ufffd"  # "�", the Unicode replacement character
MIN_COUNT = 2


def pretraining_data():
    news = peoples_daily()
    reviews = "\n".join(chinese_reviews()["train"][0])
    counts = Counter(news) + Counter(reviews)
    chars = sorted(c for c, n in counts.items() if n >= MIN_COUNT) + [UNK]
    tokenizer = CharTokenizer(chars, unk=UNK)
    news_ids = torch.tensor(tokenizer.encode(news), dtype=torch.long)
    train_news, val_news = train_val_split(news_ids, 0.1)
    review_ids = torch.tensor(tokenizer.encode("\n" + reviews), dtype=torch.long)
    return tokenizer, torch.cat([train_news, review_ids]), val_news


def _log(history: dict) -> None:
    print(
        f"step {history['eval_step'][-1]}: val {history['val_loss'][-1]:.3f}, "
        f"{history['time'][-1]:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def pretrain(args) -> dict:
    tokenizer, train_data, val_data = pretraining_data()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out.with_name(out.name + ".tokenizer.json"))
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=128,
        num_layers=4,
        num_heads=4,
        d_model=128,
        dropout=0.0,
    )
    run = TrainConfig(
        max_steps=args.steps,
        batch_size=16,
        block_size=128,
        lr=2e-3,
        min_lr=2e-4,
        warmup_steps=100,
        eval_interval=250,
        eval_steps=10,
        progress=False,
    )
    torch.manual_seed(run.seed)
    model = GPT(config)
    print(
        f"vocabulary {tokenizer.vocab_size}, train {len(train_data):,} / val "
        f"{len(val_data):,} tokens, {sum(p.numel() for p in model.parameters()):,} "
        "parameters",
        file=sys.stderr,
        flush=True,
    )
    history = train(
        model, train_data, val_data, run, checkpoint_path=out, callbacks=[_log]
    )
    summary = {
        "command": " ".join(["python", "scripts/make_zh_models.py", *sys.argv[1:]]),
        "vocab_size": tokenizer.vocab_size,
        "train_tokens": len(train_data),
        "val_tokens": len(val_data),
        "best_val_loss": round(history["best_val"], 4),
        "validation_loss_protocol": round(validation_loss(model, val_data), 4),
        "seconds": round(history["time"][-1], 1),
    }
    print(json.dumps(summary), flush=True)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pretrain")
    p.add_argument("--out", default="data/gpt_zh")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "pretrain":
        pretrain(args)


if __name__ == "__main__":
    main()
