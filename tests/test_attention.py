"""course_lib.attention against PyTorch's own attention."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.attention import (
    attention_backward,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from course_lib.multi_head import MultiHeadAttention

TOL = {
    torch.float64: dict(rtol=1e-10, atol=1e-10),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
}


def random_mask(*shape, generator):
    mask = torch.rand(*shape, generator=generator) > 0.3
    mask[..., 0] = True  # keep one key per query so the reference has no empty row
    return mask


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("T, S, D", [(1, 1, 4), (5, 5, 8), (3, 7, 16)])
@pytest.mark.parametrize("masking", ["none", "random", "causal"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_sdpa_equals_torch(dtype, T, S, D, masking, need_weights):
    g = torch.Generator().manual_seed(T * 100 + S)
    q, k, v = (torch.randn(2, 3, n, D, generator=g, dtype=dtype) for n in (T, S, S))
    mask = {
        "none": None,
        "random": random_mask(2, 1, T, S, generator=g),
        "causal": causal_mask(T, S),
    }[masking]
    out, weights = scaled_dot_product_attention(
        q, k, v, mask, need_weights=need_weights
    )
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    if need_weights:
        assert weights.shape == (2, 3, T, S)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, T, dtype=dtype))
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [True, False])
def test_is_causal_matches_torch_and_explicit_mask(need_weights):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 6, 8, generator=g) for _ in range(3))
    out, _ = scaled_dot_product_attention(
        q, k, v, is_causal=True, need_weights=need_weights
    )
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, is_causal=True)
    )
    explicit, _ = scaled_dot_product_attention(
        q, k, v, causal_mask(6), need_weights=True
    )
    torch.testing.assert_close(out, explicit)


@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_query_gives_zeros_not_nan(need_weights):
    q, k, v = torch.randn(1, 3, 4), torch.randn(1, 5, 4), torch.randn(1, 5, 4)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False
    out, weights = scaled_dot_product_attention(
        q, k, v, mask, need_weights=need_weights
    )
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, 1], torch.zeros(4))
    if need_weights:
        torch.testing.assert_close(weights[0, 1], torch.zeros(5))


def test_causal_mask_shape_and_offset():
    assert causal_mask(3).tolist() == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]
    # the last 2 of 4 positions: query 0 is position 2, sees keys 0..2
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True] * 4]


def test_padding_mask():
    mask = padding_mask([2, 3], 4)
    assert mask.shape == (2, 1, 1, 4)
    assert mask[:, 0, 0].tolist() == [
        [True, True, False, False],
        [True, True, True, False],
    ]


def test_sdpa_weights_equal_the_formula_by_hand():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 8, generator=g, dtype=torch.float64) for _ in "qkv")
    mask = causal_mask(4)
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    for b in range(2):
        for i in range(4):
            scores = [float(q[b, i] @ k[b, j]) / 8**0.5 for j in range(i + 1)]
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            row = [x / sum(e) for x in e] + [0.0] * (3 - i)
            torch.testing.assert_close(
                weights[b, i], torch.tensor(row, dtype=torch.float64)
            )


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="embed_dim=10 must be a positive multiple"):
        MultiHeadAttention(10, 3)
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"same width D.*\(2, 3, 4\).*\(2, 5, 6\)"):
        scaled_dot_product_attention(q, k, k)
    k = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, k, torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool tensor"):
        scaled_dot_product_attention(q, k, k, torch.zeros(3, 5))
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query must be \(B, T, C=8\)"):
        mha(torch.randn(2, 3, 6), torch.randn(2, 3, 8), torch.randn(2, 3, 8))


@pytest.mark.parametrize("masking", ["none", "causal", "empty row"])
@pytest.mark.parametrize("T, S", [(4, 4), (3, 6)])
def test_manual_backward_equals_autograd(masking, T, S):
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 3, T, 8, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 3, S, 8, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 3, S, 5, generator=g, dtype=torch.float64, requires_grad=True)
    mask = None if masking == "none" else causal_mask(T, S)
    if masking == "empty row":
        mask = mask.clone()
        mask[1] = False  # query 1 sees nothing: its gradients must be 0, not NaN
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    grad_out = torch.randn(out.shape, generator=g, dtype=torch.float64)
    expected = torch.autograd.grad(out, (q, k, v), grad_out)
    ours = attention_backward(q, k, v, weights.detach(), grad_out)
    for name, mine, ref in zip("qkv", ours, expected, strict=True):
        assert mine.shape == ref.shape, name
        torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-10, msg=name)
        assert torch.isfinite(mine).all(), name


def test_manual_backward_rejects_mismatched_shapes():
    q, k, v = torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)
    with pytest.raises(ValueError, match=r"weights must end in \(T=3, 5\)"):
        attention_backward(q, k, v, torch.rand(5, 3), torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"grad_out must end in \(T=3, 2\)"):
        attention_backward(q, k, v, torch.rand(3, 5), torch.randn(3, 4))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masking", ["none", "causal", "padding"])
def test_gradcheck_float64(need_weights, masking):
    g = torch.Generator().manual_seed(2)
    q, k, v = (
        torch.randn(2, 2, n, 4, generator=g, dtype=torch.float64, requires_grad=True)
        for n in (3, 5, 5)
    )
    mask = {
        "none": None,
        "causal": causal_mask(3, 5),
        "padding": padding_mask([5, 2], 5),
    }[masking]

    def attend(q, k, v):
        return scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)[0]

    assert torch.autograd.gradcheck(attend, (q, k, v))


@pytest.mark.parametrize("T", [1, 2, 3])
@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_queries_after_a_cache_see_the_cache_and_not_each_others_future(
    T, need_weights
):
    """T new queries after S - T cached keys (the KV-cache case): the last T rows of
    the S x S causal mask, as PyTorch computes them with that explicit mask."""
    g = torch.Generator().manual_seed(0)
    S = 5
    q = torch.randn(2, 3, T, 8, generator=g)
    k, v = torch.randn(2, 3, S, 8, generator=g), torch.randn(2, 3, S, 8, generator=g)
    ours, _ = scaled_dot_product_attention(
        q, k, v, is_causal=True, need_weights=need_weights
    )
    mask = torch.ones(S, S, dtype=torch.bool).tril()[S - T :]  # (T, S)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref)
