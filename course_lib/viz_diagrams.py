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


# --- chapter 07: the GPT's data flow, and the three families of Transformers
def draw_gpt_data_flow(num_layers: str = "N") -> Figure:
    """A GPT from token ids to the loss, with the shape of every tensor between the
    boxes: embeddings, ``num_layers`` pre-norm blocks, final LayerNorm, read-out."""
    fig, ax = canvas(6.4, 9.0, "GPT: token ids to logits and the loss")
    w, h, cx = 3.4, 0.5, 3.2  # a box's size; the column's centre
    left = cx - w / 2

    def down(y_from, y_to):  # an arrow down the column
        arrow(ax, (cx, y_from), (cx, y_to))

    box(ax, left, 8.3, w, h, "token ids", "data", "(B, T)")
    box(ax, 0.3, 7.35, 2.7, h, "token embedding", "weights", "(B, T, C)")
    box(ax, 3.4, 7.35, 2.7, h, "position embedding", "weights", "(B, T, C)")
    arrow(ax, (2.4, 8.3), (1.65, 7.85))
    arrow(ax, (4.0, 8.3), (4.75, 7.85), "positions 0..T-1")
    ax.text(cx, 7.05, "+", ha="center", va="center", fontsize=14)
    arrow(ax, (1.65, 7.35), (cx - 0.12, 7.1))
    arrow(ax, (4.75, 7.35), (cx + 0.12, 7.1))
    # the repeated block, in a dashed frame
    frame = FancyBboxPatch(
        (0.5, 2.75), 5.4, 4.0, boxstyle="round,pad=0.02,rounding_size=0.1"
    )
    frame.set(facecolor="none", edgecolor="#888888", linestyle="--")
    ax.add_patch(frame)
    ax.text(5.85, 6.5, f"× {num_layers}\nblocks", ha="right", va="top", fontsize=9)
    ax.text(5.85, 5.9, "(B, T, C)\nin and out", ha="right", va="top", fontsize=7)
    rows = [
        (6.05, "LayerNorm", "norm", ""),
        (5.3, "masked multi-head attention", "attention", "causal: t sees ≤ t"),
        (4.15, "LayerNorm", "norm", ""),
        (3.4, "MLP (C → 4C → C, GELU)", "weights", ""),
    ]
    for y, text, role, shape in rows:
        box(ax, left, y, w, h, text, role, shape)
    down(6.9, 6.55)
    down(6.05, 5.8)
    down(5.3, 5.07)
    down(4.83, 4.65)
    down(4.15, 3.9)
    down(3.4, 3.12)
    # each sub-block's residual: from its input, around the branch, into the +
    for y_from, y_add, x_r in ((6.72, 4.95, 0.8), (4.74, 3.0, 1.1)):
        ax.text(cx, y_add, "+", ha="center", va="center", fontsize=13)
        ax.plot([cx, x_r, x_r], [y_from, y_from, y_add], color="#777777", lw=1)
        arrow(ax, (x_r, y_add), (cx - 0.12, y_add))
        ax.text(
            x_r - 0.06,
            (y_from + y_add) / 2,
            "residual",
            rotation=90,
            fontsize=7,
            color="#777777",
            ha="right",
            va="center",
        )
    down(2.88, 2.5)
    box(ax, left, 2.0, w, h, "final LayerNorm", "norm", "(B, T, C)")
    down(2.0, 1.7)
    box(
        ax,
        left,
        1.2,
        w,
        h,
        "lm_head (tied to token emb.)",
        "weights",
        "logits (B, T, V)",
    )
    box(ax, 0.3, 0.15, 2.3, 0.55, "loss: cross-entropy", "output", "scalar")
    box(ax, 3.8, 0.15, 2.3, 0.55, "targets: ids shifted", "data", "(B, T)")
    arrow(ax, (2.2, 1.2), (1.45, 0.7))
    arrow(ax, (3.8, 0.42), (2.6, 0.42))
    return fig


# (family, mask, objective, examples, chapter of this course)
MODEL_FAMILIES = (
    (
        "encoder-only",
        "bidirectional",
        "masked-LM:\nfill in hidden tokens",
        "BERT, MiniLM",
        "09 (MiniLM)",
    ),
    ("decoder-only", "causal", "next token", "GPT, Llama", "07 (our GPT)"),
    (
        "encoder-decoder",
        "encoder: bidirectional\ndecoder: causal\n+ cross-attention",
        "sequence to sequence",
        "Transformer (2017), T5",
        "06",
    ),
)


def _mask_grid(ax: Axes, x: float, y: float, causal: bool, label: str) -> None:
    """A 5 x 5 attention mask, queries down and keys across; shaded = may attend."""
    n, s = 5, 0.16
    for i in range(n):  # query row
        for j in range(n):  # key column
            allowed = j <= i or not causal
            ax.add_patch(
                plt.Rectangle(
                    (x + j * s, y + (n - 1 - i) * s),
                    s,
                    s,
                    edgecolor="white",
                    facecolor=COLOURS["attention"] if allowed else "#f3f3f3",
                )
            )
    ax.text(x + n * s / 2, y - 0.08, label, ha="center", va="top", fontsize=7.5)


def draw_model_families() -> Figure:
    """The three families of Transformers side by side: which attention mask each
    uses, what it is trained to predict, examples, and this course's chapter."""
    fig, ax = canvas(9.6, 4.6, "Three families of Transformers")
    for k, (name, mask, objective, examples, chapter) in enumerate(MODEL_FAMILIES):
        x0 = 0.2 + k * 3.15
        box(ax, x0, 3.9, 3.0, 0.5, name, "output", fontsize=11)
        if name == "encoder-decoder":
            _mask_grid(ax, x0 + 0.35, 2.85, False, "encoder")
            _mask_grid(ax, x0 + 1.85, 2.85, True, "decoder")
            arrow(ax, (x0 + 1.2, 3.25), (x0 + 1.8, 3.25), colour="#b45f06")
            ax.text(
                x0 + 1.5,
                3.18,
                "cross-\nattention",
                ha="center",
                va="top",
                fontsize=6.5,
                color="#b45f06",
            )
        else:
            _mask_grid(ax, x0 + 1.1, 2.85, name == "decoder-only", "")
        y = 2.4
        for key, value in (
            ("mask", mask),
            ("trained on", objective),
            ("e.g.", examples),
            ("course", f"chapter {chapter}"),
        ):
            ax.text(x0 + 0.05, y, f"{key}:", fontsize=8, weight="bold", va="top")
            ax.text(x0 + 1.0, y, value, fontsize=8, va="top")
            y -= 0.2 + 0.17 * (value.count("\n") + 1)
    ax.text(
        4.8,
        0.1,
        "masks: shaded = may attend (rows: queries, columns: keys)",
        ha="center",
        fontsize=7.5,
        color="#555555",
    )
    return fig
