"""Chapter 07's checkers: a right answer passes, each typical mistake is named."""

import math

import pytest
import torch

from course_lib.exercises import check


def schedule(step, lr, min_lr, warmup, max_steps, floor=None, warm=True, plus1=True):
    floor = min_lr if floor is None else floor
    if warm and step < warmup:
        return lr * (step + (1 if plus1 else 0)) / warmup
    if step >= max_steps:
        return floor
    progress = (step - warmup) / (max_steps - warmup)
    return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - floor)


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda s, a, b, w, m: schedule(s, a, b, w, m, plus1=False), "wasted"),
        (lambda s, a, b, w, m: schedule(max(s, w), a, b, w, m), "no warmup"),
        (lambda s, a, b, w, m: schedule(s, a, b, w, m, floor=0.0), "ends at 0"),
        (
            lambda s, a, b, w, m: schedule(min(s, m - 1), a, b, w, m) if s < m else a,
            "stay at min_lr",
        ),
        (lambda s, a, b, w, m: schedule(s, a, b, w, m + 10), "decay is not"),
        (lambda s, a, b, w, m: a * (s + 1) / (2 * w) if s < w else b, "warmup"),
        (lambda s: 0.0, "calling lr_schedule"),
    ],
)
def test_lr_schedule(answer, words):
    assert check("training.lr_schedule", schedule, quiet=True).passed
    result = check("training.lr_schedule", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def right_clip(grads, max_norm):
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    return [g * min(1.0, max_norm / float(norm)) for g in grads]


def always_scale(grads, max_norm):
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    return [g * max_norm / norm for g in grads]


def per_tensor(grads, max_norm):
    return [g * min(1.0, max_norm / float(g.norm())) for g in grads]


@pytest.mark.parametrize(
    "answer, words",
    [
        (always_scale, "already below"),
        (per_tensor, "one global norm"),
        (lambda grads, n: [g * 0.5 for g in grads], "min(1, max_norm / norm)"),
        (lambda grads, n: torch.cat([g.flatten() for g in grads]), "list of 3"),
    ],
)
def test_clip_grads(answer, words):
    assert check("training.clip_grads", right_clip, quiet=True).passed
    result = check("training.clip_grads", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def right_groups(model):
    params = list(model.parameters())
    return [p for p in params if p.dim() >= 2], [p for p in params if p.dim() < 2]


def named_twice(model):  # walks modules, so the tied weight shows up twice
    ps = [p for m in model.modules() for p in m.parameters(recurse=False)]
    return [p for p in ps if p.dim() >= 2], [p for p in ps if p.dim() < 2]


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda m: right_groups(m)[::-1], "swapped"),
        (named_twice, "appears twice"),
        (lambda m: (list(m.parameters()), []), "bias or a LayerNorm"),
        (lambda m: (right_groups(m)[0], right_groups(m)[1][:1]), "missing"),
        (lambda m: right_groups(m)[0], "two lists"),
    ],
)
def test_decay_groups(answer, words):
    assert check("training.decay_groups", right_groups, quiet=True).passed
    result = check("training.decay_groups", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def adamw(
    p, grad, m, v, step, lr, betas, eps, wd, decoupled=True, correct=True, decay=True
):
    b1, b2 = betas
    if decay and not decoupled:
        grad = grad + wd * p
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    m_hat = m / (1 - b1**step) if correct else m
    v_hat = v / (1 - b2**step) if correct else v
    if decay and decoupled:
        p = p - lr * wd * p
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v


def forgets_moments(p, grad, m, v, step, *args):
    return adamw(p, grad, torch.zeros_like(m), torch.zeros_like(v), 1, *args)


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda *a: adamw(*a, decay=False), "no weight decay"),
        (lambda *a: adamw(*a, decoupled=False), "Adam with L2"),
        (lambda *a: adamw(*a, correct=False), "bias correction"),
        (forgets_moments, "carry m and v"),
        (lambda *a: adamw(*a)[0], "tuple (p, m, v)"),
    ],
)
def test_adamw_step(answer, words):
    assert check("training.adamw_step", adamw, quiet=True).passed
    result = check("training.adamw_step", answer, quiet=True)
    assert not result.passed and words in result.message, result.message
