"""course_lib.viz_training: gradient norms, the learning-rate schedule and the loss
curves draw the numbers they are given."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import viz_training


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- chapter 05
def test_gradient_norms_one_line_per_variant_on_a_log_axis():
    fig = viz_training.draw_gradient_norms(
        {"a": [1.0, 0.1, 0.01], "b": [1.0, 1.0, 1.0]}
    )
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    assert list(ax.lines[0].get_ydata()) == [1.0, 0.1, 0.01]
    assert list(ax.lines[1].get_ydata()) == [1.0, 1.0, 1.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="norms is empty"):
        viz_training.draw_gradient_norms({})


def test_loss_curves_draw_each_runs_running_mean():
    fig = viz_training.draw_loss_curves(
        {"post": [4.0, 2.0, 3.0, 1.0], "pre": [1.0, 1.0, 1.0, 1.0]}, window=2
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["post", "pre"]
    assert list(ax.lines[0].get_xdata()) == [2, 3, 4]
    assert list(ax.lines[0].get_ydata()) == [3.0, 2.5, 2.0]
    assert list(ax.lines[1].get_ydata()) == [1.0, 1.0, 1.0]
    assert "mean of 2 steps" in ax.get_ylabel()
    with pytest.raises(ValueError, match="non-empty dict"):
        viz_training.draw_loss_curves({})


# --- chapter 07
def test_draw_schedule_draws_warmup_then_cosine():
    fig = viz_training.draw_schedule(
        warmup_steps=10, max_steps=50, lr=1e-3, min_lr=1e-4
    )
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
    fig = viz_training.draw_losses(history, max_steps=50)
    ax = fig.axes[0]
    raw, smooth, val = ax.lines
    assert list(raw.get_xdata()) == steps and list(raw.get_ydata()) == losses
    # the running mean of the last 25 steps, from step 25 on
    assert list(smooth.get_xdata()) == steps[24:]
    by_hand = [sum(losses[i - 24 : i + 1]) / 25 for i in range(24, 40)]
    np.testing.assert_allclose(smooth.get_ydata(), by_hand, rtol=1e-6)
    assert list(val.get_xdata()) == [20, 40] and list(val.get_ydata()) == [2.5, 1.9]
    assert ax.get_xlim() == (0.0, 50.0)
    short = viz_training.draw_losses(
        {**history, "step": steps[:5], "train_loss": losses[:5]}
    )
    smooth = short.axes[0].lines[1]  # fewer than 25 steps: the mean of them all
    np.testing.assert_allclose(smooth.get_ydata(), [sum(losses[:5]) / 5], rtol=1e-6)


def test_draw_budget_runs_one_titled_panel_per_budget_one_colour_per_model():
    def model(steps, losses):
        return {"eval_step": steps, "val_loss": losses, "parameters": 1}

    runs = {
        "a": {
            "budget": {"max_steps": 20, "batch_size": 4, "block_size": 50},
            "models": {"bigram": model([10, 20], [3, 3]), "X": model([10, 20], [2, 1])},
        },
        "b": {
            "budget": {"max_steps": 40, "batch_size": 2, "block_size": 100},
            "models": {
                "Y": model([20, 40], [2.5, 1.5]),
                "X": model([20, 40], [2, 1.2]),
            },
        },
    }
    fig = viz_training.draw_budget_runs(runs, mark=0.001)
    left, right = fig.axes
    assert "context 50, 4 windows/step" in left.get_title()
    assert "20 steps = 0.0M characters" in left.get_title()
    assert "context 100, 2 windows/step" in right.get_title()
    assert [line.get_label() for line in left.lines] == ["X", "this notebook's run"]
    # x: characters seen, in millions (step * batch * block / 1e6)
    np.testing.assert_allclose(left.lines[0].get_xdata(), [0.002, 0.004])
    assert list(left.lines[0].get_ydata()) == [2, 1]
    colour = {ln.get_label(): ln.get_color() for ax in fig.axes for ln in ax.lines}
    assert left.lines[0].get_color() == right.lines[1].get_color() == colour["X"]
    assert colour["X"] != colour["Y"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["X", "this notebook's run", "Y"]  # each name once
    with pytest.raises(ValueError, match="baselines.json"):
        viz_training.draw_budget_runs({})
