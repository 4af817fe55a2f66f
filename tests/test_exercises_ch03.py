"""Chapter 03's checkers: a right answer passes; each typical mistake gets its own
diagnosis."""

import math

import pytest
import torch

from course_lib.attention import causal_mask, scaled_dot_product_attention
from course_lib.exercises import catalog, check
from course_lib.exercises.ch03_attention import (
    buggy_attention,
    buggy_causal_attention,
)


def attention(q, k, v, mask=None, scale=None, dim=-1, fill=float("-inf"), how=""):
    """A learner's attention, with one mistake chosen by ``how`` (a fully masked
    query gets zero weights unless ``how`` is "nan")."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    kt = k.T if how == "k.T" else k.transpose(-2, -1)
    scores = q @ kt * scale
    if mask is not None and how != "ignore mask":
        m = ~mask if how == "inverted" else mask
        if how != "after softmax":
            scores = scores.masked_fill(~m, fill)
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and how == "after softmax":
        weights = weights * mask
    if how == "-inf after softmax" and mask is not None:
        weights = weights.masked_fill(~mask, float("-inf"))
    if how == "pre-softmax":
        weights = scores
    if mask is not None and how not in ("nan", "nan out"):
        weights = torch.where(weights.isnan(), 0.0, weights)
    out = weights @ v
    if how == "v @ weights":
        out = v.transpose(-2, -1) @ weights.transpose(-2, -1)
    if how == "nan out":
        weights = torch.where(weights.isnan(), 0.0, weights)
    if how == "only out":
        return out
    return out, weights


def right_sdpa(q, k, v, mask=None):
    return scaled_dot_product_attention(q, k, v, mask)


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
@pytest.mark.parametrize("answer", [right_sdpa, attention])
def test_sdpa_right_answers_pass(answer):
    assert check("attention.sdpa", answer, quiet=True).passed


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda q, k, v, mask=None: attention(q, k, v, mask, how="only out"), "a pair"),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="v @ weights"),
            "out has shape",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="pre-softmax"),
            "raw scores",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, dim=-2),
            "softmax over the wrong dimension",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, scale=1.0),
            "without the 1/√d_k scale",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, scale=1 / q.shape[-1]),
            "divided the scores by d_k",
        ),
        (lambda q, k, v, mask=None: attention(q, k, v, mask, how="k.T"), "k.T"),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="ignore mask"),
            "mask is ignored",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="inverted"),
            "mask is inverted",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, fill=0.0),
            "still get weight",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="after softmax"),
            "no longer sum to 1",
        ),
        (
            lambda q, k, v, mask=None: attention(
                q, k, v, mask, how="-inf after softmax"
            ),
            "masked after the softmax",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="nan"),
            "NaN in its weights",
        ),
        (
            lambda q, k, v, mask=None: attention(q, k, v, mask, how="nan out"),
            "NaN in its output",
        ),
        (lambda q, k, v, mask=None: attention(q, k, v, mask, fill=-1e9), "weight 1/5"),
    ],
)
def test_sdpa_mistakes_are_named(answer, words):
    result = check("attention.sdpa", answer, quiet=True)
    assert not result.passed
    assert words in result.message, result.message


def test_softmax_backward_checker():
    def right(p, grad_p):
        return p * (grad_p - (grad_p * p).sum(-1, keepdim=True))

    assert check("attention.softmax_backward", right, quiet=True).passed
    wrong = {
        "only the diagonal": lambda p, g: p * g,
        "forgot the final factor p": lambda p, g: g - (g * p).sum(-1, keepdim=True),
        "wrong dimension": lambda p, g: p * (g - (g * p).sum(-2, keepdim=True)),
        "rowsum(grad_p ⊙ p)": lambda p, g: p * (g - g.sum(-1, keepdim=True)),
        "differs from autograd": lambda p, g: -right(p, g),
        "expected a tensor of shape": lambda p, g: right(p, g)[0],
    }
    for words, answer in wrong.items():
        result = check("attention.softmax_backward", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


def test_every_exercise_has_a_kind_and_hints_and_the_mix_is_there():
    mine = [e for e in catalog() if e.chapter == 3]
    kinds = {e.kind for e in mine}
    assert len(mine) >= 6 and len(kinds) >= 3, [(e.id, e.kind) for e in mine]
    assert {"find-the-bug", "predict", "implement", "modify"} <= kinds
    assert all(2 <= len(e.hints) <= 4 for e in mine)


def triangle(T, upper, diagonal):
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.triu(ones, diagonal) if upper else torch.tril(ones, diagonal)


def causal_with(mask_of):
    def fn(q, k, v):
        return scaled_dot_product_attention(q, k, v, mask_of(q.shape[-2]))

    return fn


def test_causal_attention_fix_passes_and_wrong_fixes_are_named():
    assert check("attention.causal_mask", causal_with(causal_mask), quiet=True).passed
    # the usual fix of a "future" mask: invert it
    inverted = causal_with(lambda T: ~triangle(T, upper=True, diagonal=1))
    assert check("attention.causal_mask", inverted, quiet=True).passed
    wrong = {
        "marks the future True": buggy_causal_attention,
        "upper triangle": causal_with(lambda T: triangle(T, True, 0)),
        "lost its diagonal": causal_with(lambda T: triangle(T, False, -1)),
        "no mask is applied": causal_with(lambda T: torch.ones(T, T, dtype=torch.bool)),
        "not weights @ v": lambda q, k, v: (
            v[..., :1, :] * 0 + causal_with(causal_mask)(q, k, v)[0] * 2,
            causal_with(causal_mask)(q, k, v)[1],
        ),
        "expected a pair": lambda q, k, v: causal_with(causal_mask)(q, k, v)[0],
    }
    for words, answer in wrong.items():
        result = check("attention.causal_mask", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


def attention_over(dim):
    def fn(q, k, v):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        weights = torch.softmax(scores, dim=dim)
        return weights @ v, weights

    return fn


def test_softmax_dim_fix_passes_and_wrong_fixes_are_named():
    assert check("attention.softmax_dim", attention_over(-1), quiet=True).passed
    assert check("attention.softmax_dim", right_sdpa, quiet=True).passed
    wrong = {
        "over the queries (dim=1 of 3)": buggy_attention,
        "does not exist in 2-D scores": attention_over(2),  # right for (B, T, S) only
        "over the queries (dim=0 of 2)": attention_over(-2),
        "over the batch (dim=0 of 3)": lambda q, k, v: attention_over(
            0 if q.dim() > 2 else -1
        )(q, k, v),
        "over the heads (dim=1 of 4)": lambda q, k, v: attention_over(
            1 if q.dim() > 3 else -1
        )(q, k, v),
        "differ from softmax": lambda q, k, v: attention_over(-1)(q * 2, k, v),
        "out is not weights @ v": lambda q, k, v: (
            attention_over(-1)(q, k, v)[0] + 1,
            attention_over(-1)(q, k, v)[1],
        ),
    }
    for words, answer in wrong.items():
        result = check("attention.softmax_dim", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


@pytest.mark.parametrize(
    "exercise_id, right, wrong",
    [
        (
            "attention.predict_score_std",
            [4, 4.0, torch.tensor(3.8)],
            {1: "not 1", 2: "not 2", 16: "the variance", 8: "√64 = 8", 0.5: "not 0.5"},
        ),
        (
            "attention.predict_causal_uniform",
            [1 / 7, 0.143, 0.14],
            {0.1: "all 10 tokens", 1 / 6: "itself", 0: "not weights of 0", 1: "not 1"},
        ),
        (
            "attention.sharpness",
            [0.19, 0.2, 0.192],
            {0.79: "strength 10", 0.13: "'mat'", 0.5: "between 1/10 and 0.79"},
        ),
    ],
)
def test_numbers_right_and_wrong(exercise_id, right, wrong):
    for answer in right:
        result = check(exercise_id, answer, quiet=True)
        assert result.passed, (answer, result.message)
    for answer, words in wrong.items():
        result = check(exercise_id, answer, quiet=True)
        assert not result.passed and words in result.message, (answer, result.message)
    for junk in ("4", True, float("nan"), [4]):
        result = check(exercise_id, junk, quiet=True)
        assert not result.passed and "expected a" in result.message, junk
