"""Training pictures: what the gradients and the losses do.

- chapter 05: the gradient norm at each layer of a deep stack, with and without
  residual connections (:func:`draw_gradient_norms`); the training losses of the
  post-norm and pre-norm runs, with and without warm-up (:func:`draw_loss_curves`);
- chapter 07: the learning rate of every step, a linear warmup then a cosine decay
  (:func:`draw_schedule`, the frame of the schedule explorer); the training and
  validation losses of a run (:func:`draw_losses`), redrawn live during training by
  :func:`live_loss_plot`.

The explorer over :func:`draw_schedule` is :func:`course_lib.viz.explorer`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


# --- chapter 05: gradients through depth
def draw_gradient_norms(norms: dict[str, list[float]], title: str = "") -> Figure:
    """Gradient norm at each layer of a deep stack, one line per variant (chapter 05).

    ``norms`` maps a label ("with residuals", ...) to one number per layer, layer 1
    first (the input side, where a vanishing gradient hurts). Log scale: the variants
    differ by orders of magnitude.
    """
    if not isinstance(norms, dict):
        raise ValueError(
            f"draw_gradient_norms: norms must be a dict {{label: [...]}}, got "
            f"{type(norms).__name__}."
        )
    if not norms:
        raise ValueError("draw_gradient_norms: norms is empty; give {label: [...]}.")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, values in norms.items():
        layers = range(1, len(values) + 1)
        ax.plot(layers, values, marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylabel("‖∂loss/∂weights‖")
    ax.set_title(title or "gradient norm per layer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_loss_curves(
    curves: dict[str, list[float]], title: str = "", window: int = 20
) -> Figure:
    """Training loss per step of several runs, one line each: the running mean over
    ``window`` steps (one step's loss is noisy), drawn from step ``window`` on.
    ``curves`` maps a label ("post-norm, no warm-up", ...) to one loss per step."""
    import torch

    if not isinstance(curves, dict) or not curves:
        raise ValueError(
            "draw_loss_curves: curves must be a non-empty dict {label: [loss, ...]}."
        )
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for label, losses in curves.items():
        w = min(window, len(losses))
        smooth = torch.tensor(losses, dtype=torch.float64).unfold(0, w, 1).mean(1)
        ax.plot(range(w, len(losses) + 1), smooth.tolist(), label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"training loss (mean of {window} steps)")
    ax.set_title(title or "training loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- chapter 07: the learning-rate schedule and loss curves
def draw_schedule(
    warmup_steps: int = 100,
    max_steps: int = 1000,
    lr: float = 1e-3,
    min_lr: float = 1e-4,
) -> Figure:
    """The learning rate of every step: ``course_lib.training.lr_at``'s linear warmup
    then cosine decay to ``min_lr`` (chapter 07)."""
    from course_lib.training import TrainConfig, lr_at

    config = TrainConfig(
        max_steps=max_steps, lr=lr, min_lr=min(min_lr, lr), warmup_steps=warmup_steps
    )
    steps = range(max_steps)
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(steps, [lr_at(s, config) for s in steps])
    ax.axvline(warmup_steps, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_ylim(0, lr * 1.05)
    ax.set_title(f"warmup {warmup_steps} steps, cosine to {config.min_lr:g}")
    fig.tight_layout()
    return fig


def draw_losses(history: dict, title: str = "training", max_steps: int | None = None):
    """Training loss per step (faint), its 25-step running mean, and the validation
    loss at each evaluation, from a ``course_lib.training.train`` history."""
    import torch

    keys = ("step", "train_loss", "eval_step", "val_loss")
    missing = [k for k in keys if not isinstance(history, dict) or k not in history]
    if missing:
        raise ValueError(
            f"draw_losses: history must be the dict train() returns; {missing} missing."
        )

    fig, ax = plt.subplots(figsize=(6, 3.2))
    steps, losses = history["step"], history["train_loss"]
    if losses:
        ax.plot(steps, losses, color="C0", alpha=0.25, linewidth=0.8)
        window = min(25, len(losses))
        smooth = torch.tensor(losses).unfold(0, window, 1).mean(1)  # running mean
        ax.plot(steps[window - 1 :], smooth.tolist(), color="C0", label="train")
    if history["val_loss"]:
        ax.plot(
            history["eval_step"],
            history["val_loss"],
            "o-",
            color="C1",
            label="validation",
        )
    ax.set_xlim(0, max_steps or (steps[-1] if steps else 1))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def live_loss_plot(title: str = "training", max_steps: int | None = None):
    """A callback for ``train(..., callbacks=[...])`` that redraws :func:`draw_losses`
    in place, in the cell's output, at every evaluation (outside IPython it does
    nothing)."""
    from IPython.display import display

    handle = display("(the plot appears at the first evaluation)", display_id=True)

    def callback(history: dict) -> None:
        if handle is None:  # not in a notebook: nothing to redraw
            return
        fig = draw_losses(history, title, max_steps)
        handle.update(fig)
        plt.close(fig)

    return callback


def draw_budget_runs(runs: dict, skip=("bigram",), mark: float | None = None):
    """Validation loss against training characters seen, one panel per budget of
    ``data/baselines.json`` (chapter 07), each titled with its budget; a model keeps
    its colour in every panel, named once in a legend below. ``skip``: models left
    out; ``mark``: characters (millions) drawn as a dotted line in each panel."""
    if not isinstance(runs, dict) or not runs:
        raise ValueError(
            "draw_budget_runs: runs must be baselines.json's dict of runs."
        )
    names = [n for r in runs.values() for n in r["models"] if n not in skip]
    colours = {n: f"C{i}" for i, n in enumerate(dict.fromkeys(names))}
    fig, axes = plt.subplots(1, len(runs), figsize=(9, 3.6), sharey=True)
    axes = [axes] if len(runs) == 1 else list(axes)
    for ax, run in zip(axes, runs.values(), strict=True):
        b = run["budget"]
        per_step = b["batch_size"] * b["block_size"] / 1e6  # characters, millions
        for name, r in run["models"].items():
            if name in skip:
                continue
            x = [s * per_step for s in r["eval_step"]]
            ax.plot(x, r["val_loss"], "o-", ms=2.5, color=colours[name], label=name)
        if mark is not None:
            ax.axvline(mark, color="grey", linestyle=":", label="this notebook's run")
        ax.set_title(
            f"context {b['block_size']}, {b['batch_size']} windows/step\n"
            f"{b['max_steps']:,} steps = {b['max_steps'] * per_step:.1f}M characters",
            fontsize=9,
        )
        ax.set_xlabel("training characters seen (millions)", fontsize=8)
    axes[0].set_ylabel("validation loss (nats/char)")
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="lower center",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle("one budget per panel: validation loss as training goes on")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig
