"""course_lib.multi_head: MultiHeadAttention equals nn.MultiheadAttention (eval and
training mode, gradients), and the KV cache changes no output."""

import pytest
import torch
from torch import nn

from course_lib.attention import (
    causal_mask,
    padding_mask,
)
from course_lib.multi_head import KVCache, MultiHeadAttention, copy_mha_from_torch

TOL = {
    torch.float64: dict(rtol=1e-10, atol=1e-10),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["self", "cross"])
@pytest.mark.parametrize("masking", ["none", "causal", "padding"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_equals_nn_multiheadattention(dtype, bias, kind, masking, need_weights):
    torch.manual_seed(0)
    B, C, H = 2, 16, 4
    T, S = (5, 5) if kind == "self" else (3, 6)
    # dropout > 0 in eval mode: no weight may be dropped
    ref = nn.MultiheadAttention(
        C, H, dropout=0.3, bias=bias, batch_first=True, dtype=dtype
    ).eval()
    ours = MultiHeadAttention(C, H, dropout=0.3, bias=bias).to(dtype).eval()
    copy_mha_from_torch(ours, ref)
    query = torch.randn(B, T, C, dtype=dtype)
    key = query if kind == "self" else torch.randn(B, S, C, dtype=dtype)
    if masking == "none":
        mask, ref_kwargs = None, {}
    elif masking == "causal":
        mask = causal_mask(T, S)
        ref_kwargs = {"attn_mask": ~mask}  # nn.MultiheadAttention: True = blocked
    else:
        mask = padding_mask([S, S - 2], S)
        ref_kwargs = {"key_padding_mask": ~mask[:, 0, 0]}
    out, weights = ours(query, key, key, mask, need_weights=need_weights)
    ref_out, ref_weights = ref(
        query, key, key, need_weights=True, average_attn_weights=False, **ref_kwargs
    )
    torch.testing.assert_close(out, ref_out, **TOL[dtype])
    if need_weights:
        torch.testing.assert_close(weights, ref_weights, **TOL[dtype])


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masking", ["none", "padding"])
def test_mha_in_training_mode_drops_weights_like_torch(need_weights, masking):
    """In training mode both drop attention weights with probability p (and scale
    the rest by 1/(1-p)); from the same random numbers they drop the same ones."""
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(16, 4, dropout=0.3, batch_first=True).double()
    ours = MultiHeadAttention(16, 4, dropout=0.3).double()
    copy_mha_from_torch(ours, ref)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    mask, ref_kwargs = None, {}
    if masking == "padding":
        mask = padding_mask([5, 3], 5)
        ref_kwargs = {"key_padding_mask": ~mask[:, 0, 0]}
    torch.manual_seed(1)
    out, weights = ours(x, x, x, mask, need_weights=need_weights)
    torch.manual_seed(1)
    ref_out, ref_weights = ref(
        x, x, x, need_weights=need_weights, average_attn_weights=False, **ref_kwargs
    )
    torch.testing.assert_close(out, ref_out)
    if need_weights:
        torch.testing.assert_close(weights, ref_weights)
    assert not torch.allclose(out, ours.eval()(x, x, x, mask)[0])


def test_mha_paths_agree_on_gradients():
    torch.manual_seed(0)
    mha = MultiHeadAttention(12, 3).double()
    x = torch.randn(2, 5, 12, dtype=torch.float64, requires_grad=True)
    grads = []
    for need_weights in (True, False):
        out, _ = mha(x, x, x, causal_mask(5), need_weights=need_weights)
        grads.append(torch.autograd.grad(out.square().sum(), [x, *mha.parameters()]))
    for slow, fast in zip(*grads, strict=True):
        torch.testing.assert_close(slow, fast)


def test_kv_cache_gives_the_same_outputs_as_full_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(1, 6, 8)
    full, _ = mha(x, x, x, is_causal=True)
    cache = KVCache()
    first, _ = mha(x[:, :4], x[:, :4], x[:, :4], is_causal=True, cache=cache)
    steps = [first]
    for t in (4, 5):  # one new token at a time attends everything cached
        step, _ = mha(x[:, t : t + 1], x[:, t : t + 1], x[:, t : t + 1], cache=cache)
        steps.append(step)
    assert len(cache) == 6
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


@pytest.mark.parametrize("need_weights", [True, False])
def test_gradcheck_float64_multi_head(need_weights):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).double()
    query = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    key = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)

    def attend(query, key):
        return mha(query, key, key, padding_mask([4, 3], 4), need_weights)[0]

    assert torch.autograd.gradcheck(attend, (query, key))


def test_a_cache_with_room_fills_in_place_and_equals_a_growing_one():
    g = torch.Generator().manual_seed(0)
    steps = [torch.randn(2, 3, n, 4, generator=g) for n in (5, 1, 1, 1)]
    roomy, growing = KVCache(max_len=8), KVCache()
    with torch.no_grad():
        for i, x in enumerate(steps):
            k, v = roomy.append(x, x + 1)
            want_k, want_v = growing.append(x, x + 1)
            torch.testing.assert_close(k, want_k, rtol=0, atol=0)
            torch.testing.assert_close(v, want_v, rtol=0, atol=0)
            if i == 0:
                storage = k.untyped_storage().data_ptr()
            assert k.untyped_storage().data_ptr() == storage  # no copy per token
        assert len(roomy) == 8
        k, _ = roomy.append(steps[1], steps[1])  # past max_len: it still works
    assert len(roomy) == 9 and k.shape == (2, 3, 9, 4)
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        KVCache(max_len=0)


def test_a_cache_with_room_lets_gradients_through():
    x = torch.randn(1, 1, 3, 2, requires_grad=True)
    y = torch.randn(1, 1, 1, 2, requires_grad=True)
    cache = KVCache(max_len=6)
    cache.append(x, x)
    k, v = cache.append(y, y)
    (k.sum() + 2 * v.sum()).backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 3.0))
    torch.testing.assert_close(y.grad, torch.full_like(y, 3.0))
