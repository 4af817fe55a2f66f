"""Chapter 09's pre-computed curves: accuracy vs. steps on the held-out-word test set
for all-MiniLM-L6-v2 fine-tuned, the same architecture from scratch, and a linear probe
(frozen encoder, only the head trained). Every run is ``course_lib.training.train``.

    flock /tmp/cpu.lock .venv/bin/python scripts/make_sentiment_results.py

(about 2 minutes on 2 CPU cores). Writes data/sentiment_results.json atomically (temp
file + rename). Chapter 09 reads it and re-runs a short fine-tune live.
"""

import json
import os
import time

import torch
from transformers import BertModel

from course_lib.artefacts import RESULTS
from course_lib.batching import labelled_batches
from course_lib.classification import SequenceClassifier, accuracy
from course_lib.hf import load_minilm
from course_lib.tasks import sentiment_split
from course_lib.training import TrainConfig, train
from course_lib.utils import set_seed

OUT = RESULTS  # data/sentiment_results.json
SETTINGS = dict(steps=150, batch_size=16, eval_every=10, n_train=1000, n_test=300)
LR = {"fine-tuned": 1e-4, "from scratch": 5e-4, "linear probe": 1e-2}


def run(name, model, data, s) -> dict:
    (train_x, train_y), (test_x, test_y) = data
    config = TrainConfig(
        max_steps=s["steps"],
        batch_size=s["batch_size"],
        lr=LR[name],
        min_lr=LR[name] / 10,
        warmup_steps=10,
        weight_decay=0.01,
        eval_interval=s["eval_every"],
        eval_steps=1,
        progress=False,
    )
    curve = [(0, accuracy(model, test_x, test_y))]

    def record(history):  # called by train after every evaluation
        curve.append((history["eval_step"][-1], accuracy(model, test_x, test_y)))
        print(name, curve[-1], round(history["time"][-1], 1), flush=True)

    t0 = time.perf_counter()
    history = train(
        model,
        labelled_batches(train_x, train_y, s["batch_size"]),
        lambda generator: (test_x, test_y),  # val loss on the whole test set
        config,
        callbacks=[record],
    )
    return dict(
        curve=curve,
        val_loss=[round(v, 4) for v in history["val_loss"]],
        train_accuracy=accuracy(model, train_x, train_y),
        seconds=round(time.perf_counter() - t0, 1),
        lr=LR[name],
    )


def main() -> None:
    torch.set_num_threads(2)
    s = SETTINGS
    pretrained, tok = load_minilm()
    pad = tok.pad_token_id

    def encode(split, n):
        sentences, labels = sentiment_split(split, n)
        ids = tok(sentences, padding=True, return_tensors="pt")["input_ids"]
        return ids, torch.tensor(labels)

    data = (encode("train", s["n_train"]), encode("test", s["n_test"]))
    results = {}
    set_seed(0)
    model = SequenceClassifier(pretrained, 2, pad_token_id=pad)
    results["fine-tuned"] = run("fine-tuned", model, data, s)
    set_seed(0)
    scratch = BertModel(pretrained.config)  # same architecture, random weights
    model = SequenceClassifier(scratch, 2, pad_token_id=pad)
    results["from scratch"] = run("from scratch", model, data, s)
    set_seed(0)
    frozen, _ = load_minilm()
    frozen.requires_grad_(False)
    model = SequenceClassifier(frozen, 2, pad_token_id=pad)
    results["linear probe"] = run("linear probe", model, data, s)
    payload = dict(
        command="python scripts/make_sentiment_results.py",
        settings=s,
        results=results,
        torch=torch.__version__,
    )
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, OUT)
    for name, r in results.items():
        print(f"{name:13s} test acc {r['curve'][-1][1]:.3f}  ({r['seconds']} s)")


if __name__ == "__main__":
    main()
