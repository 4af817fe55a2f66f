"""Chapter 04's checkers: a right answer passes; each typical mistake gets its own
diagnosis."""

import torch

from course_lib.attention import scaled_dot_product_attention
from course_lib.exercises import check
from course_lib.multi_head import MultiHeadAttention


def split(x, H):
    B, T, C = x.shape
    return x.view(B, T, H, C // H).transpose(1, 2)


def merge(x):
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def test_split_heads_checker():
    assert check("mha.split_heads", split, quiet=True).passed
    wrong = {
        "forgot to move the head dim": lambda x, H: x.view(*x.shape[:2], H, -1),
        "mixes different tokens": lambda x, H: x.reshape(x.shape[0], H, x.shape[1], -1),
        "expected (B, H, T, D)": lambda x, H: x,
        "columns h·D..(h+1)·D": lambda x, H: split(x, H).flip(1),
    }
    for words, answer in wrong.items():
        result = check("mha.split_heads", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


def test_merge_heads_checker():
    assert check("mha.merge_heads", merge, quiet=True).passed
    wrong = {
        "tokens are mixed": lambda x: x.reshape(x.shape[0], x.shape[2], -1),
        "expected (B, T, C)": lambda x: x.transpose(1, 2),
        "head 0's D numbers": lambda x: merge(x.flip(1)),
    }
    for words, answer in wrong.items():
        result = check("mha.merge_heads", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


def forward(mha, query, key, value, mask=None, how=""):
    """A learner's multi-head forward pass, with one mistake chosen by ``how``."""
    H = 1 if how == "one head" else mha.num_heads
    q = split(mha.q_proj(query), H)  # (B, H, T, D)
    k, v = split(mha.k_proj(key), H), split(mha.v_proj(value), H)
    if how == "scale by C":
        q = q / H**0.5  # with sdpa's 1/√D this makes 1/√C
    out, _ = scaled_dot_product_attention(q, k, v, None if how == "no mask" else mask)
    out = merge(out)
    return out if how == "no out_proj" else mha.out_proj(out)


def test_forward_checker():
    assert check("mha.forward", forward, quiet=True).passed
    assert check("mha.forward", lambda m, q, k, v, mask=None: m(q, k, v, mask)).passed
    wrong = {
        "no out_proj": "forgot mha.out_proj",
        "scale by C": "1/√C",
        "one head": "single-head attention",
        "no mask": "mask makes no difference",
    }
    for how, words in wrong.items():

        def answer(mha, q, k, v, mask=None, how=how):
            return forward(mha, q, k, v, mask, how)

        result = check("mha.forward", answer, quiet=True)
        assert not result.passed and words in result.message, (how, result.message)
    result = check("mha.forward", lambda m, q, k, v, mask=None: q[:, :, :3], quiet=True)
    assert not result.passed and "expected out of shape" in result.message


def test_num_parameters_checker():
    def right(C, H, bias=True):
        return sum(p.numel() for p in MultiHeadAttention(C, H, bias=bias).parameters())

    assert check("mha.num_parameters", right, quiet=True).passed
    wrong = {
        "but not out_proj": lambda C, H, bias=True: 3 * C * C + 3 * C * bias,
        "left out the biases": lambda C, H, bias=True: 4 * C * C,
        "grows with the number of heads": lambda C, H, bias=True: H * right(C, H, bias),
        "embed_dim=512": lambda C, H, bias=True: 0,
        "expected an int": lambda C, H, bias=True: None,
    }
    for words, answer in wrong.items():
        result = check("mha.num_parameters", answer, quiet=True)
        assert not result.passed and words in result.message, (words, result.message)


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check("mha.forward", forward, quiet=True)
    torch.testing.assert_close(torch.rand(3), expected)
