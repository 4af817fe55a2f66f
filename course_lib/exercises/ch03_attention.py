"""Chapter 03: attention that survives an empty mask row, the softmax's backward pass,
two buggy attentions to fix, two predictions and one change to the hand-made example.

Each checker runs the learner's function (or recomputes the experiment behind a
predicted number) on inputs of its own, and compares it with versions that make one
typical mistake each, so that it can name the mistake.
"""

from __future__ import annotations

import math
import numbers

import torch

from course_lib.attention import causal_mask, scaled_dot_product_attention
from course_lib.exercises import Fail, exercise


def _close(a, b, tol=1e-5) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.shape == b.shape
        and a.is_floating_point()
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


def _function(fn):
    if not callable(fn):
        raise Fail(
            f"expected your function itself, got a {type(fn).__name__}: pass its "
            "name without calling it, e.g. check(id, my_attention)."
        )
    return fn


def _call(fn, *args):
    """The learner's (out, weights), each a float tensor; Fail on anything else."""
    result = _function(fn)(*args)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Fail(
            f"your function returned {type(result).__name__}, expected a pair "
            "(out, weights). Hint: end with `return weights @ v, weights`."
        )
    for name, value in zip(("out", "weights"), result, strict=True):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            kind = getattr(value, "dtype", type(value).__name__)
            raise Fail(f"{name} is a {kind}, expected a float tensor.")
    return result


def _shapes_match(got, want, what: str) -> None:
    for name, g, w in zip(("out", "weights"), got, want, strict=True):
        if g.shape != w.shape:
            raise Fail(
                f"for {what} your {name} has shape {tuple(g.shape)}, expected "
                f"{tuple(w.shape)}. Scores are q @ k.transpose(-2, -1), (..., T, S); "
                "out is weights @ v, (..., T, Dv)."
            )


def _number(answer, what: str) -> float:
    """A predicted or measured number as a float; Fail on anything else."""
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        raise Fail(f"expected a number ({what}), got {type(answer).__name__}.")
    if not math.isfinite(answer):
        raise Fail(f"expected a finite number ({what}), got {answer}.")
    return float(answer)


