"""How attention behaves as its sizes grow, in numbers and pictures.

- chapter 03: why attention divides the scores by √d_k. Without the scale, the scores'
  variance grows with d_k and the softmax saturates: one key takes all the weight and
  the gradient through the softmax vanishes (:func:`softmax_saturation`,
  :func:`draw_scaling`, the frame of the √d_k explorer);
- chapter 04: time and peak memory of attention against the sequence length T, which
  grow as T² on the teaching path (:func:`plot_attention_scaling`, fed by
  :func:`course_lib.profiling.attention_scaling`).

The explorer over :func:`draw_scaling` is :func:`course_lib.viz.explorer`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def softmax_saturation(d_k: int, scaled: bool = True, keys: int = 8, seed: int = 0):
    """Why attention divides by √d_k, in numbers, for random unit-variance q and k.

    Returns a dict: ``scores`` (256, keys) tensor of q·k (divided by √d_k if
    ``scaled``), ``weights`` their softmax over the keys, ``variance`` of the scores,
    ``max_weight`` (the mean over queries of the largest weight; 1/keys is uniform, 1
    is one-hot) and ``grad_norm``, the mean norm of the softmax's Jacobian ∂w/∂s: how
    much the weights still move when the scores move (0 when saturated).
    """
    import torch

    for name, value in (("d_k", d_k), ("keys", keys)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"softmax_saturation: {name} must be >= 1 (an int), got {value!r}."
            )
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(256, d_k, generator=g)  # (T, D): 256 queries
    k = torch.randn(keys, d_k, generator=g)  # (S, D)
    scores = q @ k.T  # (T, S); variance ≈ d_k
    if scaled:
        scores = scores / d_k**0.5  # variance ≈ 1 whatever d_k is
    weights = torch.softmax(scores, dim=-1)
    # Jacobian of softmax per query: diag(w) − w wᵀ, (T, S, S)
    jacobian = torch.diag_embed(weights) - weights[:, :, None] * weights[:, None, :]
    return dict(
        scores=scores,
        weights=weights,
        variance=scores.var().item(),
        max_weight=weights.max(dim=-1).values.mean().item(),
        grad_norm=jacobian.flatten(1).norm(dim=-1).mean().item(),
    )


def score_range(scores) -> tuple[float, float]:
    """A symmetric histogram range that holds every score: ±(largest |score|) rounded
    up to a multiple of 5, so no score falls outside the picture."""
    import math

    limit = 5 * max(1, math.ceil(scores.abs().max().item() / 5))
    return (-limit, limit)


def draw_scaling(d_k: int = 64, scaled: bool = True) -> Figure:
    """The √d_k explorer's frame: the spread of the scores q·k (left; the range holds
    every score, see :func:`score_range`) and the softmax weights of one query over 8
    keys (right), with the three numbers printed on top."""
    stats = softmax_saturation(d_k, scaled)
    scores = stats["scores"].flatten()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.hist(scores.numpy(), bins=50, range=score_range(scores), color="C0")
    left.set_xlabel("score q·k" + (" / √d_k" if scaled else ""))
    left.set_ylabel("count")
    left.set_title(
        f"all {len(scores)} scores: std {scores.std().item():.1f}, "
        f"largest |score| {scores.abs().max().item():.1f}",
        fontsize=9,
    )
    right.bar(range(8), stats["weights"][0].numpy(), color="C2")
    right.axhline(1 / 8, color="grey", linestyle=":", label="uniform 1/8")
    right.set_ylim(0, 1)
    right.set_xticks(range(8), [f"k{j}" for j in range(8)])
    right.set_xlabel("key")
    right.set_ylabel("weight")
    right.set_title("softmax of one query's scores", fontsize=9)
    right.legend(loc="upper right")
    fig.suptitle(
        f"d_k = {d_k}, scale {'on' if scaled else 'off'}:  var(score) = "
        f"{stats['variance']:.1f},  mean max weight = {stats['max_weight']:.2f},  "
        f"‖∂w/∂s‖ = {stats['grad_norm']:.3f}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_attention_scaling(rows: list[dict]) -> Figure:
    """Time (left) and peak memory (right) against sequence length T on log–log axes,
    one line per path, with a dotted O(T²) reference through the largest teaching
    point. ``rows`` as returned by :func:`course_lib.profiling.attention_scaling`."""
    keys = {"T", "path", "seconds", "peak_bytes"}
    if not isinstance(rows, list) or not rows:
        raise ValueError(
            "plot_attention_scaling: rows must be a non-empty list of dicts from "
            f"attention_scaling(...), got {rows!r:.60}."
        )
    for row in rows:
        if not isinstance(row, dict) or not keys <= row.keys():
            raise ValueError(
                f"plot_attention_scaling: every row needs the keys {sorted(keys)}, "
                f"got {row!r:.80}."
            )
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    panels = (("seconds", "time per call (s)"), ("peak_bytes", "peak memory (MiB)"))
    for ax, (key, label) in zip(axes, panels, strict=True):
        scale = 2**-20 if key == "peak_bytes" else 1.0
        for path, style in (("teaching", "o-"), ("fused", "s-")):
            mine = [r for r in rows if r["path"] == path and r[key] is not None]
            xs = [r["T"] for r in mine]
            ax.loglog(xs, [r[key] * scale for r in mine], style, label=path)
            if path == "teaching" and xs:
                top = mine[-1][key] * scale
                ref = [top * (x / xs[-1]) ** 2 for x in xs]
                ax.loglog(xs, ref, "k:", label="∝ T² (slope 2)")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0] + " vs T")
        ax.legend()
    fig.tight_layout()
    return fig
