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


# --- chapter 03: the Q/K/V projections and one attention ---
def draw_qkv_projections(
    T: int = 10, d_model: int = 6, d_k: int = 6, d_v: int | None = None
) -> Figure:
    """Self-attention from the token embeddings to its output, every box with its
    shape by name and in numbers: X (T, d_model) times W_Q, W_K, W_V gives Q, K
    (T, d_k) and V (T, d_v); Q Kᵀ / √d_k gives the scores (T, T), the softmax over
    each row the weights (T, T), and the weights times V the output (T, d_v)."""
    d_v = d_k if d_v is None else d_v
    for name, value in (("T", T), ("d_model", d_model), ("d_k", d_k), ("d_v", d_v)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"draw_qkv_projections: {name} must be an int >= 1, got {value!r}."
            )

    def shape(names: str, *sizes: int) -> str:
        return f"({names}) = ({', '.join(map(str, sizes))})"

    fig, ax = canvas(11.8, 4.2, "self-attention: projections, scores, softmax, output")
    w, h, step = 2.0, 0.75, 2.4  # box width and height; from one column to the next
    x0, x1, x2, x3, x4 = (0.1 + n * step for n in range(5))
    rows = {"Q": 3.1, "K": 1.75, "V": 0.4}  # y of each branch
    box(ax, x0, rows["K"], w, h, "X: token embeddings", "data",
        shape("T, d_model", T, d_model))  # fmt: skip
    widths = {"Q": ("d_k", d_k), "K": ("d_k", d_k), "V": ("d_v", d_v)}
    for name, y in rows.items():
        dim, size = widths[name]
        box(ax, x1, y, w, h, f"× W_{name}", "weights",
            shape(f"d_model, {dim}", d_model, size))  # fmt: skip
        box(ax, x2, y, w, h, name, "attention", shape(f"T, {dim}", T, size))
        arrow(ax, (x0 + w, rows["K"] + h / 2), (x1, y + h / 2))
        arrow(ax, (x1 + w, y + h / 2), (x2, y + h / 2))
    mid = (rows["Q"] + rows["K"]) / 2
    box(ax, x3, mid, w, h, "scores = Q Kᵀ / √d_k", "attention", shape("T, T", T, T))
    arrow(ax, (x2 + w, rows["Q"] + h / 2), (x3, mid + h * 0.7))
    arrow(ax, (x2 + w, rows["K"] + h / 2), (x3, mid + h * 0.3))
    box(ax, x4, mid, w, h, "weights = softmax", "attention", shape("T, T", T, T))
    arrow(ax, (x3 + w, mid + h / 2), (x4, mid + h / 2))
    ax.text(x4 + w / 2, mid - 0.08, "each row sums to 1", ha="center", va="top",
            fontsize=7.5, color="#555555")  # fmt: skip
    box(ax, x4, rows["V"], w, h, "output = weights V", "output",
        shape("T, d_v", T, d_v))  # fmt: skip
    arrow(ax, (x4 + w / 2, mid - 0.35), (x4 + w / 2, rows["V"] + h))
    arrow(ax, (x2 + w, rows["V"] + h / 2), (x4, rows["V"] + h / 2))
    return fig


# --- chapter 08: what a KV cache stores ---
def draw_kv_cache(t_so_far: int = 6, num_layers: str = "L") -> Figure:
    """One generation step with a KV cache: every layer keeps the keys and values of
    the ``t_so_far`` earlier tokens, ``(B, H, T_so_far, d_head)`` each, and appends
    one column for the new token, whose query attends over all of them; below, what a
    step computes with the cache and without it."""
    fig, ax = canvas(
        9.6, 4.6, "KV cache: what each layer keeps between generation steps"
    )
    cell, x0 = 0.42, 4.3  # one square per token; where the cache rows start
    box(ax, 0.15, 3.75, 1.7, 0.55, "new token x_t", "data", "(B, 1)")
    arrow(ax, (1.0, 3.75), (1.0, 3.3))
    box(ax, 0.15, 2.55, 1.7, 0.75, "W_Q, W_K, W_V", "weights", "this token only")
    arrow(ax, (1.85, 2.9), (2.3, 2.9))
    box(ax, 2.3, 2.6, 1.3, 0.6, "q_t", "attention", "(B, H, 1, d_head)")
    for y, name in ((3.3, "K"), (1.75, "V")):
        label = f"{name} cache, per layer: (B, H, T_so_far, d_head)"
        ax.text(x0, y + cell + 0.13, label, fontsize=8.5, family="monospace",
                va="bottom")  # fmt: skip
        for t in range(t_so_far + 1):
            new = t == t_so_far
            box(ax, x0 + t * cell, y, cell - 0.06, cell,
                f"{name.lower()}_t" if new else f"{name.lower()}{t}",
                "attention" if new else "memory", fontsize=7.5)  # fmt: skip
        ax.text(x0 + (t_so_far + 1) * cell, y + cell / 2,
                "← the new token's column,\n   appended this step",
                fontsize=7.5, va="center")  # fmt: skip
    arrow(ax, (3.6, 3.05), (x0 + 1.0, 3.3))
    ax.text(x0 - 0.3, 2.88, "q_t · K^T / √d_head: scores over all T_so_far + 1 keys",
            fontsize=7.5, va="center")  # fmt: skip
    box(ax, 2.3, 1.0, 1.6, 0.6, "output of x_t", "output", "(B, H, 1, d_head)")
    arrow(ax, (x0 + 0.5, 1.75), (3.9, 1.3))
    ax.text(x0 + 0.3, 1.42, "softmax weights · V", fontsize=7.5, va="center")
    ax.text(0.15, 0.78, f"pink: read from the cache;  orange: computed this step;  "
            f"the same K, V pair in each of the {num_layers} layers",
            fontsize=8, va="center")  # fmt: skip
    box(ax, 0.15, 0.05, 4.55, 0.55, "per step WITH the cache", "memory",
        "q, k, v of 1 token; T_so_far k, v read back")  # fmt: skip
    box(ax, 4.9, 0.05, 4.55, 0.55, "per step WITHOUT it", "output",
        "q, k, v of all T_so_far + 1 tokens, again")  # fmt: skip
    return fig
