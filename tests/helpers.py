"""Small pieces several test modules share (not a test module itself)."""

import re

import torch
from torch import nn

from course_lib.gpt import GPT, GPTConfig


class Contiguous(nn.Module):
    """PyTorch's nn.MultiheadAttention returns a transposed (non-contiguous) view with
    batch_first=True, and dropout draws its mask in memory order. Placed before that
    dropout, this makes PyTorch's layer draw the mask our contiguous tensor gets from
    the same random numbers: the same elements are dropped, nothing else changes."""

    def forward(self, x):
        return x.contiguous()


def random_gpt(config: GPTConfig, seed: int = 0) -> GPT:
    """A GPT whose every parameter is random (biases and norms too, not their init)."""
    torch.manual_seed(seed)
    model = GPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def assert_fails(exercise_id, answer, pattern):
    """``answer`` is attempted, fails its checker, and the message matches ``pattern``
    (the mistake named)."""
    from course_lib.exercises import check

    result = check(exercise_id, answer, quiet=True)
    assert result.attempted and not result.passed, result
    assert re.search(pattern, result.message), result.message
