"""Chapter 03's checkers: a right answer passes; each typical mistake gets its own
diagnosis."""

import math

import pytest
import torch

from course_lib.attention import causal_mask, scaled_dot_product_attention
from course_lib.exercises import check


def attention(q, k, v, mask=None, scale=None, dim=-1, fill=float("-inf"), how=""):
    """A learner's attention, with one mistake chosen by ``how``."""
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
    out = weights @ v
    if how == "v @ weights":
        out = v.transpose(-2, -1) @ weights.transpose(-2, -1)
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
    ],
)
def test_sdpa_mistakes_are_named(answer, words):
    result = check("attention.sdpa", answer, quiet=True)
    assert not result.passed
    assert words in result.message, result.message


def test_causal_mask_checker():
    assert check("attention.causal_mask", causal_mask, quiet=True).passed
    wrong = {
        "inverted": lambda T: ~causal_mask(T),
        "upper triangle": lambda T: causal_mask(T).T,
        "diagonal is False": lambda T: torch.tril(
            torch.ones(T, T, dtype=torch.bool), diagonal=-1
        ),
        "dtype torch.float32": lambda T: torch.tril(torch.ones(T, T)),
        "additive float mask": lambda T: torch.zeros(T, T).masked_fill(
            ~causal_mask(T), float("-inf")
        ),
        "do not hard-code 5": lambda T: causal_mask(5),
        "expected (5, 5)": lambda T: causal_mask(T)[None],
    }
    for words, answer in wrong.items():
        result = check("attention.causal_mask", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


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
