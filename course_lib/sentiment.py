"""Chinese sentiment from the course's own fine-tuned GPT (chapter 09).

    >>> sentiment_zh(["我非常喜欢这部电影", "质量太差了，不推荐"])
    [0.9..., 0.0...]

The model is chapter 08's character-level Chinese GPT (``load_reference_gpt("zh")``)
with a linear head on its mean-pooled hidden states, fine-tuned on the training
reviews of ``course_lib.chinese.chinese_reviews`` and kept at its best validation
accuracy (``data/sentiment_zh.*``; ``scripts/make_zh_models.py finetune`` made it and
``data/sentiment_zh_results.json`` holds its test accuracy next to the baselines).
It reads the first 128 characters of a text; a character it never saw in
pretraining reads as the unknown character ``�``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from course_lib.artefacts import course_file
from course_lib.checkpoints import CheckpointError, load_checkpoint, read_checkpoint
from course_lib.chinese import encode_texts
from course_lib.classification import GPTEncoder, SequenceClassifier
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer


@lru_cache(maxsize=1)
def load_sentiment_zh():
    """``(classifier in eval mode, CharTokenizer, extra)`` from ``data/sentiment_zh``
    (verified on load; loaded once per process)."""
    path = course_file("sentiment_zh.json").with_suffix("")
    meta, _ = read_checkpoint(path)
    extra = meta.get("extra") or {}
    if not {"gpt_config", "pooling", "pad", "max_len", "tokenizer"} <= set(extra):
        raise CheckpointError(f"{path} is not the course's Chinese sentiment model.")
    gpt = GPT(GPTConfig.from_dict(extra["gpt_config"]))
    tokenizer = CharTokenizer.load(course_file(extra["tokenizer"]))
    model = SequenceClassifier(
        GPTEncoder(gpt), 2, extra["pooling"], pad_token_id=tokenizer.stoi[extra["pad"]]
    )
    load_checkpoint(path, model, restore_rng=False)
    return model.eval(), tokenizer, extra


@torch.no_grad()
def sentiment_zh(texts: list[str]) -> list[float]:
    """P(positive) for each text, from the course's fine-tuned Chinese GPT.

    ``[]`` gives ``[]``. Raises ``TypeError`` when ``texts`` is not a list of ``str``
    (one text goes in as ``[text]``) and ``ValueError`` for an empty text."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"sentiment_zh: texts must be a list of str, got {type(texts).__name__}; "
            "for one text pass [text]."
        )
    for i, text in enumerate(texts):  # before the model loads
        if not isinstance(text, str):
            raise TypeError(
                f"sentiment_zh: texts[{i}] must be a str, got {type(text).__name__}."
            )
    if len(texts) == 0:
        return []
    model, tokenizer, extra = load_sentiment_zh()
    ids = encode_texts(tokenizer, list(texts), extra["max_len"], extra["pad"])
    logits, _ = model(ids)  # (N, T) -> (N, 2)
    return torch.softmax(logits, dim=-1)[:, 1].tolist()
