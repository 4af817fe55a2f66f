"""course_lib.viz: the plots draw what they say, explorers wire their controls, bad
input gets a clear error."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

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
    assert image.get_clim() == (0.0, 1.0)  # a colour means the same weight everywhere
    torch.testing.assert_close(torch.as_tensor(image.get_array().data), weights)


def test_plot_attention_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) but there are 3 query"):
        viz.plot_attention(torch.rand(2, 3), ["a", "b", "c"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="one \\(T, S\\) matrix"):
        viz.plot_attention(torch.rand(1, 2, 3), ["a", "b"], ["x", "y", "z"])


def saturation_by_hand(d_k, scaled, keys=8, seed=0):
    """softmax_saturation's numbers from the same random q and k, computed anew: the
    Jacobian by autograd rather than by its closed form."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(256, d_k, generator=g)
    k = torch.randn(keys, d_k, generator=g)
    scores = q @ k.T / (math.sqrt(d_k) if scaled else 1.0)
    weights = torch.softmax(scores, dim=-1)
    norms = [
        torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), row).norm()
        for row in scores
    ]
    return scores, weights, torch.stack(norms).mean().item()


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


@pytest.mark.parametrize("d_k, scaled", [(16, True), (64, False)])
def test_softmax_saturation_equals_a_computation_by_hand(d_k, scaled):
    stats = viz.softmax_saturation(d_k, scaled)
    scores, weights, grad_norm = saturation_by_hand(d_k, scaled)
    torch.testing.assert_close(stats["scores"], scores)
    torch.testing.assert_close(stats["weights"], weights)
    assert stats["variance"] == pytest.approx(scores.var().item(), rel=1e-5)
    assert stats["max_weight"] == pytest.approx(
        weights.max(-1).values.mean().item(), rel=1e-5
    )
    assert stats["grad_norm"] == pytest.approx(grad_norm, rel=1e-4)


def test_draw_scaling_draws_the_scores_and_one_querys_weights():
    fig = viz.draw_scaling(8, False)
    left, right = fig.axes
    scores, weights, grad_norm = saturation_by_hand(8, False)
    counts, _ = np.histogram(scores.flatten().numpy(), bins=50, range=(-50, 50))
    assert [p.get_height() for p in left.patches] == counts.tolist()
    heights = [p.get_height() for p in right.patches]
    np.testing.assert_allclose(heights, weights[0].numpy(), rtol=1e-6)
    labels = [t.get_text() for t in right.get_xticklabels()]
    assert labels == [f"k{j}" for j in range(8)]
    (uniform,) = right.lines
    assert list(uniform.get_ydata()) == [1 / 8, 1 / 8]
    title = fig._suptitle.get_text()
    assert f"var(score) = {scores.var().item():.1f}" in title
    assert f"‖∂w/∂s‖ = {grad_norm:.3f}" in title


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
    with pytest.raises(ValueError, match=r"\(L, H, T, T\)"):
        viz.draw_heads(heads[0], tokens)


def test_plot_attention_scaling_lines_and_the_quadratic_reference():
    rows = [
        dict(
            T=t,
            path=p,
            seconds=(1e-3 if p == "teaching" else 5e-4) * t,
            peak_bytes=t * t * (4 if p == "teaching" else 1),
            weights_bytes=t * t,
        )
        for t in (64, 128, 256)
        for p in ("teaching", "fused")
    ]
    fig = viz.plot_attention_scaling(rows)
    time_ax, memory_ax = fig.axes
    teaching, reference, fused = time_ax.lines
    assert list(teaching.get_xdata()) == [64, 128, 256]
    np.testing.assert_allclose(teaching.get_ydata(), [0.064, 0.128, 0.256])
    np.testing.assert_allclose(fused.get_ydata(), [0.032, 0.064, 0.128])
    # through the last teaching point, with slope 2: 0.256 * (T / 256)^2
    np.testing.assert_allclose(reference.get_ydata(), [0.016, 0.064, 0.256])
    teaching, reference, fused = memory_ax.lines
    mib = 2**20
    np.testing.assert_allclose(
        teaching.get_ydata(), [4 * 64**2 / mib, 4 * 128**2 / mib, 4 * 256**2 / mib]
    )
    np.testing.assert_allclose(fused.get_ydata(), [t * t / mib for t in (64, 128, 256)])
    np.testing.assert_allclose(reference.get_ydata(), teaching.get_ydata())
    assert time_ax.get_xscale() == time_ax.get_yscale() == "log"


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
    assert list(ax.lines[0].get_ydata()) == [1.0, 0.1, 0.01]
    assert list(ax.lines[1].get_ydata()) == [1.0, 1.0, 1.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
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


# --- chapter 07
def test_draw_schedule_draws_warmup_then_cosine():
    fig = viz.draw_schedule(warmup_steps=10, max_steps=50, lr=1e-3, min_lr=1e-4)
    (line,) = fig.axes[0].lines[:1]
    assert list(line.get_xdata()) == list(range(50))
    expected = []
    for s in range(50):  # the schedule written out: a line up, then half a cosine
        if s < 10:
            expected.append(1e-3 * (s + 1) / 10)
        else:
            t = (s - 10) / 40
            expected.append(1e-4 + (1e-3 - 1e-4) * (1 + math.cos(math.pi * t)) / 2)
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    warmup_end = fig.axes[0].lines[1]
    assert list(warmup_end.get_xdata()) == [10, 10]


def test_draw_losses_draws_raw_smoothed_and_validation_losses():
    steps = list(range(1, 41))
    losses = [3.0 - 0.05 * s + 0.3 * (-1) ** s for s in steps]
    history = {
        "step": steps,
        "train_loss": losses,
        "eval_step": [20, 40],
        "val_loss": [2.5, 1.9],
    }
    fig = viz.draw_losses(history, max_steps=50)
    ax = fig.axes[0]
    raw, smooth, val = ax.lines
    assert list(raw.get_xdata()) == steps and list(raw.get_ydata()) == losses
    # the running mean of the last 25 steps, from step 25 on
    assert list(smooth.get_xdata()) == steps[24:]
    by_hand = [sum(losses[i - 24 : i + 1]) / 25 for i in range(24, 40)]
    np.testing.assert_allclose(smooth.get_ydata(), by_hand, rtol=1e-6)
    assert list(val.get_xdata()) == [20, 40] and list(val.get_ydata()) == [2.5, 1.9]
    assert ax.get_xlim() == (0.0, 50.0)
    short = viz.draw_losses({**history, "step": steps[:5], "train_loss": losses[:5]})
    smooth = short.axes[0].lines[1]  # fewer than 25 steps: the mean of them all
    np.testing.assert_allclose(smooth.get_ydata(), [sum(losses[:5]) / 5], rtol=1e-6)