# --- exercise 1 (implement): attention whose fully masked queries get zeros, not NaN
@exercise(
    "attention.sdpa",
    "write fn(q, k, v, mask=None) -> (out, weights); a query that may attend no key "
    "gets zero weights and a zero output, not NaN",
    kind="implement",
    hints=(
        "Start from section 4's masked_attention: it is right for every query that "
        "may attend at least one key. Only the rows whose mask is all False need care.",
        "A row whose mask is all False has every score at -inf, and softmax computes "
        "0/0 = NaN there. Find those rows with mask.any(dim=-1, keepdim=True) and set "
        "their weights to 0 after the softmax; out = weights @ v is then 0 by itself.",
        "Do not fill with a large finite number such as -1e9 instead of -inf: the "
        "softmax of a row of equal scores is uniform, so the empty query would read "
        "every key with weight 1/S.",
        "After the softmax: `if mask is not None: weights = weights.masked_fill("
        "~mask.any(dim=-1, keepdim=True), 0.0)`; or `torch.nan_to_num(weights)`.",
    ),
)
def check_sdpa(fn) -> str:
    g = torch.Generator().manual_seed(3)
    T, S, D, Dv = 3, 5, 16, 6  # T != S, so a wrong softmax dim shows
    q, k = torch.randn(T, D, generator=g) * 2, torch.randn(S, D, generator=g) * 2
    v = torch.randn(S, Dv, generator=g)
    out, weights = _call(fn, q, k, v)
    ref_out, ref_weights, ref_scores = _attention(q, k, v)
    _shapes_match((out, weights), (ref_out, ref_weights), f"q (T={T}, D={D}), k "
                  f"(S={S}, D), v (S, Dv={Dv})")  # fmt: skip
    if _close(weights, ref_scores) or (weights < 0).any():
        raise Fail(
            "your weights are the raw scores (some are negative): they must go "
            "through softmax over the keys, dim=-1."
        )
    if _close(weights, _attention(q, k, v, dim=-2)[1]):
        raise Fail(
            "your weights sum to 1 down each column (over the queries) instead of "
            "along each row (over the keys): softmax over the wrong dimension."
        )
    if _close(weights, _attention(q, k, v, scale=1.0)[1]):
        raise Fail(
            "your weights are those of q·k without the 1/√d_k scale, so the "
            "softmax saturates."
        )
    if _close(weights, _attention(q, k, v, scale=1 / D)[1]):
        raise Fail("you divided the scores by d_k; the paper divides by √d_k.")
    if not _close(weights, ref_weights):
        raise Fail(
            "your weights differ from softmax(q kᵀ / √d_k) over the keys. Check the "
            "order q @ k.transpose(-2, -1) and the scale √d_k with d_k = q.shape[-1]."
        )
    if not _close(out, ref_out):
        raise Fail("your weights are right but out is not weights @ v.")

    # batch and head dims in front: (B, H, T, D)
    qb, kb = torch.randn(2, 3, T, D, generator=g), torch.randn(2, 3, S, D, generator=g)
    vb = torch.randn(2, 3, S, Dv, generator=g)
    try:
        got_b = _call(fn, qb, kb, vb)
    except Exception as error:  # raised by the learner's code on 4-D inputs
        raise Fail(
            f"it works on (T, D) inputs but raised {type(error).__name__} on (B, H, T, "
            "D) ones. Hint: k.transpose(-2, -1), not k.T, which reverses every dim."
        ) from None
    ref_b = _attention(qb, kb, vb)
    if not (_close(got_b[0], ref_b[0]) and _close(got_b[1], ref_b[1])):
        raise Fail(
            "it works on (T, D) inputs but not on (B, H, T, D) ones: the last two "
            "dims are (T, S), so transpose(-2, -1) and softmax(dim=-1)."
        )

    # a mask where every query keeps at least one key; True = may attend
    mask = torch.rand(T, S, generator=g) > 0.5
    mask[:, 0], mask[:, 1] = True, False
    out_m, weights_m = _call(fn, q, k, v, mask)
    ref_m = _attention(q, k, v, mask)
    _shapes_match((out_m, weights_m), ref_m[:2], "a (T, S) mask")
    if _close(weights_m, ref_weights):
        raise Fail("with a mask your weights do not change: the mask is ignored.")
    if _close(weights_m, _attention(q, k, v, ~mask)[1], tol=1e-4):
        raise Fail(
            "your mask is inverted: the weights are on the keys marked False. In this "
            "course True means 'may attend'."
        )
    if torch.isinf(weights_m).any():
        raise Fail(
            "some weights are -inf: you masked after the softmax. Fill the *scores* "
            "with -inf before it; exp(-inf) = 0 then gives those keys weight 0."
        )
    if (weights_m[~mask].abs() > 1e-6).any():
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

    # the new part: query 1 may attend no key at all
    empty = mask.clone()
    empty[1] = False
    out_e, weights_e = _call(fn, q, k, v, empty)
    _shapes_match((out_e, weights_e), ref_m[:2], "a mask with an empty row")
    if torch.isnan(weights_e).any() or torch.isnan(out_e).any():
        where = "weights" if torch.isnan(weights_e).any() else "output"
        raise Fail(
            f"a query whose mask row is all False gets NaN in its {where}: every "
            "score of that row is -inf and the softmax computes 0/0. Its weights "
            "(and so its output) must be 0."
        )
    if torch.allclose(weights_e[1], torch.full((S,), 1 / S), atol=1e-4):
        raise Fail(
            f"a query whose mask row is all False reads every key with weight 1/{S}: "
            "a finite fill such as -1e9 makes that row's scores all equal, and the "
            "softmax of equal scores is uniform. Its weights must be 0."
        )
    if weights_e[1].abs().max() > 1e-6 or out_e[1].abs().max() > 1e-6:
        raise Fail("a query that may attend no key must get zero weights and output.")
    keep = torch.tensor([0, 2])
    if not (
        _close(weights_e[keep], ref_m[1][keep]) and _close(out_e[keep], ref_m[0][keep])
    ):
        raise Fail("with an empty row in the mask, the *other* queries changed too.")
    return (
        "softmax(q kᵀ/√d_k) v over the keys, with batch dims and masks, and a query "
        "with no key left gets zeros, as course_lib's does. Well done."
    )


