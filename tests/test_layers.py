"""course_lib.layers."""

import math

import pytest
import torch
from transformers.models.distilbert.modeling_distilbert import (
    create_sinusoidal_embeddings,
)

from course_lib.layers import LearnedPositions, sinusoidal_positions

# --- positional encodings (chapter 02) ------------------------------------------------


def test_sinusoidal_positions_follow_the_papers_formula():
    T, C = 9, 6
    expected = torch.tensor(
        [
            [
                math.sin(pos / 10000 ** (2 * (j // 2) / C))
                if j % 2 == 0
                else math.cos(pos / 10000 ** (2 * (j // 2) / C))
                for j in range(C)
            ]
            for pos in range(T)
        ]
    )
    torch.testing.assert_close(sinusoidal_positions(T, C), expected)


def test_sinusoidal_positions_equal_distilberts():
    T, C = 512, 64
    reference = create_sinusoidal_embeddings(T, C, torch.empty(T, C))
    torch.testing.assert_close(sinusoidal_positions(T, C), reference)


def test_sinusoidal_positions_reject_odd_width():
    with pytest.raises(ValueError, match="C must be an even int >= 2, got 5"):
        sinusoidal_positions(4, 5)
    with pytest.raises(ValueError, match="T must be an int >= 1"):
        sinusoidal_positions(0, 4)


def test_learned_positions_are_a_trainable_table():
    pos = LearnedPositions(max_len=16, C=8)
    table = pos(5)
    assert table.shape == (5, 8)
    table.sum().backward()
    assert pos.weight.grad[:5].abs().sum() > 0 and pos.weight.grad[5:].abs().sum() == 0
    with pytest.raises(ValueError, match="T=17 positions asked"):
        pos(17)


# --- end of positional encodings ------------------------------------------------------
