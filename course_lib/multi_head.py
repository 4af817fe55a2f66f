"""Multi-head attention (chapter 04) and the KV cache that speeds up generation
(chapter 08).

``MultiHeadAttention`` takes ``(query, key, value, mask)`` like
``nn.MultiheadAttention`` with ``batch_first=True`` (and its names: ``embed_dim``,
``num_heads``), splits the width ``C`` into ``H`` heads of ``D = C / H``, runs
``course_lib.attention.scaled_dot_product_attention`` on each, and joins them.
:func:`copy_mha_from_torch` copies the weights of an ``nn.MultiheadAttention`` in, so
tests/test_multi_head.py can prove both compute the same. Shapes: see
``course_lib.attention``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.attention import scaled_dot_product_attention
from course_lib.checks import is_int


# --------------------------------------------------------------------------- KV cache
class KVCache:
    """The keys and values of every token one attention layer has seen so far.

    During generation each new token only needs its own query, but it attends the keys
    and values of *all* earlier tokens. Keeping them here means they are computed once
    instead of again at every step (chapter 08 measures the speed-up).

    With ``max_len`` (``GPT.new_caches`` passes the block size) the first append
    allocates room for ``max_len`` tokens and later ones are written in place: no copy
    of the whole cache per token, as a ``torch.cat`` would make. ``k`` and ``v`` are
    views of the filled part, ``(B, H, S, D)``; assigning them (beam search reorders
    the rows) replaces the contents.
    """

    def __init__(self, max_len: int | None = None) -> None:
        if max_len is not None and (not is_int(max_len) or max_len < 1):
            raise ValueError(f"KVCache: max_len must be an int >= 1, got {max_len!r}.")
        self.max_len = max_len
        self._k: Tensor | None = None  # (B, H, max_len or S, D)
        self._v: Tensor | None = None
        self._len = 0

    def __len__(self) -> int:
        return self._len

    @property
    def k(self) -> Tensor | None:
        return None if self._k is None else self._k[:, :, : self._len]

    @property
    def v(self) -> Tensor | None:
        return None if self._v is None else self._v[:, :, : self._len]

    @k.setter
    def k(self, k: Tensor) -> None:
        self._k, self._len = self._room(k), k.shape[-2]

    @v.setter
    def v(self, v: Tensor) -> None:
        self._v = self._room(v)

    def _room(self, x: Tensor) -> Tensor:
        """``x`` copied into a buffer with room for ``max_len`` tokens (if set)."""
        if self.max_len is None or x.shape[-2] >= self.max_len:
            return x
        buffer = x.new_empty(*x.shape[:2], self.max_len, x.shape[3])
        buffer[:, :, : x.shape[-2]] = x
        return buffer

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new tokens' ``(B, H, S_new, D)`` keys and values; return all.

        Raises ``ValueError`` unless k and v are 4-D, agree with each other and with
        what is cached in every dim but S."""
        for name, x in (("k", k), ("v", v)):
            if not isinstance(x, Tensor) or x.dim() != 4:
                seen = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(
                    f"KVCache.append: {name} must be (B, H, S_new, D), got {seen}."
                )
        if k.shape[:3] != v.shape[:3]:
            raise ValueError(
                f"KVCache.append: k {tuple(k.shape)} and v {tuple(v.shape)} must share "
                "B, H and the number of new tokens S_new."
            )
        for name, x, have in (("k", k, self._k), ("v", v, self._v)):
            if have is not None and (
                x.shape[:2] != have.shape[:2] or x.shape[3] != have.shape[3]
            ):
                raise ValueError(
                    f"KVCache.append: {name} of shape {tuple(x.shape)} does not fit "
                    f"the cache's (B, H, S, D) = {tuple(self.k.shape)}: B, H and D "
                    "must match."
                )
        end = self._len + k.shape[-2]
        in_place = self._k is not None and end <= self._k.shape[-2]
        if in_place and not (torch.is_grad_enabled() and k.requires_grad):
            self._k[:, :, self._len : end] = k  # write into the room left
            self._v[:, :, self._len : end] = v
            self._len = end
            return self._k[:, :, :end], self._v[:, :, :end]
        elif self._k is None:
            self.k, self.v = k, v
        else:  # no room left, or autograd needs the old tensors: a new one
            k, v = torch.cat([self.k, k], dim=-2), torch.cat([self.v, v], dim=-2)
            self.k, self.v = k, v  # (B, H, S + S_new, D)
        return self.k, self.v


