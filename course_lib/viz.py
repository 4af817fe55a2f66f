"""The explorer pattern, and the attention pictures (chapters 03, 04, 06, 09, 10).

Every explorer in the course follows one pattern, so it works the same in JupyterLab,
Notebook 7, VS Code and Colab, and shows a picture on GitHub:

1. a ``draw_*(...) -> Figure`` function that draws one frame from plain arguments;
2. in the notebook, one cell that calls it with the default arguments: the static first
   frame, an ordinary matplotlib image that nbval and GitHub see;
3. a next cell, tagged ``nbval-ignore-output``, that calls :func:`explorer` with the
   same function and the widgets that drive its arguments.

Attention is always drawn with :data:`ATTENTION_CMAP`, so a colour means the same weight
in every chapter. This module holds :func:`explorer`, :func:`plot_attention` (the heat
map every attention picture is built on) and the attention explorers: where one query
looks (chapter 03), every head of every layer (chapters 04, 09, 10) and a translation's
cross-attention (chapter 06). The other pictures sit beside it, by what they show:

- ``viz_scaling``     why attention divides by √d_k (03); its time and memory vs T (04)
- ``viz_training``    gradient norms through depth (05); learning-rate schedule and
  loss curves (07)
- ``viz_generation``  the next-token distribution under temperature, top-k, top-p (08)

They may import from this module; this module imports none of them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ATTENTION_CMAP = "viridis"  # one colour map for attention weights across the course


def explorer(draw: Callable[..., Figure], *, link: Callable | None = None, **controls):
    """A live widget: ``controls`` (ipywidgets keyed by ``draw``'s argument names) above
    the figure ``draw(**values)``, redrawn once per change, from the controls' final
    state. Under the figure a caption names the state it was drawn from (the browser
    test compares it with the controls).

    ``link(name, value)``, if given, runs first when control ``name`` changes, to update
    other controls (a new sentence brings its own tokens); what it changes does not
    redraw on its own. Works with ipywidgets 7.7 (Colab) and 8. Returns the widget;
    display it by making it the last expression of a cell.
    """
    import ipywidgets as widgets
    from IPython.display import HTML, clear_output, display

    if not callable(draw):
        raise ValueError(
            f"explorer: draw must be a function returning a Figure, got {draw!r}."
        )
    if not controls:
        raise ValueError("explorer: give at least one control, e.g. d_k=IntSlider(...)")
    out = widgets.Output()
    state = {"busy": False, "drawn": None}

    def redraw():
        values = {name: control.value for name, control in controls.items()}
        if values == state["drawn"]:
            return  # a control set to the value it had: nothing to draw
        state["drawn"] = values
        shown = " · ".join(
            f"{c.description or name} = {_shown(c)}" for name, c in controls.items()
        )
        with out:
            clear_output(wait=True)
            fig = draw(**values)
            display(fig)
            plt.close(fig)  # shown once, inside the widget, not again below the cell
            display(HTML(f'<div class="course-explorer-state">drawn for {shown}</div>'))

    def changed(name, change):
        if state["busy"]:
            return  # a change made by ``link``: the redraw below covers it
        state["busy"] = True
        try:
            if link is not None:
                link(name, change["new"])
        finally:
            state["busy"] = False
        redraw()

    for name, control in controls.items():
        control.observe(lambda change, name=name: changed(name, change), names="value")
        if getattr(control, "description", "") and hasattr(control, "style"):
            control.style.description_width = "initial"  # the whole label, never "te…"
    redraw()
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    box.add_class("course-explorer")
    return box


def _shown(control) -> str:
    """A control's value as the control shows it: a dropdown's label, a slider's
    readout."""
    import html

    text = getattr(control, "label", None)
    fmt = getattr(control, "readout_format", None)
    if text is None and fmt and isinstance(control.value, numbers.Number):
        try:  # d3's "g" keeps trailing zeros (0.000100) unless "~"; Python's needs "#"
            g = fmt.endswith("g") and "~" not in fmt
            text = format(control.value, ("#" if g else "") + fmt.replace("~", ""))
            text = text.rstrip(".") if g else text
        except ValueError:  # a d3 format Python does not read
            pass
    return html.escape(str(control.value if text is None else text))


# --- chapters 03-04, 09-10: attention maps, one query, every head
def _check_weights(weights, query_tokens, key_tokens, name="weights"):
    import torch

    weights = torch.as_tensor(weights).detach().float().cpu()
    if weights.dim() != 2:
        raise ValueError(
            f"{name} must be one (T, S) matrix, got shape {tuple(weights.shape)}; "
            "pick one head and one batch item, e.g. weights[0, h]."
        )
    if weights.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(
            f"{name} has shape {tuple(weights.shape)} but there are "
            f"{len(query_tokens)} query tokens and {len(key_tokens)} key tokens."
        )
    return weights


def plot_attention(weights, query_tokens, key_tokens, ax=None, title=None):
    """Heat map of a ``(T, S)`` attention matrix: one row per query token, one column
    per key token, each row summing to 1. Returns the Axes.

    Raises ``ValueError`` when ``weights`` is not 2-D or does not match the tokens.
    """
    weights = _check_weights(weights, query_tokens, key_tokens)
    if ax is None:
        T, S = weights.shape
        _, ax = plt.subplots(figsize=(1.2 + 0.45 * S, 0.9 + 0.4 * T))
    image = ax.imshow(weights.numpy(), cmap=ATTENTION_CMAP, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(query_tokens)), query_tokens)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title or "attention weights")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="weight")
    return ax


def draw_query(weights, tokens, query: int = 0) -> Figure:
    """The attention explorer's frame: the whole ``(T, T)`` map with the chosen query's
    row framed (left), and that row as bars under the tokens it attends (right)."""
    from matplotlib.patches import Rectangle

    weights = _check_weights(weights, tokens, tokens)
    if isinstance(query, bool) or not isinstance(query, numbers.Integral):
        raise ValueError(
            f"draw_query: query must be a token index (int), got {query!r}."
        )
    query = min(max(int(query), 0), len(tokens) - 1)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw=dict(width_ratios=[1, 1.2])
    )
    plot_attention(weights, tokens, tokens, ax=left, title="every query (rows)")
    left.add_patch(
        Rectangle((-0.5, query - 0.5), len(tokens), 1, fill=False, ec="red", lw=2)
    )
    row = weights[query].numpy()
    colours = plt.get_cmap(ATTENTION_CMAP)(row)
    right.bar(range(len(tokens)), row, color=colours, edgecolor="black", lw=0.5)
    right.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right")
    right.set_ylim(0, 1)
    right.set_xlabel("key token")
    right.set_ylabel("weight")
    right.set_title(f"where {tokens[query]!r} (query {query}) looks")
    fig.tight_layout()
    return fig


def attention_explorer(examples: dict, query: int = 0):
    """A widget over several sentences: ``examples`` maps a sentence name to
    ``(tokens, weights)`` with weights ``(T, T)``. Pick a sentence and a query token
    (``query`` is the one shown first)."""
    import ipywidgets as widgets

    if not isinstance(examples, dict) or not examples:
        raise ValueError(
            "attention_explorer: give at least one (tokens, weights) pair."
        )
    for name, example in examples.items():
        if not isinstance(example, (tuple, list)) or len(example) != 2:
            raise ValueError(
                f"attention_explorer: examples[{name!r}] must be (tokens, weights), "
                f"got {type(example).__name__}."
            )
        _check_weights(example[1], example[0], example[0], f"examples[{name!r}]")

    def token_options(name):
        return [(f"{i}: {t}", i) for i, t in enumerate(examples[name][0])]

    first = next(iter(examples))
    sentence = widgets.Dropdown(
        options=list(examples), value=first, description="sentence"
    )
    options = token_options(first)
    query = widgets.Dropdown(
        options=options, value=min(query, len(options) - 1), description="query"
    )

    def follow(name, value):  # a new sentence brings its own tokens to the picker
        if name == "sentence":
            keep = query.value  # stay on the same position where the sentence has one
            query.options = token_options(value)
            query.value = min(keep, len(query.options) - 1)

    def draw(sentence, query):
        tokens, weights = examples[sentence]
        return draw_query(weights, tokens, query)

    return explorer(draw, link=follow, sentence=sentence, query=query)


def _check_heads(weights, tokens, where: str):
    import torch

    weights = torch.as_tensor(weights).detach().float().cpu()
    if weights.dim() != 4 or weights.shape[-2:] != (len(tokens), len(tokens)):
        raise ValueError(
            f"{where}: weights must be (L, H, T, T) with T = {len(tokens)} tokens, "
            f"got shape {tuple(weights.shape)}."
        )
    return weights


def draw_heads(weights, tokens, layer: int = 0, head: int = 0) -> Figure:
    """The per-head explorer's frame. ``weights`` is ``(L, H, T, T)`` (layers, heads)
    for one sequence. Left: every head of every layer as a small image in a tight
    grid (layers down, heads across, numbered on the left and top), the chosen one
    framed in red; right: the chosen head large, on token axes (key labels rotated,
    and thinned to at most 40 when the sequence is longer)."""
    weights = _check_heads(weights, tokens, "draw_heads")
    L, H, T = weights.shape[:3]
    layer, head = min(max(int(layer), 0), L - 1), min(max(int(head), 0), H - 1)
    # lay out in inches: thumbnails of side s, then the big map of side b
    s = min(1.0, 6.6 / H)
    b = min(5.0, max(3.2, 0.17 * T))
    label_w = 0.12 + 0.065 * max(len(str(t)) for t in tokens)  # room for y labels
    grid_w, grid_h = H * s * 1.06, L * s * 1.06
    W_in = 0.55 + grid_w + 0.45 + label_w + b + 0.9
    H_in = max(grid_h + 0.9, b + 0.6 + label_w)
    fig = plt.figure(figsize=(W_in, H_in))
    top = H_in - 0.55  # below the "head" numbers
    for i in range(L):
        for j in range(H):
            x, y = 0.55 + j * s * 1.06, top - (i + 1) * s * 1.06
            ax = fig.add_axes((x / W_in, y / H_in, s / W_in, s / H_in))
            ax.imshow(weights[i, j].numpy(), cmap=ATTENTION_CMAP, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            chosen = (i, j) == (layer, head)
            for spine in ax.spines.values():
                spine.set(color="red" if chosen else "grey", lw=2.5 if chosen else 0.4)
            if i == 0:
                ax.set_title(str(j), fontsize=7, pad=2)
            if j == 0:
                ax.set_ylabel(str(i), fontsize=7, rotation=0, ha="right", va="center")
    mid_x = (0.55 + grid_w / 2) / W_in
    fig.text(mid_x, (H_in - 0.18) / H_in, "head", ha="center", va="top", fontsize=8)
    fig.text(
        0.08 / W_in,
        (top - grid_h / 2) / H_in,
        "layer",
        rotation=90,
        ha="left",
        va="center",
        fontsize=8,
    )
    big_x = 0.55 + grid_w + 0.45 + label_w
    big = fig.add_axes((big_x / W_in, (H_in - 0.4 - b) / H_in, b / W_in, b / H_in))
    plot_attention(
        weights[layer, head],
        tokens,
        tokens,
        ax=big,
        title=f"layer {layer}, head {head}",
    )
    big.set_xticks(range(T), tokens, rotation=90, ha="center", fontsize=7)
    big.set_yticks(range(T), tokens, fontsize=7)
    step = -(-T // 40)  # keep at most 40 labels on each axis
    for ticks in (big.get_xticklabels(), big.get_yticklabels()):
        for n, text in enumerate(ticks):
            text.set_visible(n % step == 0)
    big.set_xlabel("key (attended to)", fontsize=8)
    big.set_ylabel("query (attending)", fontsize=8)
    return fig


def head_explorer(weights, tokens, layer: int = 0, head: int = 0):
    """A widget to pick a layer and a head of ``(L, H, T, T)`` weights (see
    :func:`draw_heads`); ``layer`` and ``head`` are the ones shown first."""
    import ipywidgets as widgets

    L, H = _check_heads(weights, tokens, "head_explorer").shape[:2]

    def draw(layer, head):
        return draw_heads(weights, tokens, layer, head)

    return explorer(
        draw,
        layer=widgets.IntSlider(
            layer, 0, L - 1, description="layer", continuous_update=False
        ),
        head=widgets.IntSlider(
            head, 0, H - 1, description="head", continuous_update=False
        ),
    )


# --- chapter 06: cross-attention
def draw_cross_attention(
    weights, src_tokens: list[str], out_tokens: list[str], title: str = ""
) -> Figure:
    """Cross-attention ``(T, S)`` of a translation (chapter 06): row t shows how output
    token t spread its attention over the source tokens; each row's largest weight is
    boxed, so the alignment reads at a glance. Raises ``ValueError`` as
    :func:`plot_attention` does."""
    weights = _check_weights(weights, out_tokens, src_tokens)
    T, S = weights.shape
    fig, ax = plt.subplots(figsize=(0.55 * S + 2.2, 0.42 * T + 1.4))
    plot_attention(weights, out_tokens, src_tokens, ax=ax, title=title)
    for t, s in enumerate(weights.argmax(dim=-1).tolist()):
        box = plt.Rectangle((s - 0.5, t - 0.5), 1, 1, fill=False, ec="white", lw=1.5)
        ax.add_patch(box)
    ax.set_xlabel("source token (key)")
    ax.set_ylabel("output token (query)")
    fig.tight_layout()
    return fig
