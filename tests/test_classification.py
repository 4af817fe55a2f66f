"""course_lib.classification: pooling (first, mean, last), GPTEncoder and the
SequenceClassifier head, against hand computations and against each sentence run
alone, on our GPT and on a small BertModel built by transformers."""

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from course_lib.classification import (
    POOLINGS,
    GPTEncoder,
    SequenceClassifier,
    last_token_pool,
    mean_pool,
    pool,
)
from course_lib.gpt import GPT, GPTConfig
from tests.helpers import random_gpt

TINY = GPTConfig(vocab_size=11, block_size=16, num_layers=2, num_heads=2, d_model=8)
PAD = 0
# three sentences of different lengths, right-padded with PAD to the longest
SENTENCES = [[3, 4, 5], [1, 2, 3, 4, 5, 6], [7, 8]]


def _random_gpt(config: GPTConfig = TINY, seed: int = 0) -> GPT:
    return random_gpt(config, seed)


def _tiny_bert(seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=11, hidden_size=8, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=16,
                        pad_token_id=PAD, attn_implementation="eager")  # fmt: skip
    return BertModel(config).eval()


def _padded(sentences=SENTENCES):
    T = max(map(len, sentences))
    ids = torch.tensor([s + [PAD] * (T - len(s)) for s in sentences])  # (B, T)
    return ids, (ids != PAD).long()


