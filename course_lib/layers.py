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

from course_lib.attention import KVCache, MultiHeadAttention, copy_mha_from_torch

ACTIVATIONS = {
    "relu": F.relu,  # the paper
    "gelu": F.gelu,  # BERT; nn.TransformerEncoderLayer(activation="gelu")
    "gelu_tanh": functools.partial(F.gelu, approximate="tanh"),  # GPT-2
}


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is not one of {', '.join(map(repr, ACTIVATIONS))}."
        )
    return ACTIVATIONS[name]


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
        self.activation = activation
        self._act = _activation(activation)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self._act(self.linear1(x))  # (B, T, C) -> (B, T, d_ff)
        return self.linear2(self.dropout(hidden))  # (B, T, d_ff) -> (B, T, C)


# --------------------------------------------------------------------------- blocks
class EncoderBlock(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and a
    LayerNorm (after the sum when ``norm_first=False``, before the sub-layer when True).

    With ``norm_first=True``, ``activation="gelu_tanh"`` and ``is_causal=True`` this is
    exactly a GPT-2 block; ``course_lib.models.GPT`` stacks it.
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
    pairs = [(ours.self_attn, ref.self_attn)]
    if isinstance(ours, DecoderBlock):
        pairs.append((ours.cross_attn, ref.multihead_attn))
    for mine, theirs in pairs:
        copy_mha_from_torch(mine, theirs)
    names = ["norm1", "norm2"] + (["norm3"] if isinstance(ours, DecoderBlock) else [])
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
