"""Chapter 11: memory per parameter of training with Adam, an all-reduce-mean by
hand (what DDP does to every gradient), and one rank's slice of a global batch."""

import numbers

import torch

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor


def _scalar(x) -> bool:
    return isinstance(x, torch.Tensor) and x.numel() == 1


@exercise(
    "scaling.training_memory",
    "training_memory(n_params, bytes_per_value): bytes of (weights, gradients, "
    "Adam state)",
)
def check_training_memory(training_memory) -> str:
    for n, b in ((1000, 4), (124_000_000, 4), (7, 2)):
        out = training_memory(n, b)
        if (
            not isinstance(out, (tuple, list))
            or len(out) != 3
            or not all(isinstance(x, numbers.Real) or _scalar(x) for x in out)
        ):
            raise Fail(f"return three numbers (weights, gradients, adam), got {out!r}.")
        weights, grads, adam = out
        if weights == n * b * 8 or grads == n * b * 8:
            raise Fail("that is bits: bytes_per_value already counts bytes.")
        if weights != n * b:
            raise Fail(
                f"weights of {n} values of {b} bytes are {n * b} bytes, got {weights}."
            )
        if grads != n * b:
            raise Fail(
                "one gradient per weight, of the same size: "
                f"{n * b} bytes, got {grads}."
            )
        if adam == n * b:
            raise Fail("Adam keeps two moments per weight (m and v), not one.")
        if adam == 2 * n * 4 and b != 4:
            raise Fail(
                "use bytes_per_value for the moments too (this exercise "
                "keeps every tensor at the same precision)."
            )
        if adam != 2 * n * b:
            raise Fail(f"Adam's state is 2 x {n} x {b} bytes, got {adam}.")
    return "16 bytes per parameter in float32: 4 weights + 4 gradients + 8 Adam."


def _grads(seed: int, ranks: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 5, generator=g) for _ in range(ranks)]


@exercise(
    "scaling.all_reduce_mean",
    "all_reduce_mean(grads): one gradient per rank in, every rank's copy of the mean "
    "out",
)
def check_all_reduce_mean(all_reduce_mean) -> str:
    grads = _grads(0)
    before = [t.clone() for t in grads]
    out = all_reduce_mean([t.clone() for t in grads])
    if isinstance(out, torch.Tensor):
        raise Fail(
            "return a list with one tensor per rank: after an all-reduce "
            "every rank holds the result."
        )
    if not isinstance(out, (list, tuple)) or len(out) != len(grads):
        raise Fail(f"return a list of {len(grads)} tensors, one per rank.")
    mean = torch.stack(before).mean(0)
    total = torch.stack(before).sum(0)
    outs = [_tensor(t, mean.shape) for t in out]
    if all(_close(t, total) for t in outs):
        raise Fail("that is the sum: divide by the number of ranks (DDP averages).")
    if all(_close(t, before[0]) for t in outs):
        raise Fail("every rank got rank 0's gradient: a broadcast, not a reduce.")
    if all(
        _close(t, b.mean()) or _close(t, b.mean().expand_as(b))
        for t, b in zip(outs, before, strict=True)
    ):
        raise Fail("you averaged inside each tensor: average across the ranks.")
    if not all(_close(t, mean) for t in outs):
        raise Fail("some rank's result differs from the mean over the ranks.")
    two = _grads(1, ranks=2)
    if not all(
        _close(t, torch.stack(two).mean(0))
        for t in all_reduce_mean([t.clone() for t in two])
    ):
        raise Fail("with 2 ranks the result is wrong: do not hard-code 3 ranks.")
    return "every rank holds the mean gradient, as DDP leaves it after backward."


@exercise(
    "scaling.rank_slice",
    "rank_slice(x, rank, world_size): this rank's contiguous share of a global "
    "batch x (N, ...)",
)
def check_rank_slice(rank_slice) -> str:
    x = torch.arange(12 * 3).reshape(12, 3)
    for world in (2, 3, 4):
        parts = [rank_slice(x, r, world) for r in range(world)]
        B = len(x) // world
        for r, part in enumerate(parts):
            part = _tensor(part, (B, 3))
            if torch.equal(part, x[r::world]):
                raise Fail(
                    "you take every world_size-th row: a valid split, but "
                    "not the one course_lib uses; take rows r*B .. r*B+B-1."
                )
            if r and torch.equal(part, x[:B]):
                raise Fail("every rank gets the first rows: offset by rank * B.")
            if not torch.equal(part, x[r * B : (r + 1) * B]):
                raise Fail(
                    f"rank {r} of {world} should get rows {r * B} to "
                    f"{(r + 1) * B - 1} (B = N // world_size = {B})."
                )
    return "the ranks' slices, put back together, are the global batch."