class _Embedder(torch.nn.Module):
    """A toy encoder returning (B, T, C) hidden states as a tuple."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 6)

    def forward(self, ids, attention_mask=None):
        return (self.emb(ids),)


# ------------------------------------------------------------------------- pooling
def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0, :2].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))
    with pytest.raises(ValueError, match="attention_mask"):
        mean_pool(hidden, mask[:, :3])


def test_last_token_pool_picks_the_last_real_token():
    hidden = torch.randn(4, 5, 3)
    mask = torch.tensor(
        [
            [1, 1, 1, 0, 0],  # right padding: position 2
            [1, 1, 1, 1, 1],  # no padding: position 4
            [1, 0, 0, 0, 0],  # one token: position 0
            [0, 0, 1, 1, 0],  # left and right padding: position 3
        ]
    )
    expected = torch.stack([hidden[0, 2], hidden[1, 4], hidden[2, 0], hidden[3, 3]])
    torch.testing.assert_close(last_token_pool(hidden, mask), expected, rtol=0, atol=0)
    torch.testing.assert_close(last_token_pool(hidden, mask.bool()), expected)
    torch.testing.assert_close(last_token_pool(hidden), hidden[:, -1])
    with pytest.raises(ValueError, match="last_token_pool: attention_mask"):
        last_token_pool(hidden, mask[:, :3])


def test_pool_by_name_equals_a_hand_computation():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    by_hand = {
        "first": hidden[:, 0],
        "mean": torch.stack([hidden[0, :3].mean(0), hidden[1, :2].mean(0)]),
        "last": torch.stack([hidden[0, 2], hidden[1, 1]]),
    }
    assert set(POOLINGS) == set(by_hand)
    for name, expected in by_hand.items():
        torch.testing.assert_close(pool(hidden, mask, name), expected, msg=name)
    with pytest.raises(ValueError, match=r"pooling must be 'first', 'mean' or 'last'"):
        pool(hidden, mask, "max")


# ------------------------------------------------------------------------ the head
def test_sequence_classifier_logits_and_loss():
    torch.manual_seed(0)
    enc = _Embedder()
    clf = SequenceClassifier(enc, num_labels=3, hidden_size=6)
    ids = torch.randint(0, 10, (4, 5))
    mask = torch.ones(4, 5, dtype=torch.long)
    mask[0, 3:] = 0
    labels = torch.tensor([0, 1, 2, 1])
    logits, loss = clf(ids, labels, attention_mask=mask)
    assert logits.shape == (4, 3)
    pooled = mean_pool(enc.emb(ids), mask)
    expected = pooled @ clf.head.weight.T + clf.head.bias
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(loss, F.cross_entropy(expected, labels))
    assert clf(ids)[1] is None
    first = SequenceClassifier(enc, 3, pooling="first", hidden_size=6)
    torch.testing.assert_close(
        first(ids)[0], enc.emb(ids)[:, 0] @ first.head.weight.T + first.head.bias
    )
    last = SequenceClassifier(enc, 3, pooling="last", hidden_size=6)
    hidden = enc.emb(ids)
    rows = torch.stack([hidden[0, 2], *hidden[1:, 4]])  # row 0 ends at position 2
    torch.testing.assert_close(
        last(ids, attention_mask=mask)[0], rows @ last.head.weight.T + last.head.bias
    )


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("encoder", ["our GPT", "BertModel"])
def test_a_padded_batch_gives_each_sentence_its_own_logits(encoder, pooling):
    """Padded together, each sentence gets the logits it gets alone (no padding):
    pooling leaves the pads out. Our causal GPT derives the mask from pad_token_id;
    the bidirectional BertModel is given it, and masks the pads in attention too."""
    ours = encoder == "our GPT"
    body = GPTEncoder(_random_gpt()) if ours else _tiny_bert()
    clf = SequenceClassifier(body, 2, pooling, pad_token_id=PAD if ours else None)
    clf.eval()

    def logits(ids, mask):  # (B, T) -> (B, 2)
        return clf(ids)[0] if ours else clf(ids, attention_mask=mask)[0]

    ids, mask = _padded()
    with torch.no_grad():
        together = logits(ids, mask)
        alone = torch.cat([logits(torch.tensor([s]), None) for s in SENTENCES])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_last_pooling_of_our_gpt_is_its_last_real_hidden_state():
    gpt = _random_gpt()
    clf = SequenceClassifier(GPTEncoder(gpt), 2, pooling="last", pad_token_id=PAD)
    ids, _ = _padded()
    with torch.no_grad():
        hidden = gpt.hidden_states(ids)[0]  # (B, T, C)
        rows = torch.stack([hidden[b, len(s) - 1] for b, s in enumerate(SENTENCES)])
        torch.testing.assert_close(clf(ids)[0], clf.head(rows))
        # without pad_token_id the head reads the last column, a pad for two rows
        blind = SequenceClassifier(GPTEncoder(gpt), 2, pooling="last")
        blind.head = clf.head
        assert not torch.allclose(blind(ids)[0], clf(ids)[0])


def test_sequence_classifier_reads_the_width_from_a_gpt_and_checks_input():
    gpt = _random_gpt()
    clf = SequenceClassifier(GPTEncoder(gpt), 2)
    assert clf.head.in_features == TINY.d_model
    ids = torch.randint(0, TINY.vocab_size, (2, 5))
    hidden = GPTEncoder(gpt)(ids)
    # the GPT without its output layer: through the tied output matrix, its logits
    with torch.no_grad():
        torch.testing.assert_close(hidden @ gpt.tok_emb.weight.T, gpt(ids)[0])
    torch.testing.assert_close(clf(ids)[0], clf.head(hidden.sum(1) / 5))
    with pytest.raises(ValueError, match=r"pooling must be 'first', 'mean' or 'last'"):
        SequenceClassifier(gpt, 2, pooling="max")
    with pytest.raises(ValueError, match="num_labels"):
        SequenceClassifier(gpt, 1)
    with pytest.raises(ValueError, match="input_ids"):
        clf(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden_size"):
        SequenceClassifier(torch.nn.Linear(2, 2), 2)


def test_sequence_classifier_derives_the_mask_from_pad_token_id():
    torch.manual_seed(4)
    enc = _Embedder()
    ids = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    mask = (ids != 0).long()
    labels = torch.tensor([0, 1])
    clf = SequenceClassifier(enc, 2, hidden_size=6, pad_token_id=0)
    logits, loss = clf(ids, labels)  # what course_lib.training.train calls
    expected = clf.head(mean_pool(enc.emb(ids), mask))
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(loss, F.cross_entropy(expected, labels))
    unmasked = clf.head(enc.emb(ids).mean(1))
    assert not torch.allclose(logits, unmasked)  # the padding really is left out
    with pytest.raises(ValueError, match="pad_token_id"):
        SequenceClassifier(enc, 2, hidden_size=6, pad_token_id="[PAD]")
