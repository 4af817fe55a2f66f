"""course_lib.layers against PyTorch's own Transformer layers."""

import math

import pytest
import torch
from torch import nn
from transformers.models.distilbert.modeling_distilbert import (
    create_sinusoidal_embeddings,
)

from course_lib.attention import causal_mask, padding_mask
from course_lib.layers import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    LearnedPositions,
    copy_block_from_torch,
    sinusoidal_positions,
)

C, H, FF = 16, 4, 32


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_equals_the_formula(activation):
    torch.manual_seed(0)
    ffn = FeedForward(C, FF, activation=activation).double()
    x = torch.randn(2, 5, C, dtype=torch.float64)
    act = torch.relu if activation == "relu" else nn.functional.gelu
    w1, b1 = ffn.linear1.weight, ffn.linear1.bias
    w2, b2 = ffn.linear2.weight, ffn.linear2.bias
    torch.testing.assert_close(ffn(x), act(x @ w1.T + b1) @ w2.T + b2)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="activation='swish' is not one of"):
        FeedForward(C, FF, activation="swish")


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masking", ["none", "causal", "padding"])
@pytest.mark.parametrize("need_weights", [False, True])
def test_encoder_block_equals_torch(norm_first, activation, masking, need_weights):
    torch.manual_seed(0)  # dropout > 0, but eval mode: none may be applied
    kwargs = dict(dropout=0.1, activation=activation, norm_first=norm_first)
    ref = (
        nn.TransformerEncoderLayer(C, H, FF, batch_first=True, **kwargs).double().eval()
    )
    ours = EncoderBlock(C, H, FF, **kwargs).double().eval()
    copy_block_from_torch(ours, ref)
    x = torch.randn(2, 6, C, dtype=torch.float64)
    mask, ref_kwargs = None, {}
    if masking == "causal":
        mask, ref_kwargs = causal_mask(6), {"src_mask": ~causal_mask(6)}
    elif masking == "padding":
        mask = padding_mask([6, 4], 6)
        ref_kwargs = {"src_key_padding_mask": ~mask[:, 0, 0]}
    out, _ = ours(x, mask, need_weights=need_weights)
    expected = ref(x, **ref_kwargs)
    if (
        masking == "padding"
    ):  # PyTorch's fast path zeroes padded positions; compare the rest
        keep = mask[:, 0, 0, :, None]
        out, expected = out * keep, expected * keep
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_decoder_block_equals_torch(norm_first, need_weights):
    torch.manual_seed(0)  # dropout > 0, but eval mode: none may be applied
    kwargs = dict(dropout=0.1, norm_first=norm_first)
    ref = (
        nn.TransformerDecoderLayer(C, H, FF, batch_first=True, **kwargs).double().eval()
    )
    ours = DecoderBlock(C, H, FF, **kwargs).double().eval()
    copy_block_from_torch(ours, ref)
    y = torch.randn(2, 5, C, dtype=torch.float64)
    memory = torch.randn(2, 7, C, dtype=torch.float64)
    src = padding_mask([7, 5], 7)
    out, self_w, cross_w = ours(
        y, memory, causal_mask(5), src, need_weights=need_weights
    )
    expected = ref(
        y, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=~src[:, 0, 0]
    )
    torch.testing.assert_close(out, expected)
    if need_weights:
        assert self_w.shape == (2, H, 5, 5) and cross_w.shape == (2, H, 5, 7)
        assert cross_w[1, :, :, 5:].abs().max() == 0  # padding gets no attention


class Contiguous(nn.Module):
    """PyTorch's nn.MultiheadAttention returns a transposed (non-contiguous) view with
    batch_first=True, and dropout draws its mask in memory order. Placed before that
    dropout, this makes PyTorch's layer drop the same elements ours does from the same
    random numbers; it changes no value."""

    def forward(self, x):
        return x.contiguous()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masking", ["none", "causal", "padding"])
def test_encoder_block_in_training_mode_equals_torch(norm_first, masking):
    """Dropout on the attention weights, after attention, inside the feed-forward
    network and after it, as nn.TransformerEncoderLayer has it: with the same random
    numbers the two agree in training mode too."""
    torch.manual_seed(0)
    kwargs = dict(dropout=0.2, norm_first=norm_first)
    ref = nn.TransformerEncoderLayer(C, H, FF, batch_first=True, **kwargs).double()
    ours = EncoderBlock(C, H, FF, **kwargs).double()
    copy_block_from_torch(ours, ref)
    ref.dropout1 = nn.Sequential(Contiguous(), ref.dropout1)
    x = torch.randn(2, 6, C, dtype=torch.float64)
    mask, ref_kwargs = None, {}
    if masking == "causal":
        mask, ref_kwargs = causal_mask(6), {"src_mask": ~causal_mask(6)}
    elif masking == "padding":
        mask = padding_mask([6, 4], 6)
        ref_kwargs = {"src_key_padding_mask": ~mask[:, 0, 0]}
    torch.manual_seed(1)
    out, _ = ours(x, mask)
    torch.manual_seed(1)
    expected = ref(x, **ref_kwargs)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, ours.eval()(x, mask)[0])  # dropout did something


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_in_training_mode_equals_torch(norm_first):
    torch.manual_seed(0)
    kwargs = dict(dropout=0.2, norm_first=norm_first)
    ref = nn.TransformerDecoderLayer(C, H, FF, batch_first=True, **kwargs).double()
    ours = DecoderBlock(C, H, FF, **kwargs).double()
    copy_block_from_torch(ours, ref)
    ref.dropout1 = nn.Sequential(Contiguous(), ref.dropout1)
    ref.dropout2 = nn.Sequential(Contiguous(), ref.dropout2)
    y = torch.randn(2, 5, C, dtype=torch.float64)
    memory = torch.randn(2, 7, C, dtype=torch.float64)
    src = padding_mask([7, 5], 7)
    torch.manual_seed(1)
    out, _, _ = ours(y, memory, causal_mask(5), src)
    torch.manual_seed(1)
    expected = ref(
        y, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=~src[:, 0, 0]
    )
    torch.testing.assert_close(out, expected)


# ------------------------------------------------------- positional encodings (02)
# --- positional encodings (chapter 02) ------------------------------------------------


def test_sinusoidal_positions_follow_the_papers_formula():
    T, C = 9, 6
    expected = torch.tensor(
        [
            [
                math.sin(pos / 10000 ** (2 * (j // 2) / C))
                if j % 2 == 0
                else math.cos(pos / 10000 ** (2 * (j // 2) / C))
                for j in range(C)
            ]
            for pos in range(T)
        ]
    )
    torch.testing.assert_close(sinusoidal_positions(T, C), expected)


def test_sinusoidal_positions_equal_distilberts():
    T, C = 512, 64
    reference = create_sinusoidal_embeddings(T, C, torch.empty(T, C))
    torch.testing.assert_close(sinusoidal_positions(T, C), reference)


def test_sinusoidal_positions_reject_odd_width():
    with pytest.raises(ValueError, match="C must be an even int >= 2, got 5"):
        sinusoidal_positions(4, 5)
    with pytest.raises(ValueError, match="T must be an int >= 1"):
        sinusoidal_positions(0, 4)


def test_learned_positions_are_a_trainable_table():
    pos = LearnedPositions(max_len=16, C=8)
    table = pos(5)
    assert table.shape == (5, 8)
    table.sum().backward()
    assert pos.weight.grad[:5].abs().sum() > 0 and pos.weight.grad[5:].abs().sum() == 0
    with pytest.raises(ValueError, match="T=17 positions asked"):
        pos(17)


# --- end of positional encodings ------------------------------------------------------
