"""course_lib.viz: the figures draw, label what they show, and reject bad input."""

import pytest
import torch

from course_lib.viz import draw_cross_attention, draw_gradient_norms


def test_gradient_norms_one_line_per_variant_on_a_log_axis():
    fig = draw_gradient_norms({"a": [1.0, 0.1, 0.01], "b": [1.0, 1.0, 1.0]})
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    with pytest.raises(ValueError, match="norms is empty"):
        draw_gradient_norms({})


def test_cross_attention_boxes_each_rows_largest_weight():
    weights = torch.tensor([[0.1, 0.9, 0.0], [0.7, 0.2, 0.1]])
    fig = draw_cross_attention(weights, ["a", "b", "c"], ["x", "y"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]
    corners = [tuple(p.get_xy()) for p in ax.patches]
    assert corners == [(0.5, -0.5), (-0.5, 0.5)]  # columns 1 and 0
    with pytest.raises(ValueError, match="2 query tokens and 2 key tokens"):
        draw_cross_attention(weights, ["a", "b"], ["x", "y"])
