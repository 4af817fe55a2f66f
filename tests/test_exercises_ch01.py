"""Chapter 01's checkers: a right answer passes; each typical mistake gets its own
message, and the buggy originals fail with the symptom named."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch01_language_models as ch01
from course_lib.exercises import check
from tests.helpers import assert_fails


def run(exercise_id, answer):
    return check(exercise_id, answer, quiet=True)


# --- lm.cross_entropy_ignore ---


def ce_ignore(logits, targets):
    keep = targets != -1
    log_p = logits[keep].log_softmax(dim=-1)
    return -log_p[torch.arange(len(log_p)), targets[keep]].mean()


def test_cross_entropy_ignore_right():
    assert run("lm.cross_entropy_ignore", ce_ignore).passed
    assert run(
        "lm.cross_entropy_ignore",
        lambda lo, t: F.cross_entropy(lo, t, ignore_index=-1),
    ).passed


def all_positions(logits, targets):  # padding counted in the mean as a loss of 0
    keep = (targets != -1).float()
    log_p = logits.log_softmax(-1)[torch.arange(len(targets)), targets.clamp(min=0)]
    return -(log_p * keep).sum() / len(targets)


@pytest.mark.parametrize(
    "answer, message",
    [
        (all_positions, "divided by all 8 positions"),
        (
            lambda lo, t: -lo.log_softmax(-1)[torch.arange(len(t)), t].mean(),
            "picks the LAST",
        ),
        (lambda lo, t: -ce_ignore(lo, t), "sign is flipped"),
        (lambda lo, t: ce_ignore(lo, t) * 6, "summed"),
        (
            lambda lo, t: (
                -lo[t != -1]
                .log_softmax(0)[torch.arange(int((t != -1).sum())), t[t != -1]]
                .mean()
            ),
            "dim 0",
        ),
        (
            lambda lo, t: (
                -(lo[t != -1].exp() / lo[t != -1].exp().sum(-1, True))
                .log()[torch.arange(int((t != -1).sum())), t[t != -1]]
                .mean()
            ),
            "overflows",
        ),
        (lambda lo, t: lo.log_softmax(-1), "one number"),
    ],
)
def test_cross_entropy_ignore_mistakes(answer, message):
    assert_fails("lm.cross_entropy_ignore", answer, message)


def test_cross_entropy_ignore_plain_cross_entropy_raises_a_verdict():
    result = run("lm.cross_entropy_ignore", F.cross_entropy)  # -1 out of bounds
    assert not result.passed and "IndexError" in result.message


# --- lm.momentum_step ---


def momentum(params, velocities, lr, mu):
    with torch.no_grad():
        for p, v in zip(params, velocities, strict=True):
            v.mul_(mu).add_(p.grad)
            p -= lr * v
            p.grad = None


def test_momentum_right():
    assert run("lm.momentum_step", momentum).passed


def no_persist(params, velocities, lr, mu):
    with torch.no_grad():
        for p, v in zip(params, velocities, strict=True):
            v = mu * v + p.grad  # rebinds a local name: the list keeps the zeros
            p -= lr * v
            p.grad = None


def dampened(params, velocities, lr, mu):
    with torch.no_grad():
        for p, v in zip(params, velocities, strict=True):
            v.mul_(mu).add_((1 - mu) * p.grad)
            p -= lr * v
            p.grad = None


def ascent(params, velocities, lr, mu):
    with torch.no_grad():
        for p, v in zip(params, velocities, strict=True):
            v.mul_(mu).add_(p.grad)
            p += lr * v
            p.grad = None


def grads_kept(params, velocities, lr, mu):
    with torch.no_grad():
        for p, v in zip(params, velocities, strict=True):
            v.mul_(mu).add_(p.grad)
            p -= lr * v


def not_in_place(params, velocities, lr, mu):
    for p, v in zip(params, velocities, strict=True):
        v.mul_(mu).add_(p.grad)
        p = p - lr * v  # noqa: PLW2901  (the mistake under test)


def no_grad_missing(params, velocities, lr, mu):
    for p, v in zip(params, velocities, strict=True):
        v.mul_(mu).add_(p.grad)
        p -= lr * v


@pytest.mark.parametrize(
    "answer, message",
    [
        (no_persist, "plain SGD"),
        (dampened, "averaged the gradients"),
        (ascent, "UP the slope"),
        (grads_kept, "gradients are still there"),
        (not_in_place, "did not change"),
        (no_grad_missing, "torch.no_grad"),
    ],
)
def test_momentum_mistakes(answer, message):
    assert_fails("lm.momentum_step", answer, message)


# --- lm.shifted_batch ---


def fixed_get_batch(data, block_size, batch_size, generator):
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block_size] for s in starts])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts])
    return x, y


def test_shifted_batch_right():
    from course_lib.batching import get_batch

    assert run("lm.shifted_batch", fixed_get_batch).passed
    assert run("lm.shifted_batch", get_batch).passed


def backwards(data, block_size, batch_size, generator):
    starts = torch.randint(
        1, len(data) - block_size, (batch_size,), generator=generator
    )
    x = torch.stack([data[s : s + block_size] for s in starts])
    y = torch.stack([data[s - 1 : s - 1 + block_size] for s in starts])
    return x, y


def too_far(data, block_size, batch_size, generator):  # starts may run off the end
    starts = torch.full((batch_size,), len(data) - block_size)
    x = torch.stack([data[s : s + block_size] for s in starts])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts])
    return x, y


@pytest.mark.parametrize(
    "answer, message",
    [
        (ch01.buggy_get_batch, "y equals x.*copying"),
        (backwards, "BEFORE x"),
        (lambda d, t, b, g: fixed_get_batch(d, t - 1, b, g), r"\(B, T\)"),
        (too_far, r"\(B, T\)"),
    ],
)
def test_shifted_batch_mistakes(answer, message):
    assert_fails("lm.shifted_batch", answer, message)


# --- lm.bigram_loss ---


def test_bigram_loss_right():
    assert run(
        "lm.bigram_loss", lambda table, x, y: F.cross_entropy(table[x], y)
    ).passed
    assert run(  # the log of the softmax is a fix too (less stable, but right)
        "lm.bigram_loss",
        lambda table, x, y: F.nll_loss(table[x].softmax(-1).log(), y),
    ).passed


@pytest.mark.parametrize(
    "answer, message",
    [
        (ch01.buggy_bigram_loss, "softmax is applied twice"),
        (lambda t, x, y: F.nll_loss(t[x].softmax(-1), y), "averaged probabilities"),
        (
            lambda t, x, y: F.cross_entropy(t[x], y, reduction="sum"),
            "summed over the 10",
        ),
        (lambda t, x, y: F.cross_entropy(t[x], y).item(), "no gradient"),
        (lambda t, x, y: F.cross_entropy(t.T[x], y), "gives"),
    ],
)
def test_bigram_loss_mistakes(answer, message):
    assert_fails("lm.bigram_loss", answer, message)


# --- lm.lstm_params ---


def test_lstm_params():
    from course_lib.baselines import LSTMLanguageModel
    from course_lib.utils import count_parameters

    model = LSTMLanguageModel(103, d_model=64, hidden_size=128, num_layers=1)
    assert run("lm.lstm_params", count_parameters(model)).passed
    assert run("lm.lstm_params", 119_207).passed
    assert_fails("lm.lstm_params", 44_711, "four gates")
    assert_fails("lm.lstm_params", 119_207 - 512, "TWO bias")
    assert_fails("lm.lstm_params", 119_207 - 103, "read-out's bias")
    assert_fails("lm.lstm_params", 119_207 - 103 * 64, "embedding")
    assert_fails("lm.lstm_params", 362_791, "hidden_size = 256")
    assert_fails("lm.lstm_params", 5, "is not it")
    assert_fails("lm.lstm_params", "119207", "as a number")


# --- lm.smoothing_k ---


def test_smoothing_k():
    ref, full = ch01._smoothed_losses(0.1)
    one, one_full = ch01._smoothed_losses(1.0)
    assert ref < one  # the claim the chapter's exercise makes
    assert run("lm.smoothing_k", round(ref, 3)).passed
    assert_fails("lm.smoothing_k", round(one, 3), "K = 1")
    assert_fails("lm.smoothing_k", round(ch01._smoothed_losses(0.01)[0], 4), "0.01")
    assert_fails("lm.smoothing_k", round(full, 3), "full pass")
    assert_fails("lm.smoothing_k", 2.0, "not what the cell prints")
    assert_fails("lm.smoothing_k", 42, "cannot be")
