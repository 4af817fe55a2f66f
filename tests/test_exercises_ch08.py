"""Chapter 08's checkers: a right answer passes, the buggy original and each typical
mistake fail with a message that names it."""

import pytest
import torch

from course_lib.exercises import ch08_generation as ch08
from course_lib.exercises import check
from course_lib.generation import top_k_filter


def _renormalised_power(x, T):  # softmax(x)^(1/T), renormalised: also right
    p = torch.softmax(x, -1) ** (1 / T)
    return p / p.sum(-1, keepdim=True)


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch08.buggy_temperature_probs, "whatever T is"),
        (lambda x, T: torch.softmax(x * T, -1), "multiply by T"),
        (lambda x, T: torch.softmax(x, -1) / T, "sum to"),
        (lambda x, T: torch.softmax(x / T, 0), "dim=-1"),
        (lambda x, T: x / T, "return probabilities"),
        (lambda x, T: None, "torch.Tensor"),
    ],
)
def test_temperature(answer, words):
    for right in (lambda x, T: torch.softmax(x / T, -1), _renormalised_power):
        assert check("generation.temperature", right, quiet=True).passed
    result = check("generation.temperature", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def _kth(x, k, largest=True):
    return torch.topk(x, k, -1, largest=largest).values[..., -1:]


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch08.buggy_top_k, "exp(0) > 0"),
        (lambda x, k: x.masked_fill(x > _kth(x, k, False), float("-inf")), "smallest"),
        (lambda x, k: x.masked_fill(x <= _kth(x, k), float("-inf")), "off-by-one"),
        (lambda x, k: x.masked_fill(x < _kth(x, k), float("inf")), "+inf"),
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


def test_eval_mode():
    def fixed(model, ids, n):
        model.eval()
        return ch08.buggy_greedy(model, ids, n)

    def seeded(model, ids, n):  # the same text twice, dropout still on
        torch.manual_seed(0)
        return ch08.buggy_greedy(model, ids, n)

    assert check("generation.eval_mode", fixed, quiet=True).passed
    for wrong, words in [
        (ch08.buggy_greedy, "still in training mode"),
        (seeded, "switch it off with model.eval()"),
        (lambda model, ids, n: ids, "shape"),
    ]:
        result = check("generation.eval_mode", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def _probs(x):
    return torch.softmax(x, -1)


def _top(x):
    return _probs(x).max(-1, keepdim=True).values


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda x, m: x.masked_fill(_probs(x) < m, float("-inf")), "relative"),
        (
            lambda x, m: x.masked_fill(x < m * x.max(-1, True).values, float("-inf")),
            "compare probabilities",
        ),
        (lambda x, m: x.masked_fill(_probs(x) > m * _top(x), float("-inf")), "below"),
        (lambda x, m: x.masked_fill(_probs(x) < m * _top(x), 0.0), "not 0"),
    ],
)
def test_min_p(answer, words):
    def right(x, m):
        return x.masked_fill(_probs(x) < m * _top(x), float("-inf"))

    assert check("generation.min_p", right, quiet=True).passed
    result = check("generation.min_p", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def test_top_p_count():
    assert check("generation.top_p_count", 4, quiet=True).passed
    for wrong, words in [
        (3, "crosses p is kept"),
        (6, "drops the tail"),
        (2, "until the sum reaches 0.9"),
        ("4", "whole number"),
        (True, "whole number"),
    ]:
        result = check("generation.top_p_count", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def test_cache_gain():
    assert check("generation.cache_gain", "linear", quiet=True).passed
    assert check("generation.cache_gain", " Linear", quiet=True).passed
    for wrong, words in [
        ("constant", "not a fixed factor"),
        ("quadratic", "not n²"),
        (2, "as a string"),
    ]:
        result = check("generation.cache_gain", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def test_the_cache_computes_one_position_a_step():
    n = 20
    assert ch08._positions_computed(n, True) == 16 + n - 1
    assert ch08._positions_computed(n, False) == sum(16 + t for t in range(n))


def test_distinct_chars():
    low, high = ch08.distinct_characters(0.5), ch08.distinct_characters(2.0)
    assert high > low  # what the chapter tells the learner to expect
    assert check("generation.distinct_chars", high, quiet=True).passed
    for wrong, words in [
        (low, "that is the count at T=0.5"),
        (high + 5, "prints another count"),
        (float(high), "whole number"),
    ]:
        result = check("generation.distinct_chars", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message
