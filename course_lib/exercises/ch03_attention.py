"""Chapter 03: scaled dot-product attention, causal masks, the softmax's backward pass.

Each checker runs the learner's function on inputs of its own and compares it with
versions that make one typical mistake each, so that it can name the mistake.
"""

from __future__ import annotations

import math

import torch

from course_lib.attention import causal_mask
from course_lib.exercises import Fail, exercise


def _close(a, b, tol=1e-5) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.double(), b.double(), rtol=tol, atol=tol)
    )


def _attention(q, k, v, mask=None, scale=None, dim=-1, fill=float("-inf")):
    """Attention with a switch for each classic mistake, to recognise them."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, fill)
    weights = torch.softmax(scores, dim=dim)
    return weights @ v, weights, scores


def _call(fn, *args):
    result = fn(*args)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Fail(
            f"your function returned {type(result).__name__}, expected a pair "
            "(out, weights). Hint: end with `return weights @ v, weights`."
        )
    return result


@exercise("attention.sdpa", "write fn(q, k, v, mask=None) -> (out, weights)")
def check_sdpa(fn) -> str:
    g = torch.Generator().manual_seed(3)
    T, S, D, Dv = 3, 5, 16, 6  # T != S, so a wrong softmax dim shows
    q, k = torch.randn(T, D, generator=g) * 2, torch.randn(S, D, generator=g) * 2
    v = torch.randn(S, Dv, generator=g)
    out, weights = _call(fn, q, k, v)
    ref_out, ref_weights, ref_scores = _attention(q, k, v)
    for name, got, want in (("out", out, ref_out), ("weights", weights, ref_weights)):
        if not isinstance(got, torch.Tensor):
            raise Fail(f"{name} is a {type(got).__name__}, expected a tensor.")
        if got.shape != want.shape:
            raise Fail(
                f"for q (T={T}, D={D}), k (S={S}, D), v (S, Dv={Dv}) your {name} has "
                f"shape {tuple(got.shape)}, expected {tuple(want.shape)}. Hint: "
                "scores are q @ k.transpose(-2, -1), (T, S); out is weights @ v."
            )
    if _close(weights, ref_scores) or (weights < 0).any():
        raise Fail(
            "your weights are the raw scores (some are negative): they must go "
            "through softmax. Hint: weights = torch.softmax(scores, dim=-1)."
        )
    if _close(weights, _attention(q, k, v, dim=-2)[1]):
        raise Fail(
            "your weights sum to 1 down each column (over the queries) instead of "
            "along each row (over the keys): softmax over the wrong dimension. "
            "Hint: torch.softmax(scores, dim=-1)."
        )
    if _close(weights, _attention(q, k, v, scale=1.0)[1]):
        raise Fail(
            "your weights are those of q·k without the 1/√d_k scale, so the "
            "softmax saturates. Hint: scores = q @ k.transpose(-2, -1) / "
            "math.sqrt(q.shape[-1])."
        )
    if _close(weights, _attention(q, k, v, scale=1 / D)[1]):
        raise Fail(
            "you divided the scores by d_k; the paper divides by √d_k. "
            "Hint: / math.sqrt(q.shape[-1])."
        )
    if not _close(weights, ref_weights):
        raise Fail(
            "your weights differ from softmax(q kᵀ / √d_k) over the keys. Check "
            "the order q @ k.transpose(-2, -1) (not k @ q...) and the scale √d_k "
            "with d_k = q.shape[-1]."
        )
    if not _close(out, ref_out):
        raise Fail("your weights are right but out is not weights @ v.")

    # batch and head dims in front: (B, H, T, D)
    qb, kb = torch.randn(2, 3, T, D, generator=g), torch.randn(2, 3, S, D, generator=g)
    vb = torch.randn(2, 3, S, Dv, generator=g)
    try:
        out_b, weights_b = _call(fn, qb, kb, vb)
    except Fail:
        raise
    except Exception as error:
        raise Fail(
            f"it works on (T, D) inputs but raised {type(error).__name__} on (B, H, T, "
            "D) ones. Hint: k.transpose(-2, -1), not k.T, which reverses every dim."
        ) from None
    ref_b = _attention(qb, kb, vb)
    if not (_close(out_b, ref_b[0]) and _close(weights_b, ref_b[1])):
        raise Fail(
            "it works on (T, D) inputs but not on (B, H, T, D) ones. Hint: use "
            "k.transpose(-2, -1) and softmax(dim=-1): the last two dims are (T, S)."
        )

    # masks: True = may attend; every query keeps at least one key
    mask = torch.rand(T, S, generator=g) > 0.5
    mask[:, 0] = True
    mask[:, 1] = False
    out_m, weights_m = _call(fn, q, k, v, mask)
    ref_m = _attention(q, k, v, mask)
    if _close(weights_m, ref_weights):
        raise Fail(
            "with a mask your weights do not change: the mask is ignored. Hint: "
            "scores.masked_fill(~mask, float('-inf')) before the softmax."
        )
    if _close(weights_m, _attention(q, k, v, ~mask)[1], tol=1e-4):
        raise Fail(
            "your mask is inverted: the weights are on the keys marked False. In this "
            "course True means 'may attend'. Hint: masked_fill(~mask, float('-inf'))."
        )
    if torch.isinf(weights_m).any():
        raise Fail(
            "some weights are -inf: you masked after the softmax. Fill the *scores* "
            "with -inf before it; exp(-inf) = 0 then gives those keys weight 0."
        )
    if (weights_m[~mask.expand_as(weights_m)].abs() > 1e-6).any():
        raise Fail(
            "keys where the mask is False still get weight. Fill their scores with "
            "-inf (not 0) before the softmax, so that exp(-inf) = 0."
        )
    if not torch.allclose(weights_m.sum(-1), torch.ones(T), atol=1e-5):
        raise Fail(
            "with a mask your rows no longer sum to 1: you masked after the softmax. "
            "Mask the scores with -inf before it, and the softmax renormalises."
        )
    if not (_close(weights_m, ref_m[1]) and _close(out_m, ref_m[0])):
        raise Fail("with a mask your result differs from masked softmax(q kᵀ/√d_k) v.")
    return "softmax(q kᵀ/√d_k) v, over the keys, with batch dims and masks. Well done."


@exercise("attention.causal_mask", "write fn(T) -> (T, T) bool causal mask")
def check_causal_mask(fn) -> str:
    mask = fn(5)
    if not isinstance(mask, torch.Tensor):
        raise Fail(f"expected a tensor, got {type(mask).__name__}.")
    if tuple(mask.shape) != (5, 5):
        raise Fail(f"fn(5) has shape {tuple(mask.shape)}, expected (5, 5).")
    want = causal_mask(5)
    if mask.dtype != torch.bool:
        if mask.is_floating_point() and torch.isinf(mask).any():
            raise Fail(
                "this is an additive float mask (0 / -inf). The course's masks are "
                "bool with True = may attend. Hint: torch.tril(torch.ones(T, T, "
                "dtype=torch.bool))."
            )
        raise Fail(
            f"your mask has dtype {mask.dtype}; masks are bool (True = may attend). "
            "Hint: dtype=torch.bool."
        )
    if torch.equal(mask, ~want):
        raise Fail(
            "your mask is inverted: True marks the future. True must mean 'may "
            "attend', so the lower triangle is True."
        )
    if torch.equal(mask, want.T):
        raise Fail(
            "your mask is the upper triangle: query 0 may attend every key, the last "
            "query only itself. Each query must see itself and the *past*: torch.tril."
        )
    if torch.equal(mask, want & ~torch.eye(5, dtype=torch.bool)):
        raise Fail(
            "the diagonal is False: a token may not attend itself, and the first has "
            "no key at all. Hint: torch.tril keeps the diagonal (diagonal=0)."
        )
    if not torch.equal(mask, want):
        raise Fail("query i must see keys 0..i, and no others (a lower triangle).")
    if not torch.equal(fn(1), causal_mask(1)) or not torch.equal(fn(7), causal_mask(7)):
        raise Fail("fn(5) is right but fn(1) or fn(7) is not: do not hard-code 5.")
    return "lower-triangular, bool, True = may attend: every token sees its past."


@exercise(
    "attention.softmax_backward",
    "write fn(p, grad_p) -> grad_s, the backward pass of p = softmax(s, dim=-1)",
)
def check_softmax_backward(fn) -> str:
    g = torch.Generator().manual_seed(4)
    s = torch.randn(3, 4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(s, dim=-1)
    grad_p = torch.randn(p.shape, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad(p, s, grad_p)
    p = p.detach()
    got = fn(p, grad_p)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = (
            tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        )
        raise Fail(f"expected a tensor of shape {tuple(want.shape)}, got {shape}.")
    if _close(got, p * grad_p, 1e-8):
        raise Fail(
            "you returned p ⊙ grad_p: that is only the diagonal of the softmax's "
            "Jacobian. Every score moves every weight of its row, so subtract "
            "p ⊙ rowsum(grad_p ⊙ p). Hint: p * (grad_p - (grad_p * p).sum(-1, "
            "keepdim=True))."
        )
    if _close(got, grad_p - (grad_p * p).sum(-1, keepdim=True), 1e-8):
        raise Fail(
            "you forgot the final factor p: grad_s = p ⊙ (grad_p − rowsum(grad_p ⊙ p))."
        )
    if _close(got, p * (grad_p - (grad_p * p).sum(-2, keepdim=True)), 1e-8):
        raise Fail(
            "your sum runs over the wrong dimension: the softmax normalised over the "
            "last dim (the keys), so sum over dim=-1 with keepdim=True."
        )
    if _close(got, p * (grad_p - grad_p.sum(-1, keepdim=True)), 1e-8):
        raise Fail(
            "you subtracted rowsum(grad_p); it must be rowsum(grad_p ⊙ p), the "
            "weighted mean of grad_p under p."
        )
    if not _close(got, want, 1e-8):
        raise Fail(
            "your grad_s differs from autograd's. Derive ∂p_j/∂s_i = p_j(δ_ij − p_i)."
        )
    return "p ⊙ (grad_p − rowsum(grad_p ⊙ p)): equal to autograd."
