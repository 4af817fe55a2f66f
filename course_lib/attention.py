"""Scaled dot-product attention, masks, and multi-head attention.

Follows "Attention Is All You Need" (Vaswani et al., 2017), section 3.2:

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V

Shape glossary, used in every module of the course:

    B  batch size                      T  query length (target / tokens we predict)
    S  key/value length (source)       C  model width (embed_dim, d_model)
    H  number of heads                 D  width of one head (C = H · D)
    V  vocabulary size

Masks are boolean and ``True`` means "may attend", as in
``F.scaled_dot_product_attention`` (the opposite of ``nn.MultiheadAttention``'s
``attn_mask``, where ``True`` blocks). A query whose keys are all masked gets zero
weights and a zero output, never NaN.

Every function here has a teaching path (the formula, step by step, returning the
weights) and a fast path (PyTorch's fused ``F.scaled_dot_product_attention``), chosen by
``need_weights``. tests/test_attention.py proves they give the same numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# --------------------------------------------------------------------------- masks
def causal_mask(T: int, S: int | None = None, device=None) -> Tensor:
    """``(T, S)`` bool mask where query ``i`` may attend keys ``j <= i + S - T``.

    With ``S == T`` (the default) this is the lower triangle: each token sees itself and
    the past. With ``S > T`` the queries are the *last* T of S positions, as when new
    tokens attend a KV cache of earlier ones.
    """
    S = T if S is None else S
    if not _is_int(T) or not _is_int(S) or T < 1 or S < T:
        raise ValueError(f"causal_mask: need 1 <= T <= S, got T={T}, S={S}.")
    ones = torch.ones(T, S, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=S - T)  # (T, S)


def padding_mask(lengths: Tensor | list[int], S: int) -> Tensor:
    """``(B, 1, 1, S)`` bool mask that lets every query attend the first ``lengths[b]``
    keys of sequence ``b`` and hides the padding after them.

    The two singleton dims broadcast over heads and queries: pass it straight to
    :class:`MultiHeadAttention` or :func:`scaled_dot_product_attention`.
    """
    if not _is_int(S) or S < 1:
        raise ValueError(f"padding_mask: S must be an int >= 1, got {S!r}.")
    lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(
            f"padding_mask: lengths must be integers, got dtype {lengths.dtype}."
        )
    if lengths.dim() != 1:
        raise ValueError(
            f"padding_mask: lengths must be 1-D (one length per sequence), "
            f"got shape {tuple(lengths.shape)}."
        )
    if len(lengths) and (lengths.min() < 0 or lengths.max() > S):
        raise ValueError(
            f"padding_mask: every length must be in [0, S={S}], got {lengths.tolist()}."
        )
    positions = torch.arange(S, device=lengths.device)  # (S,)
    keep = positions[None, :] < lengths[:, None]  # (B, S)
    return keep[:, None, None, :]  # (B, S) -> (B, 1, 1, S)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_tensor(x, name: str, min_dim: int, where: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{where}: {name} must be a tensor, got {type(x).__name__}.")
    if x.dim() < min_dim:
        raise ValueError(
            f"{where}: {name} must have at least {min_dim} dims (..., rows, width), "
            f"got shape {tuple(x.shape)}."
        )


def _check_batch_dims(shapes: dict[str, tuple], where: str) -> None:
    """The leading (batch, head) dims of every tensor must broadcast together."""
    try:
        torch.broadcast_shapes(*shapes.values())
    except RuntimeError:
        seen = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
        raise ValueError(
            f"{where}: the leading (batch, head) dims do not broadcast: {seen}."
        ) from None


def _check_mask(mask: Tensor, T: int, S: int, name: str = "mask") -> None:
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


# --------------------------------------------------------------------------- attention
def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    need_weights: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """softmax(q kᵀ / √D) v.

    Args:
        q: ``(..., T, D)`` queries.
        k: ``(..., S, D)`` keys.
        v: ``(..., S, Dv)`` values.
        mask: optional bool, broadcastable to ``(..., T, S)``; ``True`` = may attend.
        dropout_p: probability of dropping an attention weight (use 0 at eval time).
        is_causal: also apply ``causal_mask(T, S)``.
        need_weights: ``True`` takes the teaching path and returns the weights;
            ``False`` takes PyTorch's fused kernel and returns ``None`` for them.

    Returns:
        ``(out, weights)``: out ``(..., T, Dv)``, weights ``(..., T, S)`` or ``None``.

    Raises ``ValueError`` when q and k widths differ, k and v lengths differ, or the
    mask is not a bool tensor that broadcasts to ``(..., T, S)``, an input is not a
    tensor of 2+ dims, the leading dims do not broadcast, or ``dropout_p`` is outside
    ``[0, 1)``.
    """
    where = "scaled_dot_product_attention"
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_tensor(x, name, 2, where)
    T, D = q.shape[-2], q.shape[-1]
    S = k.shape[-2]
    if k.shape[-1] != D:
        raise ValueError(
            f"q and k must have the same width D: q is {tuple(q.shape)}, "
            f"k is {tuple(k.shape)}."
        )
    if v.shape[-2] != S:
        raise ValueError(
            f"k and v must have the same length S: k is {tuple(k.shape)}, "
            f"v is {tuple(v.shape)}."
        )
    batch = {"q": q.shape[:-2], "k": k.shape[:-2], "v": v.shape[:-2]}
    if mask is not None:
        _check_mask(mask, T, S)
        batch["mask"] = mask.shape[:-2]
    _check_batch_dims(batch, where)
    if not isinstance(dropout_p, (int, float)) or not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{where}: dropout_p must be in [0, 1), got {dropout_p!r}.")
    if not need_weights and is_causal and mask is None and T == S:
        # the common GPT case: let the fused kernel skip the future itself
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout_p, is_causal=True
        )
        return out, None
    if is_causal:
        causal = causal_mask(T, S, device=q.device)
        mask = causal if mask is None else mask & causal

    if not need_weights:  # fast path: one fused kernel, no (T, S) matrix kept around
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p
        )
        if mask is not None:  # a query with no key left gets 0, on every backend
            out = out.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
        return out, None

    # (..., T, D) @ (..., D, S) -> (..., T, S)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T, S), each row sums to 1 over keys
    if mask is not None:
        # a fully masked row is all -inf, NaN after softmax: make it 0 instead
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)


# --------------------------------------------------------------------------- backward
def attention_backward(
    q: Tensor, k: Tensor, v: Tensor, weights: Tensor, grad_out: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of attention, written by hand (chapter 03 derives them).

    Forward, with d = √D:  Sc = q kᵀ / d,  P = softmax(Sc),  out = P v.
    Given ``grad_out`` = ∂L/∂out, the chain rule backwards gives

        dV = Pᵀ dOut                          (..., S, Dv)
        dP = dOut vᵀ                          (..., T, S)
        dSc = P ⊙ (dP − rowsum(dP ⊙ P))      (..., T, S)   through the softmax
        dQ = dSc k / d                        (..., T, D)
        dK = dScᵀ q / d                       (..., S, D)

    ``weights`` is P as returned by :func:`scaled_dot_product_attention` (without
    dropout). Masked keys have P = 0, so they get no gradient, as in autograd; a fully
    masked query (a zero row of P) gives zero gradients too.

    Returns ``(dq, dk, dv)`` with the shapes of q, k, v.
    Raises ``ValueError`` when the shapes do not fit together.
    """
    where = "attention_backward"
    for name, x in (("q", q), ("k", k), ("v", v), ("weights", weights)):
        _check_tensor(x, name, 2, where)
    _check_tensor(grad_out, "grad_out", 2, where)
    T, D = q.shape[-2:]
    S = k.shape[-2]
    if k.shape[-1] != D or v.shape[-2] != S:
        raise ValueError(
            f"{where}: k must be (..., S, D={D}) and v (..., S, Dv) with the same S, "
            f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}."
        )
    expected = {
        "weights": (weights, (T, S)),
        "grad_out": (grad_out, (T, v.shape[-1])),
    }
    for name, (x, (rows, cols)) in expected.items():
        if tuple(x.shape[-2:]) != (rows, cols):
            raise ValueError(
                f"attention_backward: {name} must end in (T={rows}, {cols}) for q "
                f"{tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}; "
                f"got {tuple(x.shape)}."
            )
    scale = 1.0 / math.sqrt(D)
    dv = weights.transpose(-2, -1) @ grad_out  # (..., S, T) @ (T, Dv) -> (..., S, Dv)
    dp = grad_out @ v.transpose(-2, -1)  # (..., T, Dv) @ (..., Dv, S) -> (..., T, S)
    # softmax's Jacobian is diag(P) − P Pᵀ per row; applied to dP it is this:
    ds = weights * (dp - (dp * weights).sum(dim=-1, keepdim=True))  # (..., T, S)
    dq = ds @ k * scale  # (..., T, S) @ (..., S, D) -> (..., T, D)
    dk = ds.transpose(-2, -1) @ q * scale  # (..., S, T) @ (..., T, D) -> (..., S, D)
    return dq, dk, dv


# --------------------------------------------------------------------------- KV cache
class KVCache:
    """The keys and values of every token one attention layer has seen so far.

    During generation each new token only needs its own query, but it attends the keys
    and values of *all* earlier tokens. Keeping them here means they are computed once
    instead of again at every step (chapter 08 measures the speed-up).
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None  # (B, H, S, D)
        self.v: Tensor | None = None  # (B, H, S, D)

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

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
        for name, x, have in (("k", k, self.k), ("v", v, self.v)):
            if have is not None and (
                x.shape[:2] != have.shape[:2] or x.shape[3] != have.shape[3]
            ):
                raise ValueError(
                    f"KVCache.append: {name} of shape {tuple(x.shape)} does not fit "
                    f"the cache's (B, H, S, D) = {tuple(have.shape)}: B, H and D must "
                    "match."
                )
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat(
                [self.k, k], dim=-2
            )  # (B, H, S, D) -> (B, H, S+S_new, D)
            self.v = torch.cat([self.v, v], dim=-2)
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
        if not (_is_int(embed_dim) and _is_int(num_heads)):
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
