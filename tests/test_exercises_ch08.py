"""Chapter 08's checkers: a right answer passes, each typical mistake is named."""

import pytest
import torch

from course_lib.exercises import check
from course_lib.generation import top_k_filter, top_p_filter


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda x, T: torch.softmax(x * T, -1), "multiply by T"),
        (lambda x, T: torch.softmax(x, -1), "ignored"),
        (lambda x, T: torch.softmax(x, -1) / T, "before the softmax"),
        (lambda x, T: torch.softmax(x / T, 0), "dim=-1"),
        (lambda x, T: x / T, "return probabilities"),
        (lambda x, T: None, "torch.Tensor"),
    ],
)
def test_temperature(answer, words):
    assert check(
        "generation.temperature", lambda x, T: torch.softmax(x / T, -1), quiet=True
    ).passed
    result = check("generation.temperature", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def _kth(x, k, largest=True):
    return torch.topk(x, k, -1, largest=largest).values[..., -1:]


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda x, k: x.masked_fill(x > _kth(x, k, False), float("-inf")), "smallest"),
        (lambda x, k: x.masked_fill(x < _kth(x, k), 0.0), "set them to float"),
        (lambda x, k: x.masked_fill(x <= _kth(x, k), float("-inf")), "off-by-one"),
        (lambda x, k: torch.topk(x, k, -1).values, "shape"),
    ],
)
def test_top_k(answer, words):
    def right(x, k):
        return x.masked_fill(x < _kth(x, k), float("-inf"))

    assert check("generation.top_k", right, quiet=True).passed
    assert check("generation.top_k", top_k_filter, quiet=True).passed
    result = check("generation.top_k", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def _too_few(x, p):
    probs, order = torch.softmax(x, -1).sort(-1, descending=True)
    drop = torch.cumsum(probs, -1) > p
    drop[..., 0] = False
    return x.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


@pytest.mark.parametrize(
    "answer, words",
    [
        (_too_few, "crosses p"),
        (lambda x, p: torch.full_like(x, float("-inf")), "always keep"),
        (lambda x, p: x, "differs"),
    ],
)
def test_top_p(answer, words):
    def right(x, p):
        probs, order = torch.softmax(x, -1).sort(-1, descending=True)
        drop = torch.cumsum(probs, -1) - probs >= p
        return x.masked_fill(drop.scatter(-1, order, drop), float("-inf"))

    assert check("generation.top_p", right, quiet=True).passed
    assert check("generation.top_p", top_p_filter, quiet=True).passed
    result = check("generation.top_p", answer, quiet=True)
    assert not result.passed and words in result.message, result.message
