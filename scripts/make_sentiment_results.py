"""Chapter 09's pre-computed curves: accuracy vs. steps on the held-out-word test set for
all-MiniLM-L6-v2 fine-tuned, the same architecture from scratch, and a linear probe.

    .venv/bin/python scripts/make_sentiment_results.py   # a few minutes on 2 busy CPU cores

Writes data/sentiment_results.json atomically (temp file + rename). Chapter 09 reads it
and re-runs a short fine-tune live.
"""

import json
import os
import time
from pathlib import Path

import torch
from transformers import BertModel

from course_lib.hf import SequenceClassifier, load_minilm
from course_lib.sentiment import sentiment_split
from course_lib.utils import set_seed

OUT = Path(__file__).resolve().parent.parent / "data" / "sentiment_results.json"
SETTINGS = dict(steps=60, batch_size=16, eval_every=20, n_train=1000, n_test=300)
LR = {"fine-tuned": 1e-4, "from scratch": 5e-4, "linear probe": 1e-2}


def encode(tokenizer, sentences):
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


@torch.no_grad()
def accuracy(model, ids, mask, labels) -> float:
    model.eval()
    logits, _ = model(ids, attention_mask=mask)
    model.train()
    return (logits.argmax(-1) == labels).float().mean().item()


def run(name, model, data, s) -> dict:
    set_seed(0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR[name], weight_decay=0.01)
    (xi, xm, xy), (ti, tm, ty) = data
    g = torch.Generator().manual_seed(0)
    curve, t0 = [(0, accuracy(model, ti, tm, ty))], time.perf_counter()
    model.train()
    for step in range(1, s["steps"] + 1):
        b = torch.randint(0, len(xy), (s["batch_size"],), generator=g)
        _, loss = model(xi[b], xy[b], attention_mask=xm[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % s["eval_every"] == 0:
            curve.append((step, accuracy(model, ti, tm, ty)))
            print(name, curve[-1], round(time.perf_counter() - t0, 1), flush=True)
    return dict(
        curve=curve,
        train_accuracy=accuracy(model, xi, xm, xy),
        seconds=round(time.perf_counter() - t0, 1),
        lr=LR[name],
    )


def main() -> None:
    torch.set_num_threads(2)
    s = SETTINGS
    pretrained, tok = load_minilm()
    train_x, train_y = sentiment_split("train", s["n_train"])
    test_x, test_y = sentiment_split("test", s["n_test"])
    data = (
        (*encode(tok, train_x), torch.tensor(train_y)),
        (*encode(tok, test_x), torch.tensor(test_y)),
    )
    results = {}
    set_seed(0)
    results["fine-tuned"] = run("fine-tuned", SequenceClassifier(pretrained, 2), data, s)
    set_seed(0)
    scratch = BertModel(pretrained.config)  # same architecture, random weights
    results["from scratch"] = run(
        "from scratch", SequenceClassifier(scratch, 2), data, s
    )
    set_seed(0)
    frozen, _ = load_minilm()
    frozen.requires_grad_(False)
    results["linear probe"] = run("linear probe", SequenceClassifier(frozen, 2), data, s)
    payload = dict(settings=s, results=results, torch=torch.__version__)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, OUT)
    for name, r in results.items():
        print(f"{name:13s} test acc {r['curve'][-1][1]:.3f}  ({r['seconds']} s)")


if __name__ == "__main__":
    main()
