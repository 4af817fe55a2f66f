"""course_lib.viz: the attention pictures draw what they say, explorers wire their
controls, bad input gets a clear error."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import viz


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- chapters 03-04: attention
def test_plot_attention_labels_tokens_and_draws_the_weights():
    weights = torch.softmax(torch.randn(2, 3), dim=-1)
    ax = viz.plot_attention(weights, ["a", "b"], ["x", "y", "z"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    image = ax.get_images()[0]
    assert image.get_cmap().name == viz.ATTENTION_CMAP
    assert image.get_clim() == (0.0, 1.0)  # a colour means the same weight everywhere
    torch.testing.assert_close(torch.as_tensor(image.get_array().data), weights)


def test_plot_attention_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) but there are 3 query"):
        viz.plot_attention(torch.rand(2, 3), ["a", "b", "c"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="one \\(T, S\\) matrix"):
        viz.plot_attention(torch.rand(1, 2, 3), ["a", "b"], ["x", "y", "z"])


def test_draw_query_shows_the_map_and_the_chosen_row():
    tokens = ["a", "b", "c"]
    weights = torch.softmax(torch.randn(3, 3), dim=-1)
    for query, row in ((1, 1), (99, 2)):  # out of range is clamped to the last
        fig = viz.draw_query(weights, tokens, query=query)
        left, right = fig.axes[:2]
        image = torch.as_tensor(left.get_images()[0].get_array().data)
        torch.testing.assert_close(image, weights)
        (frame,) = left.patches
        assert frame.get_xy() == (-0.5, row - 0.5) and frame.get_height() == 1
        heights = [p.get_height() for p in right.patches]
        np.testing.assert_allclose(heights, weights[row].numpy(), rtol=1e-6)
        assert [t.get_text() for t in right.get_xticklabels()] == tokens
        assert repr(tokens[row]) in right.get_title()
        plt.close(fig)


def test_draw_heads_draws_every_head_and_the_chosen_one_large():
    tokens = ["a", "b", "c"]
    heads = torch.softmax(torch.randn(2, 4, 3, 3), dim=-1)  # (L, H, T, T)
    fig = viz.draw_heads(heads, tokens, layer=1, head=2)
    thumbnails, big = fig.axes[:8], fig.axes[8]
    for n, ax in enumerate(thumbnails):  # row by row: layer n // 4, head n % 4
        image = torch.as_tensor(ax.get_images()[0].get_array().data)
        torch.testing.assert_close(image, heads[n // 4, n % 4])
        red = ax.spines["left"].get_edgecolor() == (1.0, 0.0, 0.0, 1.0)
        assert red == (n == 1 * 4 + 2)  # only the chosen head is framed in red
    assert big.get_title() == "layer 1, head 2"
    torch.testing.assert_close(
        torch.as_tensor(big.get_images()[0].get_array().data), heads[1, 2]
    )
    # heads numbered along the top row, layers down the first column
    assert [ax.get_title() for ax in thumbnails[:4]] == ["0", "1", "2", "3"]
    assert [ax.get_ylabel() for ax in thumbnails[::4]] == ["0", "1"]
    assert {t.get_text() for t in fig.texts} == {"head", "layer"}
    with pytest.raises(ValueError, match=r"\(L, H, T, T\)"):
        viz.draw_heads(heads[0], tokens)
    plt.close(fig)


@pytest.mark.parametrize("L, H, T", [(6, 12, 8), (2, 4, 19), (4, 4, 60)])
def test_draw_heads_keeps_the_grid_and_the_big_map_apart(L, H, T):
    """MiniLM's 6 x 12 heads and chapter 04's 2 x 4: the thumbnails do not overlap
    each other, the big map's token labels do not reach into the grid, and a long
    sequence keeps at most 40 key labels, rotated."""
    tokens = [f"tok{i}" for i in range(T)]
    heads = torch.softmax(torch.randn(L, H, T, T), dim=-1)
    fig = viz.draw_heads(heads, tokens, layer=L - 1, head=H - 1)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_position() for ax in fig.axes[: L * H]]
    for n, a in enumerate(boxes):
        for b in boxes[n + 1 :]:
            assert not a.overlaps(b) or a.x1 <= b.x0 or a.y1 <= b.y0
    grid_right = max(b.x1 for b in boxes) * fig.bbox.width
    big = fig.axes[L * H]
    labels = [t for t in big.get_yticklabels() if t.get_visible()]
    assert min(t.get_window_extent(renderer).x0 for t in labels) > grid_right
    shown = [t for t in big.get_xticklabels() if t.get_visible()]
    assert len(shown) <= 40 and all(t.get_rotation() == 90 for t in shown)
    assert len(shown) == (T if T <= 40 else len(range(0, T, -(-T // 40))))
    assert fig.get_size_inches()[0] < 14  # fits a notebook's width
    plt.close(fig)


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


def test_an_explorer_draws_once_per_change_from_the_final_state(monkeypatch):
    """Changing the sentence changes the query picker's options too (three value
    changes): the explorer must draw once, with the query the picker finally shows."""
    frames = []
    real = viz.draw_query
    monkeypatch.setattr(
        viz, "draw_query", lambda w, t, q: frames.append((t, q)) or real(w, t, q)
    )
    examples = {
        "short": (["a", "b"], torch.eye(2)),
        "long": (["w", "x", "y", "z"], torch.eye(4)),
    }
    box = viz.attention_explorer(examples, query=3)
    sentence, query = box.children[0].children
    assert frames == [(["a", "b"], 1)]  # query 3 does not exist: the last one
    sentence.value = "long"
    assert query.value == 1 and frames[1:] == [(["w", "x", "y", "z"], 1)]
    query.value = 3
    sentence.value = "short"  # position 3 is gone: the picker and the plot say 1
    assert query.value == 1 and query.label == "1: b"
    assert frames[2:] == [(["w", "x", "y", "z"], 3), (["a", "b"], 1)]
    query.value = 1  # the value it has: nothing to redraw
    assert len(frames) == 4


def test_an_explorer_captions_the_state_it_drew(monkeypatch):
    import IPython.display
    import ipywidgets as widgets

    shown = []  # what the explorer displays in its output, in order
    monkeypatch.setattr(IPython.display, "display", shown.append)

    slider = widgets.IntSlider(2, 0, 5, description="d_k")
    pick = widgets.Dropdown(options=[("first", 0), ("second", 1)], description="row")

    def draw(d_k, row):
        fig, ax = plt.subplots()
        ax.set_title(f"{d_k} {row}")
        return fig

    assert "course-explorer" in viz.explorer(draw, d_k=slider, row=pick)._dom_classes
    slider.value = 4
    pick.value = 1
    captions = [x.data for x in shown if isinstance(x, IPython.display.HTML)]
    figures = [x.axes[0].get_title() for x in shown if isinstance(x, plt.Figure)]
    assert figures == ["2 0", "4 0", "4 1"]
    assert captions[-1].endswith(">drawn for d_k = 4 · row = second</div>")
    assert slider.style.description_width == "initial"  # labels are never cut off


def test_head_explorer_ranges():
    box = viz.head_explorer(torch.rand(2, 4, 3, 3), ["a", "b", "c"], layer=1, head=3)
    layer, head = box.children[0].children
    assert (layer.max, head.max, layer.value, head.value) == (1, 3, 1, 3)


# --- chapter 06
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


def test_a_caption_writes_numbers_as_the_slider_readout_does():
    """ipywidgets formats readouts with d3-format: ".3g" keeps trailing zeros."""
    import ipywidgets as widgets

    log = widgets.FloatLogSlider(1e-4, base=10, min=-6, max=-3, description="lr")
    assert viz._shown(log) == "0.000100"
    log.value = 1e-3
    assert viz._shown(log) == "0.00100"
    assert viz._shown(widgets.FloatSlider(0.8, description="T")) == "0.80"
    assert viz._shown(widgets.IntSlider(100)) == "100"
    assert viz._shown(widgets.FloatLogSlider(100, base=10, min=0, max=3)) == "100"
