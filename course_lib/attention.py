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
from torch import Tensor

from course_lib.checks import check_mask, check_tensor, is_int


# --------------------------------------------------------------------------- masks
def causal_mask(T: int, S: int | None = None, device=None) -> Tensor:
    """``(T, S)`` bool mask where query ``i`` may attend keys ``j <= i + S - T``.

    With ``S == T`` (the default) this is the lower triangle: each token sees itself and
    the past. With ``S > T`` the queries are the *last* T of S positions, as when new
    tokens attend a KV cache of earlier ones.
    """
    S = T if S is None else S
    if not is_int(T) or not is_int(S) or T < 1 or S < T:
        raise ValueError(f"causal_mask: need 1 <= T <= S, got T={T}, S={S}.")
    ones = torch.ones(T, S, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=S - T)  # (T, S)


def padding_mask(lengths: Tensor | list[int], S: int) -> Tensor:
    """``(B, 1, 1, S)`` bool mask that lets every query attend the first ``lengths[b]``
    keys of sequence ``b`` and hides the padding after them.

    The two singleton dims broadcast over heads and queries: pass it straight to
    :class:`MultiHeadAttention` or :func:`scaled_dot_product_attention`.
    """
    if not is_int(S) or S < 1:
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


def _check_batch_dims(shapes: dict[str, tuple], where: str) -> None:
    """The leading (batch, head) dims of every tensor must broadcast together.
    (Plain Python on the shapes: ``torch.broadcast_shapes`` costs ~0.1 ms a call,
    which a one-token generation step pays once per layer.)"""
    width = max(len(s) for s in shapes.values())
    padded = [(1,) * (width - len(s)) + tuple(s) for s in shapes.values()]
    if any(len({n for n in dim if n != 1}) > 1 for dim in zip(*padded, strict=True)):
        seen = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
        raise ValueError(
            f"{where}: the leading (batch, head) dims do not broadcast: {seen}."
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
        check_tensor(x, name, 2, where)
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
        check_mask(mask, T, S)
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
    if is_causal and T == 1:  # one new query after S - 1 cached keys sees them all
        is_causal = False
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
        check_tensor(x, name, 2, where)
    check_tensor(grad_out, "grad_out", 2, where)
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
