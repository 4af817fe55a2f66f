"""Layers the models are built from: positional encodings, feed-forward network,
encoder and decoder blocks (Vaswani et al., 2017, "Attention Is All You Need")."""

from __future__ import annotations

import torch
from torch import nn

# --- positional encodings (chapter 02) ------------------------------------------------


def sinusoidal_positions(T: int, C: int, base: float = 10000.0) -> torch.Tensor:
    """The paper's fixed positional encoding, a ``(T, C)`` float tensor (section 3.5):

        PE[pos, 2i]     = sin(pos / base^(2i / C))
        PE[pos, 2i + 1] = cos(pos / base^(2i / C))

    Each pair of channels turns at its own frequency, from one turn per 2π positions
    (i = 0) down to one per 2π·base positions, so nearby positions get similar vectors
    and any fixed offset is a rotation the model can learn to read.

    Raises ``ValueError`` unless ``T >= 1`` and ``C`` is even and >= 2.
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"sinusoidal_positions: T must be an int >= 1, got {T!r}.")
    if not isinstance(C, int) or C < 2 or C % 2:
        raise ValueError(
            f"sinusoidal_positions: C must be an even int >= 2, got {C!r}: channels "
            "come in (sin, cos) pairs."
        )
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, C, 2, dtype=torch.float64)  # (C/2,)
    # computed in float64 so that large positions keep their phase, then cast
    angle = pos / base ** (two_i / C)  # (T, C/2)
    pe = torch.empty(T, C, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.to(torch.get_default_dtype())


class LearnedPositions(nn.Module):
    """Learned absolute positions (as in GPT): one trained C-vector per position,
    for at most ``max_len`` positions. ``forward(T)`` returns the ``(T, C)`` table
    to add to the token embeddings."""

    def __init__(self, max_len: int, C: int):
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.randn(max_len, C) * 0.02)  # (max_len, C)

    def forward(self, T: int) -> torch.Tensor:
        if not 1 <= T <= self.max_len:
            raise ValueError(
                f"LearnedPositions: T={T} positions asked, this table holds "
                f"1..{self.max_len} (max_len)."
            )
        return self.weight[:T]  # (T, C)


# --- end of positional encodings ------------------------------------------------------
