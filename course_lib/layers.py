"""The layers a Transformer is stacked from: the position-wise feed-forward network,
positional encodings, and the encoder and decoder blocks.

Follows "Attention Is All You Need" (Vaswani et al., 2017), sections 3.1 and 3.3-3.5,
with one option from GPT-2: ``norm_first=True`` puts LayerNorm before each sub-layer
(pre-norm) instead of after the residual sum (post-norm, the paper). The blocks mirror
``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` (``batch_first=True``)
sub-layer for sub-layer, so weights copy across by name; tests/test_layers.py proves
them equal. Shapes use the glossary of ``course_lib.attention``.

Masks follow ``MultiHeadAttention``: bool, ``True`` = may attend.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.checks import check_dropout, check_sizes, is_int
from course_lib.multi_head import KVCache, MultiHeadAttention, copy_mha_from_torch

ACTIVATIONS = {
    "relu": F.relu,  # the paper
    "gelu": F.gelu,  # BERT; nn.TransformerEncoderLayer(activation="gelu")
    "gelu_tanh": functools.partial(F.gelu, approximate="tanh"),  # GPT-2
}


def get_activation(name: str):
    """The function named ``name`` in ``ACTIVATIONS``."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is not one of {', '.join(map(repr, ACTIVATIONS))}."
        )
    return ACTIVATIONS[name]


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
    if not isinstance(base, (int, float)) or not base > 0:
        raise ValueError(f"sinusoidal_positions: base must be > 0, got {base!r}.")
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
        check_sizes("LearnedPositions", max_len=max_len, C=C)
        self.max_len = max_len
        self.weight = nn.Parameter(torch.randn(max_len, C) * 0.02)  # (max_len, C)

    def forward(self, T: int) -> torch.Tensor:
        if not is_int(T) or not 1 <= T <= self.max_len:
            raise ValueError(
                f"LearnedPositions: T={T} positions asked, this table holds "
                f"1..{self.max_len} (max_len)."
            )
        return self.weight[:T]  # (T, C)


# --- end of positional encodings ------------------------------------------------------


