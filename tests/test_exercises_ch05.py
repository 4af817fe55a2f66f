"""Chapter 05's checkers: a right answer passes, each typical mistake is named, and
each buggy original fails."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch05_transformer_block as ch05
from course_lib.exercises import check


def ln(dims=-1, unbiased=False, eps_inside=True, affine=True):
    def layer_norm(x, weight, bias, eps=1e-5):
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
        (ch05.buggy_layer_norm, "the time steps (dim=1)"),
        (ln(dims=0), "the batch (dim=0)"),
        (ln(dims=(1, 2)), "T and C together"),
        (ln(unbiased=True), "unbiased variance"),
        (ln(eps_inside=False), "inside the square root"),
        (ln(affine=False), "weight (γ) and bias (β) went missing"),
        (lambda x, w, b, eps: x, "differs from F.layer_norm"),
        (lambda x, w, b, eps: None, "expected a torch.Tensor"),
    ],
)
def test_layer_norm_mistakes(answer, words):
    assert check("block.layer_norm", ln(), quiet=True).passed
    result = check("block.layer_norm", answer, quiet=True)
    assert not result.passed and words in result.message


def rms(centre=False, eps_inside=True, dim=-1, affine=True, root=True):
    def rms_norm(x, weight, eps):
        h = x - x.mean(dim=dim, keepdim=True) if centre else x
        ms = h.pow(2).mean(dim=dim, keepdim=True)
        scale = torch.sqrt(ms + eps) if eps_inside else torch.sqrt(ms) + eps
        y = h / (scale if root else ms + eps)
        return y * weight if affine else y

    return rms_norm


@pytest.mark.parametrize(
    "answer, words",
    [
        (rms(centre=True), "that is LayerNorm without β"),
        (rms(eps_inside=False), "inside the square root"),
        (rms(dim=1), "over the C features"),
        (rms(affine=False), "multiply by weight"),
        (rms(root=False), "square ROOT"),
        (
            lambda x, w, eps: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w,
            "SUM of squares",
        ),
        (lambda x, w, eps: F.layer_norm(x, (8,), w), "subtract the mean"),
    ],
)
def test_rms_norm_mistakes(answer, words):
    assert check("block.rms_norm", rms(), quiet=True).passed
    result = check("block.rms_norm", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def pre_norm(combine):
    def block_fn(x, block):
        attend = lambda h: block.self_attn(h, h, h)[0]
        for norm, sublayer in ((block.norm1, attend), (block.norm2, block.ffn)):
            x = combine(x, norm, sublayer)
        return x

    return block_fn


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch05.buggy_pre_norm_block, "still the shipped code"),
        (pre_norm(lambda x, n, f: n(x + f(x))), "that is post-norm"),
        (pre_norm(lambda x, n, f: x + n(f(x))), "differs from EncoderBlock"),
        (pre_norm(lambda x, n, f: f(n(x))), "differs from EncoderBlock"),
    ],
)
def test_pre_norm_mistakes(answer, words):
    right = pre_norm(lambda x, norm, f: x + f(norm(x)))
    assert check("block.pre_norm", right, quiet=True).passed
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
        (
            lambda lengths, T: tril(T) & keep(lengths, T).transpose(-1, -2),
            "padded queries",
        ),
    ],
)
def test_decoder_mask_mistakes(answer, words):
    right = lambda lengths, T: tril(T) & keep(lengths, T)
    assert check("block.decoder_mask", right, quiet=True).passed
    result = check("block.decoder_mask", answer, quiet=True)
    assert not result.passed and words in result.message


C, FF = 64, 256


@pytest.mark.parametrize(
    "answer, words",
    [
        (4 * C * C + 2 * C * FF + 4 * C, "biases of the Linear layers"),
        (4 * C * C + 2 * C * FF, "the biases and the LayerNorms"),
        (4 * (C * C + C) + 2 * C * FF + FF + C, "left out the two LayerNorms"),
        (4 * (C * C + C) + 2 * C * FF + FF + C + 2 * C, "a weight AND a bias"),
        (16 * (C * C + C) + 2 * C * FF + FF + C + 4 * C, "add nothing"),
        (3 * (C * C + C) + 2 * C * FF + FF + C + 4 * C, "four projections"),
        (60_000, "too high by 20%"),
        ("fifty thousand", "one number"),
    ],
)
def test_param_count_mistakes(answer, words):
    assert check("block.param_count", 49_984, quiet=True).passed
    result = check("block.param_count", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        ((3.0, 5.0), "input's statistics"),
        ((0.0, 1.0), "before γ and β"),
        ((2.0, -1.0), "swapped"),
        ((1.0, 1.0), "not what LayerNorm gives"),
        (2.0, "a pair (mean, std)"),
    ],
)
def test_norm_output_mistakes(answer, words):
    assert check("block.norm_output", (-1, 2), quiet=True).passed
    result = check("block.norm_output", answer, quiet=True)
    assert not result.passed and words in result.message


def test_deep_post_norm():
    grads = ch05.block_gradients(False, ch05.DEEP)
    ratio = grads[-1] / grads[0]
    assert ratio > 1.5  # what the chapter says to expect
    assert check("block.deep_post_norm", ratio, quiet=True).passed
    for answer, words in [
        (1 / ratio, "the first over the last"),
        (ratio * 2, "differs"),
        ("2.4", "one number"),
    ]:
        result = check("block.deep_post_norm", answer, quiet=True)
        assert not result.passed and words in result.message, result.message
    shallow = ch05.block_gradients(False, 12)
    result = check("block.deep_post_norm", shallow[-1] / shallow[0], quiet=True)
    assert "depth 12" in result.message
