"""course_lib.transformer: equal to torch.nn.Transformer given the same weights,
in eval and in training mode; masks, tied embeddings, greedy decoding, bad input."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import causal_mask, padding_mask
from course_lib.transformer import Transformer, TransformerConfig, copy_from_torch
from course_lib.utils import count_parameters
from tests.helpers import Contiguous


def tiny_transformer_config(**overrides):
    fields = dict(
        src_vocab_size=13,
        tgt_vocab_size=11,
        d_model=16,
        num_heads=4,
        num_encoder_layers=2,
        num_decoder_layers=3,
        d_ff=32,
        dropout=0.1,  # tests that need determinism call .eval()
        max_len=20,
    )
    return TransformerConfig(**{**fields, **overrides})


def transformer_pair(norm_first, training=False):
    """Our model and nn.Transformer with the same weights and dropout, in float64,
    in eval mode (or both in training mode)."""
    torch.manual_seed(0)
    config = tiny_transformer_config(norm_first=norm_first, final_norm=True)
    ours = Transformer(config).double().train(training)
    ref = nn.Transformer(
        16, 4, 2, 3, 32, dropout=0.1, batch_first=True, norm_first=norm_first
    )
    ref = ref.double().train(training)
    with torch.no_grad():  # LayerNorms start at 1 and 0: make a missed copy visible
        for name, p in ref.named_parameters():
            if "norm" in name:
                p.normal_(mean=0.5 if name.endswith("weight") else 0.0, std=0.2)
    copy_from_torch(ours, ref)
    return ours, ref


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_equals_torch_with_causal_and_padding_masks(norm_first):
    ours, ref = transformer_pair(norm_first)
    src = torch.randint(0, 13, (3, 7))
    tgt = torch.randint(0, 11, (3, 5))
    src_mask = padding_mask([7, 4, 6], 7)  # (B, 1, 1, S)
    pad = ~src_mask[:, 0, 0]  # nn.Transformer's convention: True = padding
    # nn.Transformer has no embeddings and no output layer: feed it ours
    src_x = ours.embed(src, ours.src_emb, "src")
    tgt_x = ours.embed(tgt, ours.tgt_emb, "tgt")
    expected = ref(
        src_x,
        tgt_x,
        tgt_mask=~causal_mask(5),
        src_key_padding_mask=pad,
        memory_key_padding_mask=pad,
    )
    torch.testing.assert_close(ours(src, tgt, src_mask), ours.lm_head(expected))
    # the two stacks on their own, as the chapter shows them
    memory = ref.encoder(src_x, src_key_padding_mask=pad)
    ours_memory, _ = ours.encoder(src_x, src_mask)
    keep = src_mask[:, 0, 0, :, None]  # PyTorch's fast path zeroes padded positions
    torch.testing.assert_close(ours_memory * keep, memory * keep)
    y, _, _ = ours.decoder(tgt_x, memory, memory_mask=src_mask)
    torch.testing.assert_close(
        y,
        ref.decoder(
            tgt_x, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=pad
        ),
    )


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_in_training_mode_equals_torch_with_the_same_dropout(norm_first):
    """With the same random numbers, our training-mode forward equals: dropout on the
    scaled embeddings plus positions (the paper's section 5.4), then nn.Transformer's
    encoder and decoder, whose layers drop where ours do."""
    ours, ref = transformer_pair(norm_first, training=True)
    for layer in [*ref.encoder.layers, *ref.decoder.layers]:
        layer.dropout1 = nn.Sequential(Contiguous(), layer.dropout1)
    for layer in ref.decoder.layers:
        layer.dropout2 = nn.Sequential(Contiguous(), layer.dropout2)
    src = torch.randint(0, 13, (3, 7))
    tgt = torch.randint(0, 11, (3, 5))
    src_mask = padding_mask([7, 4, 6], 7)
    pad = ~src_mask[:, 0, 0]
    torch.manual_seed(5)
    got = ours(src, tgt, src_mask)
    torch.manual_seed(5)
    src_x = F.dropout(ours.src_emb.weight[src] * 4.0 + ours.positions[:7], p=0.1)
    memory = ref.encoder(src_x, src_key_padding_mask=pad)
    tgt_x = F.dropout(ours.tgt_emb.weight[tgt] * 4.0 + ours.positions[:5], p=0.1)
    y = ref.decoder(
        tgt_x, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=pad
    )
    torch.testing.assert_close(got, y @ ours.lm_head.weight.T)
    with torch.no_grad():
        assert not torch.allclose(got, ours.eval()(src, tgt, src_mask))


def test_transformer_decoder_is_causal_and_ignores_padded_source():
    torch.manual_seed(0)
    model = Transformer(tiny_transformer_config()).eval()
    src = torch.randint(0, 13, (1, 6))
    tgt = torch.randint(0, 11, (1, 8))
    mask = padding_mask([4], 6)
    before = model(src, tgt, mask)
    changed_tgt = tgt.clone()
    changed_tgt[0, 5] = (tgt[0, 5] + 1) % 11
    after = model(src, changed_tgt, mask)
    torch.testing.assert_close(before[:, :5], after[:, :5], rtol=0, atol=0)
    assert not torch.allclose(before[:, 5:], after[:, 5:])
    changed_src = src.clone()
    changed_src[0, 4:] = (src[0, 4:] + 1) % 13  # only padded source positions
    torch.testing.assert_close(model(changed_src, tgt, mask), before)


def test_transformer_embeddings_are_scaled_and_tied():
    model = Transformer(tiny_transformer_config(share_vocab=False)).eval()
    ids = torch.tensor([[3, 3]])
    x = model.embed(ids, model.tgt_emb, "tgt")
    expected = model.tgt_emb.weight[3] * 16**0.5 + model.positions[:2]
    torch.testing.assert_close(x[0], expected)
    assert model.lm_head.weight is model.tgt_emb.weight
    assert model.src_emb is not model.tgt_emb
    untied = Transformer(tiny_transformer_config(tie_embeddings=False))
    assert untied.lm_head.weight is not untied.tgt_emb.weight
    shared = Transformer(tiny_transformer_config(src_vocab_size=11, share_vocab=True))
    assert shared.src_emb is shared.tgt_emb


def base_parameter_count(V=37000, C=512, F=2048, N=6):
    """The paper's base model, counted by hand."""
    attention = 4 * (C * C + C)  # q, k, v, out projections with biases
    ffn = (C * F + F) + (F * C + C)
    norm = 2 * C
    encoder_layer = attention + ffn + 2 * norm
    decoder_layer = 2 * attention + ffn + 3 * norm
    embeddings = V * C  # one matrix: source, target and output layer share it
    return N * encoder_layer + N * decoder_layer + embeddings


def test_base_parameter_count_equals_the_closed_form():
    with torch.device("meta"):  # shapes only: no memory, no time
        model = Transformer(TransformerConfig.base())
    assert base_parameter_count() == 63_082_496
    assert count_parameters(model) == base_parameter_count()
    parts = count_parameters(model, by="child")
    assert parts["encoder"] == 6 * 3_152_384 and parts["src_emb"] == 37000 * 512
    with torch.device("meta"):
        untied = Transformer(TransformerConfig.base(share_vocab=False))
    assert count_parameters(untied) == base_parameter_count() + 37000 * 512


def test_greedy_decode_follows_the_argmax_and_stops_at_eos():
    torch.manual_seed(0)
    model = Transformer(tiny_transformer_config()).eval()
    src = torch.randint(0, 13, (4, 6))
    out = model.greedy_decode(src, max_len=7, bos_id=1, eos_id=2)
    assert out.shape[0] == 4 and 2 <= out.shape[1] <= 8
    assert (out[:, 0] == 1).all()
    # every token is the argmax of the logits given the tokens before it
    logits = model(src, out[:, :-1])
    unfinished = torch.cumsum(out[:, :-1] == 2, dim=1) == 0  # before the first EOS
    chosen = logits.argmax(-1)
    assert (chosen[unfinished] == out[:, 1:][unfinished]).all()
    # after its EOS a sequence holds only EOS
    for row in out.tolist():
        if 2 in row:
            assert set(row[row.index(2) :]) == {2}


def test_greedy_decode_stops_as_soon_as_every_sequence_is_done():
    model = Transformer(tiny_transformer_config(tie_embeddings=False)).eval()
    with torch.no_grad():  # every logit 0: argmax picks id 0, which we call EOS
        model.lm_head.weight.zero_()
    src = torch.randint(0, 13, (2, 6))
    out = model.greedy_decode(src, max_len=10, bos_id=1, eos_id=0)
    assert out.tolist() == [[1, 0], [1, 0]]


@pytest.mark.parametrize(
    "src, tgt, match",
    [
        (
            torch.tensor([[1, 13]]),
            torch.tensor([[1]]),
            r"src holds token id 13, "
            r"outside the vocabulary \[0, 13\)",
        ),
        (torch.tensor([[1, 2]]), torch.tensor([[11]]), r"tgt holds token id 11"),
        (
            torch.zeros(1, 21, dtype=torch.long),
            torch.tensor([[1]]),
            "src has 21 tokens, longer than max_len=20",
        ),
        (
            torch.tensor([[1]]),
            torch.zeros(1, 21, dtype=torch.long),
            "tgt has 21 tokens, longer than max_len=20",
        ),
    ],
)
def test_transformer_bad_input_is_a_clear_error(src, tgt, match):
    with pytest.raises(ValueError, match=match):
        Transformer(tiny_transformer_config())(src, tgt)


def test_transformer_config_and_masks_validate():
    with pytest.raises(ValueError, match="d_model=10 must be divisible by num_heads=3"):
        tiny_transformer_config(d_model=10, num_heads=3)
    with pytest.raises(ValueError, match="share_vocab=True needs"):
        tiny_transformer_config(share_vocab=True)
    model = Transformer(tiny_transformer_config())
    src = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"src_mask must be .* \(B, 1, 1, S\)"):
        model.encode(src, torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="max_len=20 must be in"):
        model.greedy_decode(src, max_len=20, bos_id=1, eos_id=2)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_copy_from_torch_refuses_a_mismatched_reference():
    model = Transformer(tiny_transformer_config())
    ref = nn.Transformer(16, 4, 2, 3, 32, batch_first=True)
    with pytest.raises(ValueError, match="final_norm=False"):
        copy_from_torch(model, ref)
    model = Transformer(tiny_transformer_config(final_norm=True))
    with pytest.raises(ValueError, match="batch_first=True"):
        copy_from_torch(model, nn.Transformer(16, 4, 2, 3, 32))
    with pytest.raises(ValueError, match="3 layers in a stack where the model has 2"):
        copy_from_torch(model, nn.Transformer(16, 4, 3, 3, 32, batch_first=True))


def test_attention_weights_are_distributions_that_skip_padding():
    model = Transformer(tiny_transformer_config()).eval()
    src = torch.randint(0, 13, (2, 6))
    tgt = torch.randint(0, 11, (2, 4))
    weights = model.attention_weights(src, tgt, padding_mask([6, 3], 6))
    assert [len(weights[k]) for k in ("encoder", "decoder", "cross")] == [2, 3, 3]
    cross = weights["cross"][-1]
    assert cross.shape == (2, 4, 4, 6)
    torch.testing.assert_close(cross.sum(-1), torch.ones(2, 4, 4))
    assert cross[1, :, :, 3:].abs().max() == 0
    assert weights["decoder"][0].triu(diagonal=1).abs().max() == 0


# ------------------------------------------------------------------ baselines (01)
