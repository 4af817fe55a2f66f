"""Chapter 07's checkers: a right answer passes, each typical mistake is named."""

import math

import pytest
import torch

from course_lib.exercises import check
from course_lib.exercises.ch07_training_loop import (
    bigram_run,
    buggy_estimate_loss,
    buggy_lr_schedule,
    buggy_train_steps,
)


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
        (
            lambda s, a, b, w, m: (
                a * (s + 1) / w if s <= w else schedule(s, a, b, w, m)
            ),
            "one step too long",
        ),
        (buggy_lr_schedule, "first update is wasted"),
    ],
)
def test_lr_schedule(answer, words):
    assert check("training.lr_schedule", schedule, quiet=True).passed
    result = check("training.lr_schedule", answer, quiet=True)
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


# --- find-the-bug: gradients never zeroed
def fixed_steps(model, optimizer, batches):
    losses = []
    for x, y in batches:
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()  # after the step is as good as before the forward
        losses.append(loss.item())
    return losses


def zeroed_too_late(model, optimizer, batches):
    losses = []
    for x, y in batches:
        _, loss = model(x, y)
        loss.backward()
        optimizer.zero_grad()  # wipes the gradients the step needs
        optimizer.step()
        losses.append(loss.item())
    return losses


def zeroed_once(model, optimizer, batches):
    optimizer.zero_grad()
    return buggy_train_steps(model, optimizer, batches)


@pytest.mark.parametrize(
    "answer, words",
    [
        (buggy_train_steps, "pile up"),
        (zeroed_once, "pile up"),
        (zeroed_too_late, "never change"),
        (lambda m, o, b: fixed_steps(m, o, b)[:3], "list of 12 losses"),
    ],
)
def test_zero_grad(answer, words):
    assert check("training.zero_grad", fixed_steps, quiet=True).passed
    result = check("training.zero_grad", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


# --- find-the-bug: evaluation left in training mode
def fixed_estimate(model, data, batches=10):
    was_training = model.training
    model.eval()
    loss = buggy_estimate_loss(model, data, batches)
    model.train(was_training)
    return loss


def eval_never_restored(model, data, batches=10):
    model.eval()
    return buggy_estimate_loss(model, data, batches)


def other_batches(model, data, batches=10):
    return fixed_estimate(model, data[1000:], batches)


@pytest.mark.parametrize(
    "answer, words",
    [
        (buggy_estimate_loss, "dropout is still on"),
        (eval_never_restored, "model.train()"),
        (other_batches, "Keep the batches"),
        (lambda model, data, batches=10: "1.4", "as a number"),
    ],
)
def test_eval_mode(answer, words):
    assert check("training.eval_mode", fixed_estimate, quiet=True).passed
    result = check("training.eval_mode", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


# --- predict
@pytest.mark.parametrize(
    "answer, words",
    [
        (math.log2(1000), "bits"),
        (3.0, "log10"),
        (0.001, "probability"),
        (4.63, "ln 103"),
        (0.0, "certainty"),
        (5.5, "ln V"),
        ("6.9", "as a number"),
    ],
)
def test_init_loss(answer, words):
    assert check("training.init_loss", 6.9, quiet=True).passed
    assert check("training.init_loss", torch.tensor(math.log(1000)), quiet=True)
    result = check("training.init_loss", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        (1.5e-3, "fell to 0"),
        (3e-3, "the peak"),
        (3e-4, "the floor"),
        (1e-3, "0.5 of the cosine"),
    ],
)
def test_lr_midpoint(answer, words):
    assert check("training.lr_midpoint", 1.65e-3, quiet=True).passed
    result = check("training.lr_midpoint", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


# --- modify
def test_bigram_lr():
    assert bigram_run(0.01) > bigram_run(0.1) + 1.0  # the change matters
    assert check("training.bigram_lr", 4.38, quiet=True).passed
    shipped = check("training.bigram_lr", round(bigram_run(0.1), 2), quiet=True)
    assert not shipped.passed and "as shipped" in shipped.message
    other = check("training.bigram_lr", 3.0, quiet=True)
    assert not other.passed and "change only lr" in other.message
