"""course_lib.gpt: shapes, causality, caches, parameter counts, bad input; the same as
PyTorch's layers in training mode."""

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gpt import GPT, GPTConfig
from course_lib.layers import copy_block_from_torch
from course_lib.utils import count_parameters
from tests.helpers import Contiguous

# dropout > 0: a test that needs determinism calls .eval(), and the tests of training
# mode see the randomness
TINY = GPTConfig(
    vocab_size=11, block_size=16, num_layers=2, num_heads=2, d_model=8, dropout=0.1
)


def test_gpt_shapes_and_loss_against_cross_entropy():
    torch.manual_seed(0)
    model = GPT(TINY)
    idx = torch.randint(0, 11, (3, 7))
    targets = torch.randint(0, 11, (3, 7))
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 7, 11)
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 11), targets.reshape(-1)
    )
    torch.testing.assert_close(loss, expected)
    assert model(idx)[1] is None


def test_gpt_in_training_mode_equals_torch_layers_with_the_same_dropout():
    """GPT = dropout(token + position embeddings), pre-norm causal blocks, final
    LayerNorm, tied output layer. In training mode, with the same random numbers,
    it equals that recipe written with PyTorch's nn.TransformerEncoderLayer: every
    dropout (embeddings, attention weights, both residual branches, inside the
    feed-forward network) sits where PyTorch's does."""
    torch.manual_seed(0)
    model = GPT(TINY).double().train()
    gelu_tanh = functools.partial(F.gelu, approximate="tanh")
    layers = []
    for block in model.blocks:
        ref = nn.TransformerEncoderLayer(
            8,
            2,
            32,
            dropout=0.1,
            activation=gelu_tanh,
            batch_first=True,
            norm_first=True,
        ).double()
        with torch.no_grad():
            for p in ref.parameters():
                p.normal_(0, 0.3)
        copy_block_from_torch(block, ref)
        ref.dropout1 = nn.Sequential(Contiguous(), ref.dropout1)
        layers.append(ref)
    idx = torch.randint(0, 11, (3, 7))
    targets = torch.randint(0, 11, (3, 7))
    causal = nn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64)
    torch.manual_seed(5)
    logits, loss = model(idx, targets)
    torch.manual_seed(5)
    x = F.dropout(model.tok_emb.weight[idx] + model.pos_emb.weight[:7], p=0.1)
    for ref in layers:
        x = ref(x, src_mask=causal, is_causal=True)
    x = F.layer_norm(x, (8,), model.norm_f.weight, model.norm_f.bias)
    expected = x @ model.tok_emb.weight.T
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(
        loss, F.cross_entropy(expected.reshape(-1, 11), targets.reshape(-1))
    )
    # the same call in eval mode has no randomness, and differs
    eval_logits = model.eval()(idx)[0]
    torch.testing.assert_close(model(idx)[0], eval_logits, rtol=0, atol=0)
    assert not torch.allclose(eval_logits, logits)


def test_gpt_is_causal_a_future_token_never_changes_an_earlier_logit():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    idx = torch.randint(0, 11, (1, 10))
    changed = idx.clone()
    changed[0, 6] = (idx[0, 6] + 1) % 11
    before, _ = model(idx)
    after, _ = model(changed)
    torch.testing.assert_close(before[:, :6], after[:, :6], rtol=0, atol=0)
    assert not torch.allclose(before[:, 6:], after[:, 6:])


def test_gpt_kv_cache_gives_the_same_logits():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    idx = torch.randint(0, 11, (2, 9))
    full, _ = model(idx)
    caches = model.new_caches()
    parts = [model(idx[:, :5], caches=caches)[0]]
    parts += [model(idx[:, t : t + 1], caches=caches)[0] for t in range(5, 9)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full)


def test_gpt_attention_weights_are_causal_distributions():
    model = GPT(TINY).eval()
    weights = model.attention_weights(torch.randint(0, 11, (1, 5)))
    assert len(weights) == 2 and weights[0].shape == (1, 2, 5, 5)
    torch.testing.assert_close(weights[1].sum(-1), torch.ones(1, 2, 5))
    assert weights[0].triu(diagonal=1).abs().max() == 0


def test_gpt2_small_parameter_count_with_tied_embeddings():
    with torch.device("meta"):  # shapes only: no memory, no time
        model = GPT(GPTConfig.gpt2_small())
    assert count_parameters(model) == 124_439_808
    assert model.lm_head.weight is model.tok_emb.weight


@pytest.mark.parametrize(
    "idx, match",
    [
        (torch.tensor([[1, 11]]), r"token id 11, outside the vocabulary \[0, 11\)"),
        (torch.tensor([[-1, 2]]), r"token id -1"),
        (torch.zeros(1, 17, dtype=torch.long), "longer than block_size=16"),
        (torch.zeros(5, dtype=torch.long), r"must be \(B, T\)"),
        (torch.zeros(1, 3), "integer token ids"),
    ],
)
def test_gpt_bad_input_is_a_clear_error(idx, match):
    with pytest.raises(ValueError, match=match):
        GPT(TINY)(idx)


def test_gpt_config_validates():
    with pytest.raises(ValueError, match="d_model=10 must be divisible by num_heads=3"):
        GPTConfig(d_model=10, num_heads=3)
    with pytest.raises(ValueError, match="block_size must be an int >= 1"):
        GPTConfig(block_size=0)


# ------------------------------------------------------------------- Transformer (06)


def test_a_training_step_reads_no_tensor_value_back(monkeypatch):
    """No host sync in forward and loss on good input: the ids are checked where the
    data enters (batching, train, generate), not at every step; the forward pass only
    explains a bad id after torch refused it."""
    model = GPT(TINY).train()
    idx = torch.randint(0, TINY.vocab_size, (2, 8))
    targets = torch.randint(0, TINY.vocab_size, (2, 8))

    def sync(*args, **kwargs):
        raise AssertionError("a tensor's value was read back during the step")

    for name in ("tolist", "item", "__bool__", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    _, loss = model(idx, targets)
    loss.backward()
    monkeypatch.undo()
    with pytest.raises(ValueError, match="token id 11, outside the vocabulary"):
        model(torch.full((1, 3), 11))
    with pytest.raises(ValueError, match="targets holds token id 11"):
        model(idx, torch.full((2, 8), 11))


def test_a_bad_target_is_named_even_beside_ignored_ones():
    """-1 means "no target here": the message names the real culprit, not the -1."""
    model = GPT(TINY).eval()
    idx = torch.randint(0, TINY.vocab_size, (1, 4))
    targets = torch.tensor([[-1, 3, 11, -1]])
    message = r"targets holds token id 11, outside .*\(or -1"
    with pytest.raises(ValueError, match=message):
        model(idx, targets)
