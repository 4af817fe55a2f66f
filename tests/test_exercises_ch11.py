"""Chapter 11's checkers: a right answer passes, each typical mistake is named, and
each buggy original fails with its symptom."""

import pytest
import torch

from course_lib.exercises import ch11_scaling_up as ch11
from course_lib.exercises import check


def right_memory(n, b):
    return n * b, n * b, 2 * n * b


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda n, b: (n * b, n * b, n * b), "two moments"),
        (lambda n, b: (n * b, 0, 2 * n * b), "one gradient per weight"),
        (lambda n, b: (8 * n * b, 8 * n * b, 16 * n * b), "bits"),
        (lambda n, b: (n * b, n * b, 8 * n), "bytes_per_value for the moments"),
        (lambda n, b: n * b * 4, "three numbers"),
    ],
)
def test_training_memory(answer, words):
    assert check("scaling.training_memory", right_memory, quiet=True).passed
    result = check("scaling.training_memory", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def right_mean(grads):
    mean = torch.stack(grads).mean(0)
    return [mean.clone() for _ in grads]


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda g: [torch.stack(g).sum(0) for _ in g], "sum"),
        (lambda g: [g[0].clone() for _ in g], "broadcast"),
        (lambda g: [t.mean().expand_as(t) for t in g], "inside each tensor"),
        (lambda g: torch.stack(g).mean(0), "one tensor per rank"),
        (lambda g: [sum(g[:3]) / 3 for _ in g], "hard-code"),
        (lambda g: [torch.stack(g).mean(0)] * 2, "list of 3"),
    ],
)
def test_all_reduce_mean(answer, words):
    assert check("scaling.all_reduce_mean", right_mean, quiet=True).passed
    result = check("scaling.all_reduce_mean", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def right_slice(x, rank, world):
    B = len(x) // world
    return x[rank * B : (rank + 1) * B]


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch11.buggy_rank_slice, "inside rank 0's slice"),
        (lambda x, r, w: x[r::w], "every world_size-th row"),
        (lambda x, r, w: x[: len(x) // w], "same gradient"),
        (lambda x, r, w: x[r * 2 : r * 2 + len(x) // w], "should get rows"),
        (lambda x, r, w: x, "shape"),
    ],
)
def test_rank_slice(answer, words):
    assert check("scaling.rank_slice", right_slice, quiet=True).passed
    result = check("scaling.rank_slice", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def test_the_library_split_passes_the_checker():
    # course_lib.batching.rank_batches splits the same way as the exercise
    from course_lib.batching import rank_batches

    data = torch.arange(500)
    whole = rank_batches(data, 4, 6)(torch.Generator().manual_seed(0))[0][0]
    mine = rank_batches(data, 4, 3, rank=1, world_size=2)(
        torch.Generator().manual_seed(0)
    )
    assert torch.equal(mine[0][0], right_slice(whole, 1, 2))


def fixed_accumulate(model, x, y, steps):
    model.zero_grad()
    for xs, ys in zip(x.chunk(steps), y.chunk(steps), strict=True):
        _, loss = model(xs, ys)
        (loss / steps).backward()


def last_piece_only(model, x, y, steps):
    for xs, ys in zip(x.chunk(steps), y.chunk(steps), strict=True):
        model.zero_grad()
        _, loss = model(xs, ys)
        (loss / steps).backward()


def no_zero_grad(model, x, y, steps):
    for xs, ys in zip(x.chunk(steps), y.chunk(steps), strict=True):
        _, loss = model(xs, ys)
        (loss / steps).backward()


def first_piece_only(model, x, y, steps):
    model.zero_grad()
    model(x.chunk(steps)[0], y.chunk(steps)[0])[1].backward()


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch11.buggy_accumulate, "2.00 times the full batch's"),
        (last_piece_only, "only the last piece"),
        (no_zero_grad, "old .grad"),
        (first_piece_only, "differs from the full batch's"),
        (lambda m, x, y, s: m.zero_grad(), "is None"),
    ],
)
def test_grad_accum(answer, words):
    assert check("scaling.grad_accum", fixed_accumulate, quiet=True).passed
    result = check("scaling.grad_accum", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "exercise_id, right, wrongs",
    [
        (
            "scaling.bf16_round",
            1.0,
            [
                (1 + 2**-9, "float32's"),
                (1 + 2**-7, "nearest, not up"),
                (2.0, "you predicted"),
                ("1.0", "as a number"),
            ],
        ),
        (
            "scaling.adam_state",
            8 * 814_720,
            [
                (4 * 814_720, "one moment"),
                (16 * 814_720, "weights"),
                (64 * 814_720, "bits"),
                (2 * 814_720, "number of values"),
                (1e9, "you predicted"),
            ],
        ),
        (
            "scaling.fsdp_shards",
            17.5,
            [
                (140, "8-way"),
                (1120, "unsharded"),
                (16.3, "2**30"),
                (8.75, "moments only"),
                (3, "recompute"),
            ],
        ),
    ],
)
def test_predict_and_modify(exercise_id, right, wrongs):
    assert check(exercise_id, right, quiet=True).passed
    for wrong, words in wrongs:
        result = check(exercise_id, wrong, quiet=True)
        assert not result.passed and words in result.message, (wrong, result.message)


def test_adam_state_is_measured_not_assumed():
    state, n, tensors = ch11._adam_state_bytes()
    assert state == 8 * n + 4 * tensors  # m, v, and a float32 step per tensor
    assert ch11.fsdp_gb_per_gpu(70_000_000_000, 8) == 140.0
