"""A small sentiment task the course writes itself (chapter 09).

Templated English reviews: a thing ("the film", "this meal"), an optional intensifier
("very", "truly") and an adjective that is positive or negative, sometimes negated
("was not awful" is positive). Label 1 = positive, 0 = negative.

The point of the task is transfer: the **test split uses adjectives and nouns that never
occur in the training split**. A model that learnt what words mean elsewhere (a
pretrained encoder) can still read them; a model trained from scratch on the training
split has never seen them. Its own module because ``data.py`` is already long.

Also the glue that lets ``course_lib.training.train`` fine-tune a classifier on it:
:func:`pad_batch`, :func:`batches` (a ``batch_fn(generator) -> (x, y)``) and
:func:`accuracy`.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import torch
from torch import Tensor

# chapter 09's pre-computed curves, made by scripts/make_sentiment_results.py
RESULTS = Path(__file__).resolve().parent.parent / "data" / "sentiment_results.json"

# (positive, negative) adjectives; the last third of each list is held out for test
POSITIVE = [
    "good", "great", "nice", "lovely", "wonderful", "excellent", "fun", "charming",
    "pleasant", "beautiful", "enjoyable", "brilliant",
    "superb", "delightful", "splendid", "marvelous", "fantastic", "terrific",
]  # fmt: skip
NEGATIVE = [
    "bad", "awful", "boring", "ugly", "terrible", "poor", "dull", "annoying",
    "horrible", "weak", "unpleasant", "sad",
    "dreadful", "lousy", "mediocre", "miserable", "tedious", "atrocious",
]  # fmt: skip
NOUNS_TRAIN = ["film", "movie", "book", "meal", "song", "show", "game", "hotel"]
NOUNS_TEST = ["novel", "dinner", "album", "concert", "restaurant", "play"]
INTENSIFIERS_TRAIN = ["very", "really", "so"]
INTENSIFIERS_TEST = ["truly", "extremely", "incredibly"]
N_TRAIN_ADJ = 12  # per polarity

# {det} {noun} {verb} [not] [{intens}] {adj}
DETERMINERS = ["the", "this", "that"]
VERBS = ["was", "is", "seemed", "felt"]


def _sentence(rng: random.Random, adjectives, nouns, intensifiers) -> tuple[str, int]:
    positive = rng.random() < 0.5
    adj = rng.choice(adjectives[0] if positive else adjectives[1])
    negated = rng.random() < 0.3
    words = [rng.choice(DETERMINERS), rng.choice(nouns), rng.choice(VERBS)]
    if negated:
        words.append("not")
    if rng.random() < 0.4:
        words.append(rng.choice(intensifiers))
    words.append(adj)
    return " ".join(words), int(positive != negated)


def sentiment_split(split: str, n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` sentences and labels (1 positive, 0 negative) of ``split``.

    ``split`` is ``"train"`` or ``"test"``: the test split's adjectives, nouns and
    intensifiers never occur in the training split. Deterministic in ``seed``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"sentiment_split: seed must be an int, got {seed!r}.")
    k = N_TRAIN_ADJ
    if split == "train":
        adjectives = (POSITIVE[:k], NEGATIVE[:k])
        nouns, intensifiers = NOUNS_TRAIN, INTENSIFIERS_TRAIN
    else:
        adjectives = (POSITIVE[k:], NEGATIVE[k:])
        nouns, intensifiers = NOUNS_TEST, INTENSIFIERS_TEST
    # a different stream per split, so train and test seeds never coincide
    rng = random.Random(f"{split}-{seed}")
    pairs = [_sentence(rng, adjectives, nouns, intensifiers) for _ in range(n)]
    return [s for s, _ in pairs], [y for _, y in pairs]


def held_out_words() -> set[str]:
    """The words of the test split that the training split never uses."""
    k = N_TRAIN_ADJ
    return set(POSITIVE[k:] + NEGATIVE[k:] + NOUNS_TEST + INTENSIFIERS_TEST)


# ------------------------------------------------- glue for course_lib.training.train
def pad_batch(sequences: list[list[int]], pad_id: int) -> Tensor:
    """Token id lists of varying length, right-padded with ``pad_id``: ``(B, T)``."""
    if (
        not isinstance(sequences, (list, tuple))
        or not sequences
        or not all(isinstance(s, (list, tuple)) and len(s) for s in sequences)
    ):
        raise ValueError(
            "pad_batch: need a non-empty list of non-empty id lists, got "
            f"{sequences!r:.60}."
        )
    if isinstance(pad_id, bool) or not isinstance(pad_id, int):
        raise ValueError(f"pad_batch: pad_id must be an int, got {pad_id!r}.")
    if not all(isinstance(i, int) for s in sequences for i in s):
        raise ValueError("pad_batch: every id must be an int (encode the text first).")
    T = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [pad_id] * (T - len(s)) for s in sequences])


def batches(ids: Tensor, labels: Tensor, batch_size: int):
    """A ``batch_fn(generator) -> (x (B, T), y (B,))`` drawing ``batch_size`` random
    rows of ``ids`` ``(N, T)`` and their ``labels`` ``(N,)``, for ``train``."""
    for name, x in (("ids", ids), ("labels", labels)):
        if not isinstance(x, Tensor) or x.is_floating_point():
            seen = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"batches: {name} must be an int tensor, got {seen}.")
    if ids.dim() != 2 or labels.shape != ids.shape[:1]:
        raise ValueError(
            f"ids must be (N, T) and labels (N,), got {tuple(ids.shape)} and "
            f"{tuple(labels.shape)}."
        )
    if not isinstance(batch_size, int) or not 1 <= batch_size:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    if len(labels) == 0 or labels.min() < 0:
        raise ValueError(
            f"batches: labels must be class ids >= 0 (and not empty), got "
            f"{labels.tolist()[:8]}."
        )

    def batch_fn(generator: torch.Generator) -> tuple[Tensor, Tensor]:
        rows = torch.randint(0, len(labels), (batch_size,), generator=generator)
        return ids[rows], labels[rows]

    return batch_fn


@torch.no_grad()
def accuracy(model, ids: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Share of rows where ``model(ids)``'s logits ``(B, L)`` have their argmax at the
    label; evaluated in eval mode, in chunks of ``batch_size`` rows."""
    if not isinstance(ids, Tensor) or not isinstance(labels, Tensor):
        raise ValueError(
            f"accuracy: ids and labels must be tensors, got {type(ids).__name__} and "
            f"{type(labels).__name__}."
        )
    if len(labels) == 0 or len(ids) != len(labels):
        raise ValueError(
            f"accuracy: need one label per row of ids, got {len(ids)} rows and "
            f"{len(labels)} labels."
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"accuracy: batch_size must be an int >= 1, got {batch_size!r}."
        )
    was_training = model.training
    model.eval()
    right = 0
    for start in range(0, len(labels), batch_size):
        logits, _ = model(ids[start : start + batch_size])
        right += (logits.argmax(-1) == labels[start : start + batch_size]).sum().item()
    model.train(was_training)
    return right / len(labels)


def load_results(path=None) -> dict:
    """The pre-computed runs of ``scripts/make_sentiment_results.py`` (a dict with
    ``command``, ``settings`` and ``results``: per run a ``curve`` of ``(step,
    held-out accuracy)``, ``train_accuracy``, ``lr``, ``seconds``). ``path``: default
    the shipped ``data/sentiment_results.json`` (``course_lib.data.course_file``)."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"load_results: path must be a str or Path, got {path!r}.")
    if path is None:
        from course_lib.data import course_file

        try:
            path = course_file(RESULTS.name)
        except FileNotFoundError:
            path = RESULTS
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: it comes with the course's repository (data/), or "
            "make it with: python scripts/make_sentiment_results.py"
        )
    return json.loads(path.read_text())
