"""Chapter 10's checkers: a right answer passes, each typical mistake is named."""

import pytest
import torch

from course_lib.exercises import check


def test_conv1d_weight():
    assert check("hf.conv1d_weight", lambda w: w.t(), quiet=True).passed
    for wrong, words in [
        (lambda w: w, "still (out, in)"),
        (lambda w: w.reshape(w.shape[1], w.shape[0]), "reshape"),
        (lambda w: w.t() * 2, "differs"),
        (lambda w: None, "torch.Tensor"),
    ]:
        result = check("hf.conv1d_weight", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def _right_split(w):
    return tuple(p.t() for p in w.chunk(3, dim=1))


def test_split_c_attn():
    assert check("hf.split_c_attn", _right_split, quiet=True).passed
    for wrong, words in [
        (lambda w: tuple(w.chunk(3, dim=1)), "transpose each"),
        (lambda w: _right_split(w)[::-1], "not v, k, q"),
        (lambda w: tuple(w.t().chunk(3, dim=0))[:2], "three tensors"),
    ]:
        result = check("hf.split_c_attn", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def _right_pool(h, m):
    m = m.unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda h, m: h.mean(1), "padding is averaged in"),
        (lambda h, m: (h * m.unsqueeze(-1)).sum(1) / h.shape[1], "not by T"),
        (lambda h, m: h[:, 0], "[CLS]"),
        (lambda h, m: h.sum(1), "differs"),
    ],
)
def test_mean_pool(wrong, words):
    assert check("hf.mean_pool", _right_pool, quiet=True).passed
    result = check("hf.mean_pool", wrong, quiet=True)
    assert not result.passed and words in result.message, result.message


def test_a_wrong_shape_is_named():
    result = check("hf.mean_pool", lambda h, m: torch.zeros(2), quiet=True)
    assert not result.passed and "shape" in result.message
