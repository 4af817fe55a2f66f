"""course_lib.models: shapes, causality, caches, parameter counts, bad input."""

import pytest
import torch

from course_lib.models import GPT, GPTConfig
from course_lib.utils import count_parameters

TINY = GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8)


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
    with pytest.raises(ValueError, match="n_embd=10 must be divisible by n_head=3"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        GPTConfig(block_size=0)
