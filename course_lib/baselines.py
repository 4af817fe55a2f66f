"""The baselines of chapter 01, and the language-model loss every model shares.

- ``BigramLanguageModel``: P(next | current) from a ``(V, V)`` table.
- ``LSTMLanguageModel``: a recurrent network that carries the past in a fixed state.
- :func:`lm_loss`: mean cross-entropy of ``logits`` ``(B, T, V)`` against ``targets``
  ``(B, T)``, the loss of these two and of the GPT (chapter 07).

Language models share one interface: ``forward(idx, targets=None) -> (logits, loss)``
with ``idx`` ``(B, T)`` token ids, ``logits`` ``(B, T, V)``, and ``loss`` the mean
cross-entropy against ``targets`` (None without targets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import (
    check_dropout,
    check_id_tensor,
    check_sizes,
    check_token_ids,
    embed_ids,
    shape_of,
)

IGNORE_INDEX = -1  # a target of -1 means "no target here": the loss skips it


def lm_loss(logits: Tensor, targets: Tensor | None, where: str) -> Tensor | None:
    """Mean cross-entropy of ``logits`` ``(B, T, V)`` against ``targets`` ``(B, T)``
    (None without targets). Targets of -1 are skipped. The shape is checked for free;
    the ids' range only if torch refuses one (see ``course_lib.checks``)."""
    if targets is None:
        return None
    B, T, V = logits.shape
    check_id_tensor(targets, f"{where}: targets")
    if tuple(targets.shape) != (B, T):
        raise ValueError(
            f"{where}: targets must be (B, T) = {(B, T)} like idx, got "
            f"{shape_of(targets)}."
        )
    flat = targets.reshape(B * T).long()
    try:
        return F.cross_entropy(
            logits.reshape(B * T, V), flat, ignore_index=IGNORE_INDEX
        )
    except IndexError:
        check_token_ids(targets, V, f"{where}: targets", IGNORE_INDEX)
        raise


class BigramLanguageModel(nn.Module):
    """P(next | current) read from a ``(V, V)`` table of logits: row ``a`` holds the
    scores of every token that may follow token ``a``. Trained to convergence it
    equals the normalised bigram counts."""

    def __init__(self, vocab_size: int):
        super().__init__()
        check_sizes("BigramLanguageModel", vocab_size=vocab_size)
        self.vocab_size = vocab_size
        # an embedding of width V is the table of logits, one row per current token
        self.logits_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        check_id_tensor(idx, "BigramLanguageModel: idx", dims=2)
        logits = embed_ids(self.logits_table, idx)  # (B, T) -> (B, T, V)
        return logits, lm_loss(logits, targets, "BigramLanguageModel")


class LSTMLanguageModel(nn.Module):
    """Embedding -> ``num_layers`` stacked LSTMs -> linear read-out to ``V`` logits.

    The recurrent baseline of chapter 01 (Hochreiter & Schmidhuber, 1997): the whole
    past is squeezed into a state of ``hidden_size`` numbers carried from step to step,
    the bottleneck attention removes. Each call starts from a zero state.
    ``d_model`` is the embedding width (``C``); ``hidden_size`` and ``num_layers``
    are ``nn.LSTM``'s own names.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_sizes(
            "LSTMLanguageModel",
            vocab_size=vocab_size,
            d_model=d_model,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        check_dropout(dropout, "LSTMLanguageModel")
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, d_model)
        # PyTorch applies dropout between stacked layers only
        self.lstm = nn.LSTM(
            d_model,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        check_id_tensor(idx, "LSTMLanguageModel: idx", dims=2)
        x = embed_ids(self.embed, idx)  # (B, T) -> (B, T, C)
        h, _ = self.lstm(x)  # (B, T, C) -> (B, T, hidden_size)
        logits = self.head(h)  # (B, T, hidden_size) -> (B, T, V)
        return logits, lm_loss(logits, targets, "LSTMLanguageModel")
