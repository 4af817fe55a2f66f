"""course_lib.viz: the plots draw what they say, explorers wire their controls, bad
input gets a clear error."""

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from course_lib import viz


# --- chapters 03-04: attention
@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_attention_labels_tokens_and_draws_the_weights():
    weights = torch.softmax(torch.randn(2, 3), dim=-1)
    ax = viz.plot_attention(weights, ["a", "b"], ["x", "y", "z"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    image = ax.get_images()[0]
    assert image.get_cmap().name == viz.ATTENTION_CMAP
    torch.testing.assert_close(torch.as_tensor(image.get_array().data), weights)


def test_plot_attention_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) but there are 3 query"):
        viz.plot_attention(torch.rand(2, 3), ["a", "b", "c"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="one \\(T, S\\) matrix"):
        viz.plot_attention(torch.rand(1, 2, 3), ["a", "b"], ["x", "y", "z"])


def test_softmax_saturation_matches_the_theory():
    for d_k in (16, 256):
        raw = viz.softmax_saturation(d_k, scaled=False)
        scaled = viz.softmax_saturation(d_k, scaled=True)
        assert raw["variance"] == pytest.approx(d_k, rel=0.25)  # Var(q·k) = d_k
        assert scaled["variance"] == pytest.approx(1.0, rel=0.25)
    big = viz.softmax_saturation(512, scaled=False)
    assert big["max_weight"] > 0.9 and big["grad_norm"] < 0.1  # saturated
    assert viz.softmax_saturation(512, scaled=True)["grad_norm"] > 0.3
    with pytest.raises(ValueError, match="d_k must be >= 1"):
        viz.softmax_saturation(0)


def test_draw_functions_return_figures():
    tokens = ["a", "b", "c"]
    weights = torch.softmax(torch.randn(3, 3), dim=-1)
    assert isinstance(viz.draw_scaling(8, False), Figure)
    assert isinstance(viz.draw_query(weights, tokens, query=99), Figure)  # clamped
    heads = torch.softmax(torch.randn(2, 4, 3, 3), dim=-1)  # (L, H, T, T)
    fig = viz.draw_heads(heads, tokens, layer=1, head=2)
    assert "layer 1, head 2" in [ax.get_title() for ax in fig.axes]
    with pytest.raises(ValueError, match=r"\(L, H, T, T\)"):
        viz.draw_heads(heads[0], tokens)
    rows = [
        dict(T=t, path=p, seconds=1e-3 * t, peak_bytes=t * t, weights_bytes=t * t)
        for t in (64, 128)
        for p in ("teaching", "fused")
    ]
    assert isinstance(viz.plot_attention_scaling(rows), Figure)


def test_attention_explorer_follows_the_sentence():
    examples = {
        "two words": (["a", "b"], torch.eye(2)),
        "three words": (["x", "y", "z"], torch.eye(3)),
    }
    box = viz.attention_explorer(examples, query=1)
    assert "course-explorer" in box._dom_classes
    sentence, query = box.children[0].children
    assert query.value == 1
    sentence.value = "three words"
    assert [label for label, _ in query.options] == ["0: x", "1: y", "2: z"]
    assert query.value == 1  # the same position, where the new sentence has it


def test_head_explorer_ranges():
    box = viz.head_explorer(torch.rand(2, 4, 3, 3), ["a", "b", "c"], layer=1, head=3)
    layer, head = box.children[0].children
    assert (layer.max, head.max, layer.value, head.value) == (1, 3, 1, 3)


# --- chapters 05-06
def test_gradient_norms_one_line_per_variant_on_a_log_axis():
    fig = viz.draw_gradient_norms({"a": [1.0, 0.1, 0.01], "b": [1.0, 1.0, 1.0]})
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    with pytest.raises(ValueError, match="norms is empty"):
        viz.draw_gradient_norms({})


def test_cross_attention_boxes_each_rows_largest_weight():
    weights = torch.tensor([[0.1, 0.9, 0.0], [0.7, 0.2, 0.1]])
    fig = viz.draw_cross_attention(weights, ["a", "b", "c"], ["x", "y"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]
    corners = [tuple(p.get_xy()) for p in ax.patches]
    assert corners == [(0.5, -0.5), (-0.5, 0.5)]  # columns 1 and 0
    with pytest.raises(ValueError, match="2 query tokens and 2 key tokens"):
        viz.draw_cross_attention(weights, ["a", "b"], ["x", "y"])
