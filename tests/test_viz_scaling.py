"""course_lib.viz_scaling: the √d_k numbers equal a computation by hand, the plots
draw them, and attention's cost is drawn against a T² reference."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import viz_scaling


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- chapter 03: why √d_k
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
        raw = viz_scaling.softmax_saturation(d_k, scaled=False)
        scaled = viz_scaling.softmax_saturation(d_k, scaled=True)
        assert raw["variance"] == pytest.approx(d_k, rel=0.25)  # Var(q·k) = d_k
        assert scaled["variance"] == pytest.approx(1.0, rel=0.25)
    big = viz_scaling.softmax_saturation(512, scaled=False)
    assert big["max_weight"] > 0.9 and big["grad_norm"] < 0.1  # saturated
    assert viz_scaling.softmax_saturation(512, scaled=True)["grad_norm"] > 0.3
    with pytest.raises(ValueError, match="d_k must be >= 1"):
        viz_scaling.softmax_saturation(0)


@pytest.mark.parametrize("d_k, scaled", [(16, True), (64, False)])
def test_softmax_saturation_equals_a_computation_by_hand(d_k, scaled):
    stats = viz_scaling.softmax_saturation(d_k, scaled)
    scores, weights, grad_norm = saturation_by_hand(d_k, scaled)
    torch.testing.assert_close(stats["scores"], scores)
    torch.testing.assert_close(stats["weights"], weights)
    assert stats["variance"] == pytest.approx(scores.var().item(), rel=1e-5)
    assert stats["max_weight"] == pytest.approx(
        weights.max(-1).values.mean().item(), rel=1e-5
    )
    assert stats["grad_norm"] == pytest.approx(grad_norm, rel=1e-4)


def test_draw_scaling_draws_the_scores_and_one_querys_weights():
    fig = viz_scaling.draw_scaling(8, False)
    left, right = fig.axes
    scores, weights, grad_norm = saturation_by_hand(8, False)
    counts, _ = np.histogram(scores.flatten().numpy(), bins=50, range=(-15, 15))
    assert [p.get_height() for p in left.patches] == counts.tolist()
    assert sum(counts) == scores.numel()  # no score falls outside the picture
    assert left.get_title() == (
        f"all 2048 scores: std {scores.std().item():.1f}, "
        f"largest |score| {scores.abs().max().item():.1f}"
    )
    heights = [p.get_height() for p in right.patches]
    np.testing.assert_allclose(heights, weights[0].numpy(), rtol=1e-6)
    labels = [t.get_text() for t in right.get_xticklabels()]
    assert labels == [f"k{j}" for j in range(8)]
    (uniform,) = right.lines
    assert list(uniform.get_ydata()) == [1 / 8, 1 / 8]
    title = fig._suptitle.get_text()
    assert f"var(score) = {scores.var().item():.1f}" in title
    assert f"‖∂w/∂s‖ = {grad_norm:.3f}" in title


def test_the_histogram_holds_every_score_however_wide_they_spread():
    for d_k, scaled in ((512, False), (512, True), (1, False)):
        fig = viz_scaling.draw_scaling(d_k, scaled)
        scores = viz_scaling.softmax_saturation(d_k, scaled)["scores"]
        bars = fig.axes[0].patches
        assert sum(p.get_height() for p in bars) == scores.numel(), (d_k, scaled)
        low, high = viz_scaling.score_range(scores)
        assert low == -high and high % 5 == 0
        assert high - 5 < scores.abs().max().item() <= high  # tight, not padded
        plt.close(fig)
    # unscaled at d_k = 512 the scores reach past ±50 (the range this plot once cut)
    big = viz_scaling.softmax_saturation(512, scaled=False)["scores"]
    assert viz_scaling.score_range(big) == (-80, 80)


# --- chapter 04: attention's cost against T
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
    fig = viz_scaling.plot_attention_scaling(rows)
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