# ------------------------------------------------------------------ feed-forward
class FeedForward(nn.Module):
    """FFN(x) = activation(x W₁ + b₁) W₂ + b₂, applied to each position on its own.

    ``(B, T, C) -> (B, T, C)``, widening to ``d_ff`` in between (paper: 512 -> 2048).
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_sizes("FeedForward", d_model=d_model, d_ff=d_ff)
        check_dropout(dropout, "FeedForward")
        self.activation = activation
        self._act = get_activation(activation)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        C = self.linear1.in_features
        if not isinstance(x, Tensor) or x.dim() < 1 or x.shape[-1] != C:
            seen = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"FeedForward: x must be (..., C={C}), got {seen}.")
        hidden = self._act(self.linear1(x))  # (B, T, C) -> (B, T, d_ff)
        return self.linear2(self.dropout(hidden))  # (B, T, d_ff) -> (B, T, C)


# --------------------------------------------------------------------------- blocks
class EncoderBlock(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and a
    LayerNorm (after the sum when ``norm_first=False``, before the sub-layer when True).

    With ``norm_first=True``, ``activation="gelu_tanh"`` and ``is_causal=True`` this is
    exactly a GPT-2 block; ``course_lib.gpt.GPT`` stacks it.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        bias: bool = True,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """``x`` ``(B, T, C)`` -> ``(x, weights)``; weights ``(B, H, T, S)`` or None."""

        def attend(h):
            return self.self_attn(
                h,
                h,
                h,
                mask,
                need_weights=need_weights,
                is_causal=is_causal,
                cache=cache,
            )

        if self.norm_first:  # pre-norm (GPT): x + f(norm(x))
            attended, weights = attend(self.norm1(x))
            x = x + self.dropout1(attended)
            x = x + self.dropout2(self.ffn(self.norm2(x)))
        else:  # post-norm (the paper): norm(x + f(x))
            attended, weights = attend(x)
            x = self.norm1(x + self.dropout1(attended))
            x = self.norm2(x + self.dropout2(self.ffn(x)))
        return x, weights


class DecoderBlock(nn.Module):
    """Masked self-attention over the target, cross-attention to the encoder's output
    (``memory``), then feed-forward; each with a residual connection and a LayerNorm."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        bias: bool = True,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation, bias=bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        y: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``y`` ``(B, T, C)``, ``memory`` ``(B, S, C)`` -> ``(y, self_weights,
        cross_weights)``; the weights are ``(B, H, T, T)`` and ``(B, H, T, S)`` when
        ``need_weights``, else None. ``memory_mask`` broadcasts to ``(B, H, T, S)``
        (e.g. ``padding_mask(src_lengths, S)``)."""

        def self_block(h):
            return self.self_attn(
                h, h, h, tgt_mask, need_weights=need_weights, is_causal=tgt_is_causal
            )

        def cross_block(h):
            return self.cross_attn(h, memory, memory, memory_mask, need_weights)

        if self.norm_first:
            attended, self_weights = self_block(self.norm1(y))
            y = y + self.dropout1(attended)
            attended, cross_weights = cross_block(self.norm2(y))
            y = y + self.dropout2(attended)
            y = y + self.dropout3(self.ffn(self.norm3(y)))
        else:
            attended, self_weights = self_block(y)
            y = self.norm1(y + self.dropout1(attended))
            attended, cross_weights = cross_block(y)
            y = self.norm2(y + self.dropout2(attended))
            y = self.norm3(y + self.dropout3(self.ffn(y)))
        return y, self_weights, cross_weights


def copy_block_from_torch(
    ours: EncoderBlock | DecoderBlock,
    ref: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer,
) -> None:
    """Copy the weights of PyTorch's encoder/decoder layer into our block of the same
    size. PyTorch's names: ``linear1``/``linear2`` (our ``ffn.linear1``/
    ``ffn.linear2``), ``multihead_attn`` (our ``cross_attn``); the norms share ours."""
    # by the parts it has, so a learner's own block with our names works too
    if not isinstance(ref, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        raise ValueError(
            "copy_block_from_torch: ref must be an nn.TransformerEncoderLayer or "
            f"nn.TransformerDecoderLayer, got {type(ref).__name__}."
        )
    decoder = isinstance(ref, nn.TransformerDecoderLayer)
    needed = ["self_attn", "norm1", "norm2", "ffn"]
    needed += ["cross_attn", "norm3"] if decoder else []
    missing = [name for name in needed if not hasattr(ours, name)]
    if missing or not isinstance(ours, nn.Module):
        raise ValueError(
            "copy_block_from_torch: expected (EncoderBlock, nn.TransformerEncoderLayer)"
            f" or (DecoderBlock, nn.TransformerDecoderLayer), got "
            f"({type(ours).__name__}, {type(ref).__name__}): ours lacks "
            f"{', '.join(missing) or 'nothing, but is not an nn.Module'}."
        )
    pairs = [(ours.self_attn, ref.self_attn)]
    if decoder:
        pairs.append((ours.cross_attn, ref.multihead_attn))
    for mine, theirs in pairs:
        copy_mha_from_torch(mine, theirs)
    names = ["norm1", "norm2"] + (["norm3"] if decoder else [])
    modules = [(getattr(ours, n), getattr(ref, n)) for n in names]
    modules += [(ours.ffn.linear1, ref.linear1), (ours.ffn.linear2, ref.linear2)]
    with torch.no_grad():
        for mine, theirs in modules:
            if mine.weight.shape != theirs.weight.shape:
                raise ValueError(
                    f"shape mismatch: ours {tuple(mine.weight.shape)}, "
                    f"reference {tuple(theirs.weight.shape)}."
                )
            mine.weight.copy_(theirs.weight)
            if mine.bias is not None:
                mine.bias.copy_(theirs.bias)
