"""Chapter 06's checkers: a right answer passes, each typical mistake is named."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import check


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda ids, tab, pos: tab[ids] + pos[: ids.shape[1]], "√C factor is missing"),
        (
            lambda ids, tab, pos: (
                (tab[ids] + pos[: ids.shape[1]]) * math.sqrt(tab.shape[1])
            ),
            "then add the positions unscaled",
        ),
        (
            lambda ids, tab, pos: (
                tab[ids] / math.sqrt(tab.shape[1]) + pos[: ids.shape[1]]
            ),
            "do not divide",
        ),
        (
            lambda ids, tab, pos: tab[ids] * tab.shape[1] + pos[: ids.shape[1]],
            "not C",
        ),
        (lambda ids, tab, pos: tab[ids] * math.sqrt(tab.shape[1]), "positions are"),
    ],
)
def test_embed_mistakes(answer, words):
    def right(ids, table, positions):
        return table[ids] * math.sqrt(table.shape[1]) + positions[: ids.shape[1]]

    assert check("transformer.embed", right, quiet=True).passed
    result = check("transformer.embed", answer, quiet=True)
    assert not result.passed and words in result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda tgt: (tgt, tgt), "learn to copy"),
        (lambda tgt: (tgt[:, 1:], tgt[:, :-1]), "swapped"),
        (lambda tgt: (tgt, tgt[:, 1:]), "same shape"),
        (lambda tgt: tgt[:, :-1], "return a pair"),
    ],
)
def test_shift_mistakes(answer, words):
    right = lambda tgt: (tgt[:, :-1], tgt[:, 1:])
    assert check("transformer.shift", right, quiet=True).passed
    result = check("transformer.shift", answer, quiet=True)
    assert not result.passed and words in result.message


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


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda s, d, w: min(s**-0.5, s * w**-1.5), "too big"),
        (lambda s, d, w: d**-0.5 * max(s**-0.5, s * w**-1.5), "not max"),
        (lambda s, d, w: d**-0.5 * min(s**-0.5, s * w**-0.5), "warm-up is not"),
        (lambda s, d, w: d**-0.5 * min(s**-0.5, (s - 1) ** -1.5), "divides by zero"),
    ],
)
def test_warmup_mistakes(answer, words):
    right = lambda s, d, w: d**-0.5 * min(s**-0.5, s * w**-1.5)
    assert check("transformer.warmup_lr", right, quiet=True).passed
    result = check("transformer.warmup_lr", answer, quiet=True)
    assert not result.passed and words in result.message