# --- exercise 2 (implement): the softmax's backward pass
@exercise(
    "attention.softmax_backward",
    "write fn(p, grad_p) -> grad_s, the backward pass of p = softmax(s, dim=-1)",
    kind="implement",
    hints=(
        "Each weight p_j depends on every score of its row: ∂p_j/∂s_i = "
        "p_j (δ_ij − p_i). Chain rule: grad_s_i = Σ_j grad_p_j ∂p_j/∂s_i.",
        "Σ_j grad_p_j p_j (δ_ij − p_i) = p_i grad_p_i − p_i Σ_j grad_p_j p_j. The sum "
        "runs over the last dim (the keys): .sum(dim=-1, keepdim=True).",
        "return p * (grad_p - (grad_p * p).sum(dim=-1, keepdim=True))",
    ),
)
def check_softmax_backward(fn) -> str:
    g = torch.Generator().manual_seed(4)
    s = torch.randn(3, 4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(s, dim=-1)
    grad_p = torch.randn(p.shape, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad(p, s, grad_p)
    p = p.detach()
    got = _function(fn)(p, grad_p)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = (
            tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        )
        raise Fail(f"expected a tensor of shape {tuple(want.shape)}, got {shape}.")
    if not got.is_floating_point():
        raise Fail(f"expected a float tensor, got dtype {got.dtype}.")
    if _close(got, p * grad_p, 1e-8):
        raise Fail(
            "you returned p ⊙ grad_p: that is only the diagonal of the softmax's "
            "Jacobian. Every score moves every weight of its row, so subtract "
            "p ⊙ rowsum(grad_p ⊙ p)."
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


# --- exercise 3 (find-the-bug): causal attention that reads the future
def buggy_causal_attention(q, k, v):
    """Causal self-attention: token i may attend tokens 0..i. q, k (..., T, D)."""
    T = q.shape[-2]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # (T, T)
    return scaled_dot_product_attention(q, k, v, mask)


def _triangle(T: int, upper: bool, diagonal: int) -> torch.Tensor:
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.triu(ones, diagonal) if upper else torch.tril(ones, diagonal)


@exercise(
    "attention.causal_mask",
    "fix buggy_causal_attention: each token must attend itself and the past only",
    kind="find-the-bug",
    hints=(
        "Look at the heat map above: which keys does each query read, and which "
        "query gets no weight at all?",
        "The mask it builds marks the future with True. Which value of a course_lib "
        "mask means 'may attend'? (Section 4.)",
        "True = may attend, so the mask must be the lower triangle with its diagonal: "
        "torch.tril(torch.ones(T, T, dtype=torch.bool)), i.e. causal_mask(T).",
    ),
    buggy=buggy_causal_attention,
)
def check_causal_attention(fn) -> str:
    g = torch.Generator().manual_seed(5)
    for shape in ((6, 8), (2, 3, 5, 8)):  # (T, D), then (B, H, T, D)
        q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
        T = shape[-2]
        got = _call(fn, q, k, v)
        want = scaled_dot_product_attention(q, k, v, causal_mask(T))
        _shapes_match(got, want, f"q, k, v of shape {shape}")

        def like(mask, got=got, q=q, k=k, v=v):
            return _close(got[1], scaled_dot_product_attention(q, k, v, mask)[1])

        if like(_triangle(T, upper=True, diagonal=1)):
            raise Fail(
                "each query still reads only the keys after it (the future), and the "
                "last query reads nothing (its weights are all 0): the mask marks the "
                "future True, but in this course True means 'may attend'."
            )
        if like(_triangle(T, upper=True, diagonal=0)):
            raise Fail(
                "each query reads itself and the keys after it: the upper triangle. A "
                "causal mask keeps the lower one (keys j <= i): torch.tril."
            )
        if like(_triangle(T, upper=False, diagonal=-1)):
            raise Fail(
                "no query may attend itself, and the first reads nothing: the mask "
                "lost its diagonal. Query i may attend keys 0..i, i itself included."
            )
        if like(torch.ones(T, T, dtype=torch.bool)) or like(None):
            raise Fail(
                "every query reads every key, the future included: no mask is applied."
            )
        if not _close(got[1], want[1]):
            raise Fail(
                "your weights differ from causal attention's (a lower triangle)."
            )
        if not _close(got[0], want[0]):
            raise Fail("your weights are right but the output is not weights @ v.")
    return (
        "True = may attend, so the causal mask is the lower triangle: torch.tril "
        "(or course_lib's causal_mask(T)); token i reads tokens 0..i."
    )


# --- exercise 4 (find-the-bug): right on one sentence, wrong on a batch
def buggy_attention(q, k, v):
    """softmax(q kᵀ / √d_k) v for q (..., T, D), k (..., S, D), v (..., S, Dv)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    weights = torch.softmax(scores, dim=1)  # over the keys
    return weights @ v, weights  # (..., T, Dv), (..., T, S)


@exercise(
    "attention.softmax_dim",
    "fix buggy_attention: right on one sentence (T, D), wrong on a batch (B, T, D)",
    kind="find-the-bug",
    hints=(
        "Above, the rows of the batched weights do not sum to 1. Which dims of the "
        "batched scores (B, T, S) does each line of the function treat as what?",
        "The softmax must normalise over the keys. Which dim holds the keys in (T, S) "
        "scores, which in (B, T, S), which in (B, H, T, S)?",
        "dim=1 is the keys only when the scores are 2-D. Count from the end instead: "
        "torch.softmax(scores, dim=-1) is the keys whatever comes in front.",
    ),
    buggy=buggy_attention,
)
def check_softmax_dim(fn) -> str:
    g = torch.Generator().manual_seed(6)
    T, S, D, Dv = 4, 6, 8, 3  # T != S, so a wrong dim shows
    for lead in ((), (2,), (2, 3)):  # (T, D), (B, T, D), (B, H, T, D)
        q = torch.randn(*lead, T, D, generator=g)
        k = torch.randn(*lead, S, D, generator=g)
        v = torch.randn(*lead, S, Dv, generator=g)
        ref = _attention(q, k, v)
        what = f"q of shape {tuple(q.shape)}"
        try:
            got = _call(fn, q, k, v)
        except IndexError as error:  # raised by the learner's softmax: dim too large
            raise Fail(
                f"for {what} your function raised IndexError ({error}): a fixed dim "
                f"that is the keys for more dims does not exist in {len(lead) + 2}-D "
                "scores. Count from the end."
            ) from None
        _shapes_match(got, ref[:2], what)
        if _close(got[1], ref[1]) and _close(got[0], ref[0]):
            continue
        sums = got[1].sum(-1)
        rank = len(lead) + 2
        for dim in range(-rank, -1):  # every dim but the keys
            if _close(got[1], torch.softmax(ref[2], dim=dim)):
                named = "the queries" if dim == -2 else ("the batch" if dim == -rank
                                                         else "the heads")  # fmt: skip
                raise Fail(
                    f"for {what} the rows of your weights sum to "
                    f"{sums.min().item():.2f}..{sums.max().item():.2f}, not 1: the "
                    f"softmax runs over {named} (dim={dim + rank} of {rank}), not over "
                    "the keys. A fixed dim like 1 or 2 means the keys only for one "
                    "number of leading dims: count from the end."
                )
        if not _close(got[1], ref[1]):
            raise Fail(
                f"for {what} your weights differ from softmax(q kᵀ/√d_k, dim=-1); "
                "change only the dim of the softmax."
            )
        raise Fail(f"for {what} your weights are right but out is not weights @ v.")
    return (
        "softmax over dim=-1, the keys, whatever batch and head dims come in front: "
        "the same function now serves (T, D), (B, T, D) and (B, H, T, D)."
    )


# --- exercise 5 (predict): √d_k fixes the width, not the size of q and k
def _score_std(d_k: int = 64, size: float = 2.0) -> float:
    """The std of scaled scores q·k/√d_k when q's and k's entries have std ``size``."""
    g = torch.Generator().manual_seed(7)
    q = size * torch.randn(256, d_k, generator=g)  # (T, D)
    k = size * torch.randn(256, d_k, generator=g)  # (S, D)
    return (q @ k.T / math.sqrt(d_k)).std().item()  # (T, S)


@exercise(
    "attention.predict_score_std",
    "predict the std of q·k/√d_k at d_k = 64 when q's and k's entries have std 2",
    kind="predict",
    hints=(
        "With entries of std 1 the scaled scores have std 1 (section 3). What happens "
        "to one product q_m k_m when both factors double?",
        "q_m k_m becomes (2 q_m)(2 k_m) = 4 q_m k_m, so every score is 4 times larger; "
        "dividing by √d_k = 8 does not know that q and k grew.",
    ),
)
def check_predict_score_std(prediction) -> str:
    guess = _number(prediction, "the std of the scaled scores")
    std = _score_std()
    why = (
        f"Measured on 256 × 256 scores: std {std:.2f}. Both q and k doubled, so each "
        "product q_m k_m, and so each score, is 4 times larger; √d_k corrects for the "
        "width d_k only. That is one reason Transformers normalise their inputs "
        "(LayerNorm, chapter 05): the √d_k scale assumes entries of size about 1."
    )
    if abs(guess - std) <= 0.1 * std:
        return f"right: about 4. {why}"
    if abs(guess - 1) < 0.15:
        raise Fail(
            f"not 1: the √d_k scale keeps the std at 1 only if q's and k's entries "
            f"have std 1. {why}"
        )
    if abs(guess - 2) < 0.3:
        raise Fail(f"not 2: q doubled, and so did k; their product grows 2 × 2. {why}")
    if abs(guess - 16) < 2:
        raise Fail(f"16 is the variance; the std is its square root. {why}")
    if abs(guess - 8) < 0.8 or abs(guess - 32) < 3:
        raise Fail(f"not {guess:g}: the scale divides by √64 = 8 already. {why}")
    raise Fail(f"not {guess:g}. {why}")


# --- exercise 6 (predict): a query with no preference under the causal mask
CAUSAL_QUERY = 6  # "because" in "the cat sat on the mat because it was tired"


def _uniform_causal_weight(T: int = 10, query: int = CAUSAL_QUERY) -> float:
    """The weight a query whose scores are all 0 puts on one key it may attend."""
    scores = torch.zeros(T, T)  # a zero query scores 0 against every key
    weights = torch.softmax(scores.masked_fill(~causal_mask(T), float("-inf")), -1)
    return weights[query, 0].item()


@exercise(
    "attention.predict_causal_uniform",
    "predict the weight 'because' (position 6, a word with no rule) puts on 'cat' "
    "under the causal mask",
    kind="predict",
    hints=(
        "'because' is a function word, whose rule is {}: its row of W_Q is zero. "
        "What are its scores against every key, then?",
        "All its scores are 0, and the softmax of equal scores is uniform over the "
        "keys that are left. How many keys may position 6 attend under the causal "
        "mask? (Positions count from 0.)",
    ),
)
def check_predict_causal_uniform(prediction) -> str:
    guess = _number(prediction, "a weight between 0 and 1")
    want = _uniform_causal_weight()
    why = (
        f"The weight is {want:.3f} = 1/7: 'because' has a zero query, so all its "
        "scores are 0; the causal mask leaves the 7 keys at positions 0..6 (itself "
        "included), and the softmax of equal scores spreads evenly over them."
    )
    if abs(guess - want) < 0.005:
        return f"right. {why}"
    if abs(guess - 0.1) < 0.005:
        raise Fail(f"1/10 spreads over all 10 tokens; the mask hides 3. {why}")
    if abs(guess - 1 / 6) < 0.005:
        raise Fail(f"1/6 forgets that a token may attend itself. {why}")
    if abs(guess) < 0.005:
        raise Fail(f"a zero query gives scores of 0, not weights of 0. {why}")
    raise Fail(f"not {guess:g}. {why}")


# --- exercise 7 (modify): weaker rules, flatter weights
# The chapter's hand-made example, as much of it as 'it' needs: the feature of every
# word of "the cat sat on the mat because it was tired" and the pronoun's rule.
_KINDS = ["function", "animal", "action", "function", "function", "object",
          "function", "pronoun", "function", "state"]  # fmt: skip
_PRONOUN_RULE = {"animal": 1.0, "object": 0.5}  # RULES["pronoun"] in the chapter
_D_K = 6  # six features


def _weight_of_it(strength: float, on: str = "animal") -> float:
    """The weight 'it' puts on the word of kind ``on`` when W_Q = strength × rules."""
    scores = torch.tensor([strength * _PRONOUN_RULE.get(kind, 0.0) for kind in _KINDS])
    weights = torch.softmax(scores / math.sqrt(_D_K), dim=-1)  # (S,)
    return weights[_KINDS.index(on)].item()


@exercise(
    "attention.sharpness",
    "set the strength of the hand-made rules to 2.0 (not 10.0) and report the weight "
    "'it' puts on 'cat'",
    kind="modify",
    hints=(
        "In the cell below, change `strength = 10.0` to `strength = 2.0`, run it, and "
        "read the weight of 'it' on 'cat' it prints.",
        "The strength multiplies every score of 'it' (cat: strength/√6, mat: "
        "strength/2/√6, the rest 0), like the inverse of a softmax temperature.",
        "With strength 2.0 the weight on 'cat' is e^0.82 / (e^0.82 + e^0.41 + 8).",
    ),
)
def check_sharpness(answer) -> str:
    got = _number(answer, "the weight of 'it' on 'cat'")
    want, before = _weight_of_it(2.0), _weight_of_it(10.0)
    why = (
        f"At strength 10 'it' puts {before:.2f} on 'cat', at 2 only {want:.2f}: the "
        "strength scales every score, and smaller scores make a flatter softmax (the "
        f"uniform weight is 1/{len(_KINDS)}). Scaling q or k, or the scores, is a "
        "temperature: too large and the softmax saturates, as in section 3."
    )
    if abs(got - want) <= 0.01:
        return f"right. {why}"
    if abs(got - before) <= 0.01:
        raise Fail(
            f"{got:g} is the weight at strength 10, the chapter's: set strength = 2.0 "
            "and run the cell again."
        )
    if abs(got - _weight_of_it(2.0, on="object")) <= 0.01:
        raise Fail(f"{got:g} is the weight on 'mat'; the question asks for 'cat'.")
    raise Fail(
        f"not {got:g}: with strength 2.0, expect a weight between 1/10 and "
        f"{before:.2f}. Read the row of 'it' (position 7), column 'cat' (position 1)."
    )
