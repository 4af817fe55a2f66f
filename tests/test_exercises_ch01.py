"""Chapter 01's checkers: a right answer passes; each typical mistake gets its own
message."""

import re

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import check


def run(exercise_id, answer):
    return check(exercise_id, answer, quiet=True)


def ce_right(logits, targets):
    return -logits.log_softmax(-1)[torch.arange(len(targets)), targets].mean()


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda lo, t: -ce_right(lo, t), "sign is flipped"),
        (lambda lo, t: ce_right(lo, t) * len(t), "summed over"),
        (
            lambda lo, t: -lo.softmax(-1)[torch.arange(len(t)), t].mean(),
            "averaged probabilities",
        ),
        (
            lambda lo, t: -lo.log_softmax(0)[torch.arange(len(t)), t].mean(),
            "wrong|dim 0",
        ),
        (
            lambda lo, t: (
                -(lo.exp() / lo.exp().sum(-1, keepdim=True))
                .log()[torch.arange(len(t)), t]
                .mean()
            ),
            "overflows",
        ),
        (lambda lo, t: -lo.log_softmax(-1)[:, t].mean(), "F.cross_entropy gives"),
        (lambda lo, t: lo.log_softmax(-1), "one number"),
    ],
)
def test_cross_entropy_mistakes(answer, message):
    result = run("lm.cross_entropy", answer)
    assert not result.passed
    assert re.search(message, result.message), result.message


def test_cross_entropy_right_answers_pass():
    assert run("lm.cross_entropy", ce_right)
    assert run("lm.cross_entropy", F.cross_entropy)


@pytest.mark.parametrize(
    "answer, message",
    [
        (F.cross_entropy, "the loss"),
        (lambda lo, t: 2 ** F.cross_entropy(lo, t), "2\\*\\*loss"),
        (lambda lo, t: F.cross_entropy(lo, t, reduction="sum").exp(), "SUM"),
        (lambda lo, t: F.cross_entropy(lo, t).exp() + 1, "expected exp"),
    ],
)
def test_perplexity_mistakes(answer, message):
    result = run("lm.perplexity", answer)
    assert not result.passed and re.search(message, result.message), result.message


def test_perplexity_right_answer_passes():
    assert run("lm.perplexity", lambda lo, t: F.cross_entropy(lo, t).exp())


def sgd_right(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def sgd_rebinds(params, lr):
    with torch.no_grad():
        for p in params:
            p = p - lr * p.grad  # the mistake: rebinds p, the model keeps its own


def sgd_ascent(params, lr):
    with torch.no_grad():
        for p in params:
            p += lr * p.grad
            p.grad = None


def sgd_no_lr(params, lr):
    with torch.no_grad():
        for p in params:
            p -= p.grad


def sgd_keeps_grads(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad


def sgd_no_no_grad(params, lr):
    for p in params:
        p -= lr * p.grad


@pytest.mark.parametrize(
    "answer, message",
    [
        (sgd_rebinds, "did not change"),
        (sgd_ascent, "ascent"),
        (sgd_no_lr, "learning rate"),
        (sgd_keeps_grads, "gradients are still"),
        (sgd_no_no_grad, "torch.no_grad"),
    ],
)
def test_sgd_step_mistakes(answer, message):
    result = run("lm.sgd_step", answer)
    assert not result.passed and message in result.message, result.message


def test_sgd_step_right_answer_passes():
    assert run("lm.sgd_step", sgd_right)


def counts(ids, V):
    c = torch.zeros(V, V)
    c.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1), accumulate=True)
    return c


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            lambda ids, V: ((counts(ids, V) + 1) / (counts(ids, V) + 1).sum(1, True)).T,
            "transposed",
        ),
        (
            lambda ids, V: counts(ids, V) / counts(ids, V).sum(1, True).clamp_min(1),
            "add-one",
        ),
        (
            lambda ids, V: (counts(ids, V) + 1) / (counts(ids, V) + 1).sum(0, True),
            "columns sum to 1",
        ),
        (lambda ids, V: counts(ids, V) + 1, "rows do not sum"),
        (lambda ids, V: torch.ones(V), "(V, V)"),
    ],
)
def test_bigram_probs_mistakes(answer, message):
    result = run("lm.bigram_probs", answer)
    assert not result.passed and message in result.message, result.message


def test_bigram_probs_right_answer_passes():
    right = lambda ids, V: (counts(ids, V) + 1) / (counts(ids, V) + 1).sum(1, True)
    assert run("lm.bigram_probs", right)
