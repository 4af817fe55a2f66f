"""Architecture pictures drawn with matplotlib: boxes, arrows and the shapes of what
flows between them. One picture per function, each named after what it shows and
called by the chapter that teaches it.

They are drawn with the primitives of ``course_lib.viz_shapes`` (:func:`canvas`,
:func:`box`, :func:`arrow`, a colour per role in :data:`COLOURS`), imported here too.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from course_lib.viz_shapes import COLOURS, arrow, box, canvas

__all__ = ["COLOURS", "arrow", "box", "canvas"]  # and the pictures below


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
