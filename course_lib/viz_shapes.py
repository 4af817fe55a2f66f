"""The drawing primitives of the course's architecture pictures (``viz_diagrams``):
rounded boxes coloured by role (:data:`COLOURS`), grey arrows, shapes in monospace, on
an axis from :func:`canvas` (no ticks, equal aspect, one unit = one inch), so every
picture shares one look.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# one colour per role, the same in every picture
COLOURS = {
    "data": "#e8e8e8",  # tokens, tensors, ids
    "weights": "#cfe2f3",  # a learned layer: embedding, projection, MLP
    "attention": "#f9cb9c",  # attention and what it reads
    "norm": "#d9ead3",  # normalisation, residual additions
    "output": "#fff2cc",  # logits, probabilities, the loss
    "memory": "#ead1dc",  # caches, the encoder's memory, gradients in flight
}


def canvas(width: float, height: float, title: str = "") -> tuple[Figure, Axes]:
    """A blank figure whose axis runs 0..width by 0..height (one unit = one inch)."""
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig, ax


def box(
    ax: Axes,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str,
    role: str = "data",
    shape: str = "",
    fontsize: float = 9,
) -> FancyBboxPatch:
    """A rounded box with lower-left corner ``(x, y)``, its label centred and, below the
    label, a ``shape`` such as ``"(B, T, C)"`` in monospace."""
    if role not in COLOURS:
        raise ValueError(f"box: role must be one of {sorted(COLOURS)}, got {role!r}.")
    patch = FancyBboxPatch(
        (x, y),
        w,
        h,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor=COLOURS[role],
        edgecolor="#555555",
        linewidth=1,
    )
    ax.add_patch(patch)
    centre_y = y + h / 2 + (0.09 if shape else 0)
    ax.text(x + w / 2, centre_y, text, ha="center", va="center", fontsize=fontsize)
    if shape:
        ax.text(
            x + w / 2,
            y + h / 2 - 0.13,
            shape,
            ha="center",
            va="center",
            fontsize=fontsize - 1.5,
            family="monospace",
            color="#333333",
        )
    return patch


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    text: str = "",
    colour: str = "#555555",
    style: str = "-|>",
) -> None:
    """An arrow from ``start`` to ``end``, with an optional label at its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=12,
            color=colour,
            linewidth=1.2,
            shrinkA=2,
            shrinkB=2,
        )
    )
    if text:
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(mid[0] + 0.05, mid[1], text, fontsize=7.5, color=colour, va="center")
