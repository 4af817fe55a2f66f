"""Chapter 05's checkers: a right answer passes, each typical mistake is named."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import check


def ln(dims=-1, unbiased=False, eps_inside=True, affine=True):
    def layer_norm(x, weight, bias, eps):
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
        if eps_inside:
            y = (x - mean) / torch.sqrt(var + eps)
        else:
            y = (x - mean) / (torch.sqrt(var) + eps)
        return y * weight + bias if affine else y

    return layer_norm


@pytest.mark.parametrize(
    "answer, words",
    [
        (ln(unbiased=True), "unbiased variance"),
        (ln(eps_inside=False), "inside the square root"),
        (ln(affine=False), "forgot to scale by weight"),
        (ln(dims=1), "normalised over the time steps"),
        (ln(dims=0), "normalised over the batch"),
        (lambda x, w, b, eps: x, "differs from F.layer_norm"),
        (lambda x, w, b, eps: None, "expected a torch.Tensor"),
    ],
)
def test_layer_norm_mistakes(answer, words):
    assert check("block.layer_norm", ln(), quiet=True).passed
    result = check("block.layer_norm", answer, quiet=True)
    assert not result.passed and words in result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda x, w1, b1, w2, b2: (x @ w1.T + b1) @ w2.T + b2, "no non-linearity"),
        (
            lambda x, w1, b1, w2, b2: F.relu(F.relu(x @ w1.T + b1) @ w2.T + b2),
            "ReLU to the output too",
        ),
        (lambda x, w1, b1, w2, b2: F.relu(x @ w1.T) @ w2.T, "biases"),
        (lambda x, w1, b1, w2, b2: F.relu(x @ w1 + b1) @ w2 + b2, "x @ w1.T"),
    ],
)
def test_feed_forward_mistakes(answer, words):
    right = lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2
    assert check("block.feed_forward", right, quiet=True).passed
    result = check("block.feed_forward", answer, quiet=True)
    assert not result.passed and words in result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda x, f, norm: norm(x + f(x)), "post-norm"),
        (lambda x, f, norm: f(norm(x)), "residual is missing"),
        (lambda x, f, norm: x + norm(f(x)), "normalise the sub-layer's output"),
        (lambda x, f, norm: norm(x) + f(norm(x)), "instead of x"),
    ],
)
def test_pre_norm_mistakes(answer, words):
    assert check("block.pre_norm", lambda x, f, norm: x + f(norm(x)), quiet=True)
    result = check("block.pre_norm", answer, quiet=True)
    assert not result.passed and words in result.message


def keep(lengths, T):
    return (torch.arange(T)[None, :] < lengths[:, None])[:, None, None, :]


def tril(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda lengths, T: ~(tril(T) & keep(lengths, T)), "inverted"),
        (lambda lengths, T: tril(T)[None, None], "padded keys are not hidden"),
        (lambda lengths, T: keep(lengths, T), "the future is not"),
        (lambda lengths, T: tril(T).T & keep(lengths, T), "upper triangle"),
        (lambda lengths, T: (tril(T) & keep(lengths, T)).float(), "dtype"),
        (lambda lengths, T: torch.ones(3, 3, dtype=torch.bool), "does not broadcast"),
    ],
)
def test_decoder_mask_mistakes(answer, words):
    right = lambda lengths, T: tril(T) & keep(lengths, T)
    assert check("block.decoder_mask", right, quiet=True).passed
    result = check("block.decoder_mask", answer, quiet=True)
    assert not result.passed and words in result.message
