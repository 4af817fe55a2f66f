"""The one home of input validation: token ids, sizes, configs, tensors, masks.

Every model, batcher and sampler of the course calls these, so one mistake gets one
message wherever it is made: what was wrong, and how to fix it. A message never comes
from deep inside torch.

Checking costs time only where it must read a tensor's values back to Python (a *host
sync*: the GPU waits, ``torch.compile`` breaks the graph). So the range of token ids is
checked once, where the data enters (``batching``, ``generation``, ``training.train``),
and a model's forward pass only *explains* a bad id: :func:`embed_ids` and
``baselines.lm_loss`` run the lookup, and only if torch refuses it do they look at the
ids to say which one was wrong.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def is_int(x) -> bool:
    """An int that is not a bool (``True`` is an ``int`` to Python, not to us)."""
    return isinstance(x, int) and not isinstance(x, bool)


def shape_of(x) -> tuple | str:
    """What to print for a value that should have been a tensor."""
    return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__


def check_sizes(where: str, **sizes) -> None:
    """Every size must be an int >= 1 (a width, a length, a count)."""
    for name, value in sizes.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{where}: {name} must be an int >= 1, got {value!r}.")


def check_dropout(dropout, where: str) -> None:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
        raise ValueError(f"{where}: dropout must be a number, got {dropout!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{where}: dropout must be in [0, 1), got {dropout!r}.")


def check_config(config, cls, where: str) -> None:
    if not isinstance(config, cls):
        raise ValueError(
            f"{where}: config must be a {cls.__name__}, got {type(config).__name__}; "
            f"build one with {cls.__name__}(...)."
        )


def check_tensor(x, name: str, min_dim: int, where: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{where}: {name} must be a tensor, got {type(x).__name__}.")
    if x.dim() < min_dim:
        raise ValueError(
            f"{where}: {name} must have at least {min_dim} dims (..., rows, width), "
            f"got shape {tuple(x.shape)}."
        )


def check_mask(mask: Tensor, T: int, S: int, name: str = "mask") -> None:
    """A boolean mask (True = may attend) that broadcasts to ``(..., T, S)``."""
    if not isinstance(mask, Tensor):
        raise ValueError(f"{name} must be a bool tensor, got {type(mask).__name__}.")
    if mask.dtype != torch.bool:
        raise ValueError(
            f"{name} must be a bool tensor (True = may attend), "
            f"got dtype {mask.dtype}. "
            "If you have an additive float mask (0 / -inf), use `mask = (m == 0)`."
        )
    if mask.dim() < 2 or mask.shape[-2] not in (1, T) or mask.shape[-1] not in (1, S):
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not broadcast to (..., T={T}, "
            f"S={S}); use causal_mask(T, S) or padding_mask(lengths, S)."
        )


# --------------------------------------------------------------------------- token ids
def check_id_tensor(idx, name: str = "idx", dims: int | None = None) -> None:
    """A tensor of integer ids with ``dims`` dimensions (any if None). Reads no value,
    so it costs no host sync."""
    if not isinstance(idx, Tensor):
        raise ValueError(f"{name} must be a tensor of token ids, got {type(idx)}.")
    if dims is not None and idx.dim() != dims:
        shape = {1: "a 1-D tensor", 2: "(B, T)"}.get(dims, f"{dims}-D")
        raise ValueError(
            f"{name} must be {shape} token ids, got shape {tuple(idx.shape)}."
        )
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must hold integer token ids, got dtype {idx.dtype}.")


def check_token_ids(
    idx,
    vocab_size: int,
    name: str = "idx",
    ignore_index: int | None = None,
    what: str = "token id",
    dims: int | None = None,
) -> None:
    """Integer ids in ``[0, vocab_size)`` (``ignore_index`` allowed too), read with
    one host sync: the smallest and the largest id come back together. ``what``
    names an id in the message (a class label is checked the same way)."""
    check_id_tensor(idx, name, dims)
    if idx.numel() == 0:
        return
    if ignore_index is not None:  # the ignored id stands for "no target here"
        idx = idx.masked_fill(idx == ignore_index, 0)
    low, high = torch.stack(torch.aminmax(idx)).tolist()
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        also = "" if ignore_index is None else f" (or {ignore_index} to ignore one)"
        if what == "token id":
            raise ValueError(
                f"{name} holds token id {bad}, outside the vocabulary [0, {vocab_size})"
                f"{also}; was it encoded with the tokenizer this model was built for?"
            )
        raise ValueError(f"{name} holds {what} {bad}, outside [0, {vocab_size}){also}.")


def embed_ids(embedding: nn.Embedding, idx: Tensor, name: str = "idx") -> Tensor:
    """``embedding(idx)``, with a clear message when an id is outside the table.

    The happy path reads no value (no host sync); only when torch refuses an index
    are the ids read, to name the one that was wrong. (On a GPU a bad id stops the
    device instead: ``training.train`` and ``generation`` check the ids once, up
    front, so it does not come to that.)"""
    check_id_tensor(idx, name)
    try:
        return embedding(idx)
    except IndexError:
        check_token_ids(idx, embedding.num_embeddings, name)
        raise


def check_module(model, where: str) -> None:
    """``model`` must be a ``torch.nn.Module``."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(
            f"{where}: model must be a torch.nn.Module, got {type(model).__name__}."
        )


