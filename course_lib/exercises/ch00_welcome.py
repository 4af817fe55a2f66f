"""Chapter 00: a warm-up exercise that shows how checkers answer."""

import torch

from course_lib.exercises import Fail, exercise


@exercise(
    "welcome.batch",
    "make a (B, T, C) = (2, 3, 4) float tensor of zeros",
    kind="implement",
    hints=(
        "B, T and C are the three sizes of the tensor, in that order.",
        "torch.zeros takes the sizes as arguments: torch.zeros(2, 3, 4).",
    ),
)
def check_batch(answer) -> str:
    if not isinstance(answer, torch.Tensor):
        raise Fail(
            f"expected a torch.Tensor, got {type(answer).__name__}. "
            "Hint: torch.zeros(2, 3, 4)."
        )
    if tuple(answer.shape) != (2, 3, 4):
        raise Fail(
            f"your tensor has shape {tuple(answer.shape)}, expected (2, 3, 4): "
            "B=2 sequences, T=3 tokens each, C=4 numbers per token."
        )
    if not answer.is_floating_point():
        raise Fail(f"your tensor has dtype {answer.dtype}; models work in floats.")
    if answer.abs().sum().item() != 0:
        raise Fail("the shape is right, but not every entry is zero.")
    return "shape (2, 3, 4), float, all zeros. You are ready."
