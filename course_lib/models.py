"""Models: the encoder-decoder ``Transformer``, the decoder-only ``GPT``, and the two
baselines they are measured against, ``BigramLanguageModel`` and
``LSTMLanguageModel``.

Every language model here has the same interface: ``forward(idx, targets=None)``
takes ``(B, T)`` token ids and returns ``(logits, loss)`` with logits ``(B, T, V)``
and ``loss`` the mean cross-entropy against ``targets`` (``None`` without them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --- baselines (chapter 01): bigram and LSTM language models --------------------------


def _check_idx(idx: torch.Tensor, vocab_size: int, where: str, name: str = "idx"):
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx)
        raise ValueError(
            f"{where}: {name} must be a (B, T) tensor of ids, got {shape}."
        )
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{where}: {name} must hold integer ids, got {idx.dtype}.")
    if idx.numel() and (idx.min() < 0 or idx.max() >= vocab_size):
        raise ValueError(
            f"{where}: {name} holds ids in [{idx.min().item()}, {idx.max().item()}], "
            f"expected [0, {vocab_size}) for vocab_size={vocab_size}."
        )


def _lm_loss(
    logits: torch.Tensor, targets: torch.Tensor | None, where: str
) -> torch.Tensor | None:
    if targets is None:
        return None
    B, T, V = logits.shape
    _check_idx(targets, V, where, "targets")
    if tuple(targets.shape) != (B, T):
        raise ValueError(
            f"{where}: targets has shape {tuple(targets.shape)}, expected (B, T) = "
            f"{(B, T)} like idx."
        )
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))


class BigramLanguageModel(nn.Module):
    """P(next | current) read from a ``(V, V)`` table of logits: row ``a`` holds the
    scores of every token that may follow token ``a``. Trained to convergence it
    equals the normalised bigram counts."""

    def __init__(self, vocab_size: int):
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(
                "BigramLanguageModel: vocab_size must be an int >= 1, "
                f"got {vocab_size!r}."
            )
        self.vocab_size = vocab_size
        # an embedding of width V is the table of logits, one row per current token
        self.logits_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        _check_idx(idx, self.vocab_size, "BigramLanguageModel")
        logits = self.logits_table(idx)  # (B, T) -> (B, T, V)
        return logits, _lm_loss(logits, targets, "BigramLanguageModel")


class LSTMLanguageModel(nn.Module):
    """Embedding -> ``n_layers`` stacked LSTMs -> linear read-out to ``V`` logits.

    The recurrent baseline of chapter 01 (Hochreiter & Schmidhuber, 1997): the whole
    past is squeezed into a state of ``n_hidden`` numbers carried from step to step,
    the bottleneck attention removes. Each call starts from a zero state.
    """

    def __init__(
        self,
        vocab_size: int,
        n_embd: int = 64,
        n_hidden: int = 256,
        n_layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        for name, value in [
            ("vocab_size", vocab_size),
            ("n_embd", n_embd),
            ("n_hidden", n_hidden),
            ("n_layers", n_layers),
        ]:
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"LSTMLanguageModel: {name} must be an int >= 1, got {value!r}."
                )
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, n_embd)
        # PyTorch applies dropout between stacked layers only
        self.lstm = nn.LSTM(
            n_embd,
            n_hidden,
            num_layers=n_layers,
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
        )
        self.head = nn.Linear(n_hidden, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        _check_idx(idx, self.vocab_size, "LSTMLanguageModel")
        x = self.embed(idx)  # (B, T) -> (B, T, n_embd)
        h, _ = self.lstm(x)  # (B, T, n_embd) -> (B, T, n_hidden)
        logits = self.head(h)  # (B, T, n_hidden) -> (B, T, V)
        return logits, _lm_loss(logits, targets, "LSTMLanguageModel")


# --- end of baselines -----------------------------------------------------------------
