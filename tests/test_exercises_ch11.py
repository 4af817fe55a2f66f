"""Chapter 11's checkers: a right answer passes, each typical mistake is named."""

import pytest
import torch

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
        (lambda x, r, w: x[r::w], "every world_size-th row"),
        (lambda x, r, w: x[: len(x) // w], "offset by rank"),
        (lambda x, r, w: x[r : r + len(x) // w], "should get rows"),
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
