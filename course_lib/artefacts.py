"""The files the course made and ships, and the functions that load them.

Each file sits in ``data/`` of a checkout (``data/README.md`` gives the command that
made it) and, installed with pip (Colab), inside the package in ``course_lib/shipped/``:

- ``gpt_pydocs.*``: the reference character-level GPT trained on the built-in corpus
  (:func:`load_reference_gpt`), which chapters 08-10 use instead of training their own;
- ``gpt_zh.*``: its Chinese counterpart (``load_reference_gpt("zh")``), and
  ``sentiment_zh.*``: that GPT fine-tuned on Chinese reviews (``course_lib.sentiment``);
- ``baselines.json``: chapter 01's baselines trained longer
  (scripts/compare_baselines.py);
- ``sentiment_results.json``: chapter 09's fine-tuning runs (:func:`load_results`);
- ``pydocs.txt.gz``: the built-in corpus (``course_lib.corpora``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from course_lib.checkpoints import CheckpointError, load_checkpoint, read_checkpoint
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer

# chapter 09's pre-computed curves, made by scripts/make_sentiment_results.py
RESULTS = Path(__file__).resolve().parent.parent / "data" / "sentiment_results.json"


def course_file(name: str) -> Path:
    """The path of a small artefact the course made and ships in ``data/`` (a trained
    checkpoint, pre-computed results; ``data/README.md`` says which command made
    each). In a checkout that is ``data/NAME``; installed with pip (Colab) the same
    files sit inside the package, in ``course_lib/shipped/`` (see pyproject.toml).
    Raises ``FileNotFoundError`` naming the file when neither has it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"course_file: name must be a file name (str), got {name!r}.")
    here = Path(__file__).resolve().parent
    for path in (here.parent / "data" / name, here / "shipped" / name):
        if path.exists():
            return path
    raise FileNotFoundError(
        f"course_file: {name} is missing from {here.parent / 'data'} and from "
        f"{here / 'shipped'}. It ships with the course's repository (data/README.md "
        "lists each file and the command that makes it)."
    )


def load_gpt(path: str | os.PathLike):
    """``(GPT, meta)`` rebuilt from a checkpoint's ``model_config``, verified."""
    meta, _ = read_checkpoint(path)
    if meta.get("model_class") != "GPT":
        raise CheckpointError(f"{path} holds a {meta.get('model_class')}, not a GPT.")
    model = GPT(GPTConfig.from_dict(meta["model_config"]))
    load_checkpoint(path, model, restore_rng=False)
    return model.eval(), meta


REFERENCE_GPTS = {"en": "gpt_pydocs", "zh": "gpt_zh"}


def load_reference_gpt(language: str = "en"):
    """The course's trained character-level GPT, ``(model in eval mode,
    CharTokenizer, meta)``: ``"en"`` (``data/gpt_pydocs``, trained on the built-in
    corpus) or ``"zh"`` (``data/gpt_zh``, trained on the People's Daily and the
    training reviews of ``course_lib.chinese``). ``data/README.md`` gives the
    command that made each."""
    if language not in REFERENCE_GPTS:
        raise ValueError(
            f"load_reference_gpt: language must be one of {sorted(REFERENCE_GPTS)}, "
            f"got {language!r}."
        )
    name = REFERENCE_GPTS[language]
    reference = course_file(f"{name}.json").with_suffix("")  # data/gpt_pydocs
    model, meta = load_gpt(reference)
    tokenizer = CharTokenizer.load(course_file(f"{name}.tokenizer.json"))
    if tokenizer.vocab_size != model.config.vocab_size:
        raise CheckpointError(
            f"{reference}.tokenizer.json has {tokenizer.vocab_size} characters, the "
            f"model expects {model.config.vocab_size}."
        )
    return model, tokenizer, meta


def load_results(path=None) -> dict:
    """The pre-computed runs of ``scripts/make_sentiment_results.py`` (a dict with
    ``command``, ``settings`` and ``results``: per run a ``curve`` of ``(step,
    held-out accuracy)``, ``train_accuracy``, ``lr``, ``seconds``). ``path``: default
    the shipped ``data/sentiment_results.json`` ."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"load_results: path must be a str or Path, got {path!r}.")
    if path is None:
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