# --------------------------------------------------------------------------- multi-head
class MultiHeadAttention(nn.Module):
    """Multi-head attention (section 3.2.2 of the paper), batch first.

    Projects queries, keys and values with ``q_proj``, ``k_proj``, ``v_proj``, splits
    the width C into H heads of width D = C / H, attends in each head independently,
    merges the heads back and projects with ``out_proj``. Equal to
    ``nn.MultiheadAttention(batch_first=True)`` given the same weights (see
    tests/test_attention.py).
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        if not (is_int(embed_dim) and is_int(num_heads)):
            raise ValueError(
                f"MultiHeadAttention: embed_dim and num_heads must be ints, got "
                f"embed_dim={embed_dim!r}, num_heads={num_heads!r}."
            )
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim={embed_dim} must be a positive multiple of "
                f"num_heads={num_heads}: each head gets embed_dim // num_heads numbers."
            )
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"MultiHeadAttention: dropout must be in [0, 1), got {dropout!r}."
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def split_heads(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        x = x.view(B, T, self.num_heads, self.head_dim)  # (B, T, C) -> (B, T, H, D)
        return x.transpose(1, 2)  # (B, T, H, D) -> (B, H, T, D)

    def merge_heads(self, x: Tensor) -> Tensor:
        B, H, T, D = x.shape
        x = x.transpose(1, 2)  # (B, H, T, D) -> (B, T, H, D)
        return x.reshape(B, T, H * D)  # (B, T, H, D) -> (B, T, C)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = False,
        is_causal: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` ``(B, T, C)`` to ``key``/``value`` ``(B, S, C)``.

        ``mask``: bool, broadcastable to ``(B, H, T, S)``, ``True`` = may attend.
        ``is_causal``: each query sees only keys at or before its own position.
        ``cache``: a :class:`KVCache`; the new keys/values are appended to it and the
        queries attend everything cached (then S counts the cached tokens too).
        Returns ``(out, weights)``: out ``(B, T, C)``; weights ``(B, H, T, S)`` when
        ``need_weights`` (the teaching path), else ``None`` (the fused fast path).
        """
        for name, x in (("query", query), ("key", key), ("value", value)):
            if (
                not isinstance(x, Tensor)
                or x.dim() != 3
                or x.shape[-1] != self.embed_dim
            ):
                seen = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(
                    f"{name} must be (B, T, C={self.embed_dim}), got {seen}."
                )
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(
                f"query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                f"{tuple(value.shape)} must share B, and key and value must share S."
            )
        if cache is not None and not isinstance(cache, KVCache):
            raise ValueError(
                f"cache must be a KVCache or None, got {type(cache).__name__}."
            )
        q = self.split_heads(self.q_proj(query))  # (B, T, C) -> (B, H, T, D)
        k = self.split_heads(self.k_proj(key))  # (B, S, C) -> (B, H, S, D)
        v = self.split_heads(self.v_proj(value))  # (B, S, C) -> (B, H, S, D)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H, S_cached + S, D)
        dropout_p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, dropout_p, is_causal=is_causal, need_weights=need_weights
        )
        return self.out_proj(self.merge_heads(out)), weights  # (B, T, C), (B, H, T, S)


def copy_mha_from_torch(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    """Copy the weights of PyTorch's ``nn.MultiheadAttention`` into ours.

    PyTorch keeps the three input projections stacked in one ``(3C, C)`` matrix
    ``in_proj_weight`` (rows: q, then k, then v); we keep three ``nn.Linear``.
    """
    if not isinstance(ours, MultiHeadAttention) or not isinstance(
        ref, nn.MultiheadAttention
    ):
        raise ValueError(
            "copy_mha_from_torch: expected (MultiHeadAttention, "
            f"nn.MultiheadAttention), got ({type(ours).__name__}, "
            f"{type(ref).__name__})."
        )
    C = ours.embed_dim
    if ref.embed_dim != C or ref.num_heads != ours.num_heads:
        raise ValueError(
            f"shape mismatch: ours has embed_dim={C}, num_heads={ours.num_heads}; "
            f"the reference has {ref.embed_dim}, {ref.num_heads}."
        )
    if ref.in_proj_weight is None:
        raise ValueError(
            "the reference uses separate kdim/vdim projections; unsupported."
        )
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(ref.in_proj_weight[i * C : (i + 1) * C])
            if proj.bias is not None:
                proj.bias.copy_(ref.in_proj_bias[i * C : (i + 1) * C])
        ours.out_proj.weight.copy_(ref.out_proj.weight)
        if ours.out_proj.bias is not None:
            ours.out_proj.bias.copy_(ref.out_proj.bias)
