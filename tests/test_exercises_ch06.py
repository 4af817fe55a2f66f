"""Chapter 06's checkers: a right answer passes, each typical mistake is named, and
each buggy original fails."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch06_transformer as ch06
from course_lib.exercises import check
from course_lib.tasks import PAD_ID
from course_lib.transformer import Transformer, TransformerConfig
from course_lib.utils import count_parameters


def smoothed(off_share, count_pad=False, eps_scale=1.0):
    def loss(logits, targets, eps, pad_id):
        V = logits.shape[-1]
        off = eps * eps_scale / (V - 1 if off_share == "V-1" else V)
        on = 1 - eps * eps_scale + (0 if off_share == "V-1" else off)
        q = torch.full_like(logits, off)
        q[torch.arange(len(targets)), targets] = on
        per_token = -(q * logits.log_softmax(-1)).sum(-1)
        keep = torch.ones_like(targets, dtype=torch.bool)
        if not count_pad:
            keep = targets != pad_id
        return per_token[keep].mean()

    return loss


@pytest.mark.parametrize(
    "answer, words",
    [
        (smoothed("V-1"), "V-1 wrong classes"),
        (smoothed("V", count_pad=True), "padding positions are counted"),
        (
            lambda lg, t, eps, pad: F.cross_entropy(lg, t, ignore_index=pad),
            "no smoothing",
        ),
        (smoothed("V", eps_scale=2.0), "your loss differs"),
    ],
)
def test_label_smoothing_mistakes(answer, words):
    assert check("transformer.label_smoothing", smoothed("V"), quiet=True).passed
    result = check("transformer.label_smoothing", answer, quiet=True)
    assert not result.passed and words in result.message


def translation_loss(inputs, labels, smoothing=0.1, ignore=PAD_ID):
    def loss(model, src, tgt, src_mask):
        logits = model(src, inputs(tgt), src_mask)
        V = logits.shape[-1]
        return F.cross_entropy(
            logits.reshape(-1, V), labels(tgt).reshape(-1), ignore_index=ignore,
            label_smoothing=smoothing,
        )  # fmt: skip

    return loss


head, tail = (lambda t: t[:, :-1]), (lambda t: t[:, 1:])


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch06.buggy_translation_loss, "the labels are still the decoder's own input"),
        (translation_loss(tail, head), "swapped"),
        (translation_loss(head, tail, smoothing=0.0), "keep label_smoothing"),
        (translation_loss(head, tail, ignore=-100), "keep ignore_index"),
        (lambda model, src, tgt, mask: torch.zeros(3), "one-number tensor"),
    ],
)
def test_shift_mistakes(answer, words):
    assert check("transformer.shift", translation_loss(head, tail), quiet=True).passed
    result = check("transformer.shift", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def decode_with(tgt_mask=None, is_causal=False, memory_mask=True):
    def decode(model, tgt_in, memory, src_mask):
        y = model.embed(tgt_in, model.tgt_emb, "tgt")
        T = tgt_in.shape[1]
        mask = tgt_mask(T) if tgt_mask else None
        for block in model.decoder.layers:
            y, _, _ = block(
                y, memory, mask, src_mask if memory_mask else None, is_causal
            )
        return model.lm_head(y)

    return decode


def tril(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch06.buggy_decode, "still no causal mask"),
        (decode_with(lambda T: ~tril(T)), "inverted"),
        (decode_with(lambda T: tril(T).T), "differ from Transformer.decode"),
        (decode_with(is_causal=True, memory_mask=False), "differ from Transformer"),
    ],
)
def test_causal_mistakes(answer, words):
    assert check("transformer.causal", decode_with(tril), quiet=True).passed
    assert check("transformer.causal", decode_with(is_causal=True), quiet=True)
    result = check("transformer.causal", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def encode_with(mask):
    def encode_batch(model, sentences):
        src = ch06.pad_batch(sentences, PAD_ID)
        return model.encode(src, mask(src))

    return encode_batch


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch06.buggy_encode_batch, "still no mask"),
        (encode_with(lambda s: (s == PAD_ID)[:, None, None, :]), "inverted"),
        (encode_with(lambda s: (s != 5)[:, None, None, :]), "still differ"),
    ],
)
def test_padding_mistakes(answer, words):
    right = encode_with(lambda s: (s != PAD_ID)[:, None, None, :])
    assert check("transformer.padding", right, quiet=True).passed
    result = check("transformer.padding", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        (1.0, "not a fixed number"),
        (0.25, "too low"),
        (2.0, "lower peak"),
        (0.7, "not the ratio"),
        ("half", "one number"),
    ],
)
def test_warmup_peak_mistakes(answer, words):
    assert check("transformer.warmup_peak", 0.5, quiet=True).passed
    result = check("transformer.warmup_peak", answer, quiet=True)
    assert not result.passed and words in result.message


def test_base_parameters_is_count_parameters_of_the_model():
    for d_ff in (2048, 1024):
        with torch.device("meta"):
            model = Transformer(TransformerConfig.base(vocab_size=37_000, d_ff=d_ff))
        assert ch06.base_parameters(d_ff) == count_parameters(model)


@pytest.mark.parametrize(
    "answer, words",
    [
        (63_082_496, "unmodified count"),
        (63_082_496 - 6 * (2 * 512 * 1024 + 1024), "only one stack"),
        (50_487_296 + 1000, "not exact"),
        (40_000_000, "differs"),
    ],
)
def test_narrow_ffn_mistakes(answer, words):
    assert check("transformer.narrow_ffn", 50_487_296, quiet=True).passed
    result = check("transformer.narrow_ffn", answer, quiet=True)
    assert not result.passed and words in result.message
