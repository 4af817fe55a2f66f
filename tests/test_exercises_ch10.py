"""Chapter 10's checkers: a right answer passes, the buggy original and each typical
mistake fail with a message that names it."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch10_hugging_face as ch10
from course_lib.exercises import check


def _linear(conv, weight, bias=True):
    n_in, n_out = conv.weight.shape
    linear = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias:
            linear.bias.copy_(conv.bias)
    return linear


def test_conv1d_weight():
    right = check("hf.conv1d_weight", lambda c: _linear(c, c.weight.t()), quiet=True)
    assert right.passed, right
    for wrong, words in [
        (ch10.buggy_linear_from_conv1d, "reshape"),
        (lambda c: _linear(c, c.weight), "fails on shape"),
        (lambda c: _linear(c, c.weight.view(c.weight.shape[::-1])), "reshape"),
        (lambda c: _linear(c, c.weight.t(), bias=False), "copy the bias"),
        (lambda c: c.weight.t(), "return an nn.Linear"),
    ]:
        result = check("hf.conv1d_weight", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def test_labels():
    right = check("hf.labels", lambda m, ids: m(ids, labels=ids).loss, quiet=True)
    assert right.passed, right
    for wrong, words in [
        (ch10.buggy_lm_loss, "None"),
        (lambda m, ids: m(ids[:, :-1], labels=ids[:, 1:]).loss, "shifted twice"),
        (
            lambda m, ids: F.cross_entropy(m(ids).logits.flatten(0, 1), ids.flatten()),
            "must predict token t+1",
        ),
        (lambda m, ids: m(ids).logits, "shape"),
    ]:
        result = check("hf.labels", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def _right_split(w):
    return tuple(p.t() for p in w.chunk(3, dim=1))


def test_split_c_attn():
    assert check("hf.split_c_attn", _right_split, quiet=True).passed
    for wrong, words in [
        (lambda w: tuple(w.chunk(3, dim=1)), "transpose each"),
        (lambda w: _right_split(w)[::-1], "not v, k, q"),
        (lambda w: tuple(w.chunk(3, dim=0)), "input axis"),
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
        (lambda h, m: torch.zeros(2), "shape"),
    ],
)
def test_mean_pool(wrong, words):
    assert check("hf.mean_pool", _right_pool, quiet=True).passed
    result = check("hf.mean_pool", wrong, quiet=True)
    assert not result.passed and words in result.message, result.message


def test_tied_params():
    tied = 50_257 * 768
    for right in (tied, 38.6e6):
        assert check("hf.tied_params", right, quiet=True).passed
    for wrong, words in [
        (2 * tied, "it is tied"),
        (tied + 1024 * 768, "position embedding wpe"),
        (124_000_000, "(vocabulary, width)"),
        ("38597376", "as a number"),
    ]:
        result = check("hf.tied_params", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def test_attentions_shape():
    for right in ((4, 2, 4, 10, 10), [4, 2, 4, 10, 10], torch.Size([4, 2, 4, 10, 10])):
        assert check("hf.attentions_shape", right, quiet=True).passed
    for wrong, words in [
        ((2, 4, 10, 10), "one layer's tensor"),
        ((4, 2, 10, 10), "heads dim"),
        ((4, 2, 4, 10, 32), "queries x keys"),
        ((2, 4, 4, 10, 10), "layers, sequences, heads"),
        ("(4, 2, 4, 10, 10)", "tuple of whole numbers"),
    ]:
        result = check("hf.attentions_shape", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message
