"""Architecture pictures drawn with matplotlib: boxes, arrows and the shapes of what
flows between them. One picture per function, each named after what it shows and
called by the chapter that teaches it.

The two primitives, :func:`box` and :func:`arrow`, draw in data coordinates on an
axis from :func:`canvas` (no ticks, equal aspect), so every picture shares one look:
rounded boxes coloured by role (:data:`COLOURS`), grey arrows, shapes in monospace.
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


# --- chapter 11: data parallelism, one all-reduce of the gradients
def data_parallel_all_reduce(workers: int = 4) -> Figure:
    """Data-parallel training, one step: each worker gets its own shard of the batch
    and computes its own gradient; one all-reduce averages them; every worker then
    holds the same mean gradient and takes the same optimizer step."""
    if not 2 <= workers <= 6:
        raise ValueError(f"workers must be 2 to 6, got {workers!r}.")
    col, w = 2.2, 1.85
    fig, ax = canvas(0.3 + workers * col, 6.7, "data parallelism: one training step")
    xs = [0.3 + r * col for r in range(workers)]
    for r, x in enumerate(xs):
        box(ax, x, 5.8, w, 0.55, f"shard {r} of the batch", "data", "(B/N, T)")
        box(
            ax,
            x,
            4.75,
            w,
            0.6,
            f"worker {r}: own copy",
            "weights",
            "forward + backward",
        )
        box(ax, x, 3.75, w, 0.5, f"gradient g{r}", "memory")
        box(ax, x, 1.75, w, 0.5, "mean gradient ḡ", "memory")
        box(ax, x, 0.65, w, 0.65, "AdamW step", "weights", "same θ on all")
        arrow(ax, (x + w / 2, 5.8), (x + w / 2, 5.35))
        arrow(ax, (x + w / 2, 4.75), (x + w / 2, 4.25))
        arrow(ax, (x + w / 2, 3.75), (x + w / 2, 3.35))
        arrow(ax, (x + w / 2, 2.75), (x + w / 2, 2.25))
        arrow(ax, (x + w / 2, 1.75), (x + w / 2, 1.3))
    terms = " + ".join(f"g{r}" for r in range(workers))
    box(
        ax,
        xs[0],
        2.75,
        xs[-1] + w - xs[0],
        0.6,
        f"all-reduce: ḡ = ({terms}) / {workers}",
        "attention",
        "sum across workers, divide by N; every worker receives the result",
    )
    ax.text(
        (xs[-1] + w + xs[0]) / 2,
        0.25,
        f"N = {workers} workers: {workers} shards, {workers} gradients, "
        "one average, the same update everywhere",
        ha="center",
        fontsize=8.5,
        color="#333333",
    )
    return fig