def is_number(x) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_train_fields(config) -> tuple:
    """Every field of a ``training.TrainConfig``; returns its betas as a tuple."""
    if not isinstance(config.betas, (tuple, list)) or len(config.betas) != 2:
        raise ValueError(
            f"TrainConfig.betas must be a pair (beta1, beta2), got {config.betas!r}."
        )
    positive = ("max_steps", "batch_size", "grad_accum_steps", "block_size")
    positive += ("eval_interval", "eval_steps", "eval_batch_size")
    check_sizes("TrainConfig", **{name: getattr(config, name) for name in positive})
    for name in ("warmup_steps", "seed"):
        value = getattr(config, name)
        if not is_int(value) or value < 0:
            raise ValueError(f"TrainConfig.{name} must be an int >= 0, got {value!r}.")
    if config.decay_steps is not None and not is_int(config.decay_steps):
        raise ValueError(
            "TrainConfig.decay_steps must be an int or None, got "
            f"{config.decay_steps!r}."
        )
    for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
        if not is_number(getattr(config, name)):
            raise ValueError(
                f"TrainConfig.{name} must be a finite number, got "
                f"{getattr(config, name)!r}."
            )
    if not all(is_number(b) and 0.0 <= b < 1.0 for b in config.betas):
        raise ValueError(
            f"TrainConfig.betas must both be in [0, 1), got {config.betas}."
        )
    if not (config.lr > 0 and 0 <= config.min_lr <= config.lr):
        raise ValueError(
            f"TrainConfig: need lr > 0 and 0 <= min_lr <= lr, got lr={config.lr}, "
            f"min_lr={config.min_lr}."
        )
    if config.decay_steps is not None and config.decay_steps <= config.warmup_steps:
        raise ValueError(
            f"TrainConfig.decay_steps={config.decay_steps} must exceed "
            f"warmup_steps={config.warmup_steps}."
        )
    if config.weight_decay < 0 or config.grad_clip < 0:
        raise ValueError(
            "TrainConfig: weight_decay and grad_clip must be >= 0, got "
            f"{config.weight_decay} and {config.grad_clip}."
        )
    if config.autocast not in (None, "bfloat16"):
        raise ValueError(
            f"TrainConfig.autocast must be None or 'bfloat16', got {config.autocast!r} "
            "(float16 would need a gradient scaler; bfloat16 does not)."
        )
    if not isinstance(config.compile, bool):
        raise ValueError(
            f"TrainConfig.compile must be True or False, got {config.compile!r}."
        )
    return tuple(config.betas)
