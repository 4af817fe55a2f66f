"""Static plots and ipywidgets explorers.

Every explorer in the course follows one pattern, so it works the same in JupyterLab,
Notebook 7, VS Code and Colab, and shows a picture on GitHub:

1. a ``draw_*(...) -> Figure`` function that draws one frame from plain arguments;
2. in the notebook, one cell that calls it with the default arguments: the static first
   frame, an ordinary matplotlib image that nbval and GitHub see;
3. a next cell, tagged ``nbval-ignore-output``, that calls :func:`explorer` with the
   same function and the widgets that drive its arguments.

Attention is always drawn with :data:`ATTENTION_CMAP`, so a colour means the same weight
in every chapter.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ATTENTION_CMAP = "viridis"  # one colour map for attention weights across the course


def explorer(draw: Callable[..., Figure], **controls):
    """A live widget: ``controls`` (ipywidgets keyed by ``draw``'s argument names) above
    the figure ``draw(**values)`` redrawn whenever a control changes.

    Works with ipywidgets 7.7 (Colab) and 8. Returns the widget; display it by making it
    the last expression of a cell.
    """
    import ipywidgets as widgets
    from IPython.display import clear_output, display

    if not callable(draw):
        raise ValueError(
            f"explorer: draw must be a function returning a Figure, got {draw!r}."
        )
    if not controls:
        raise ValueError("explorer: give at least one control, e.g. d_k=IntSlider(...)")
    out = widgets.Output()

    def update(**values):
        with out:
            clear_output(wait=True)
            fig = draw(**values)
            display(fig)
            plt.close(fig)  # shown once, inside the widget, not again below the cell

    widgets.interactive_output(update, controls)
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    box.add_class("course-explorer")
    return box


# --- chapters 03-04: attention
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


def draw_scaling(d_k: int = 64, scaled: bool = True) -> Figure:
    """The √d_k explorer's frame: the spread of the scores q·k (left) and the softmax
    weights of one query over 8 keys (right), with the three numbers printed on top."""
    stats = softmax_saturation(d_k, scaled)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.hist(stats["scores"].flatten().numpy(), bins=50, range=(-50, 50), color="C0")
    left.set_xlabel("score q·k" + (" / √d_k" if scaled else ""))
    left.set_ylabel("count")
    left.set_title("scores (256 queries × 8 keys)")
    right.bar(range(8), stats["weights"][0].numpy(), color="C2")
    right.axhline(1 / 8, color="grey", linestyle=":", label="uniform 1/8")
    right.set_ylim(0, 1)
    right.set_xticks(range(8), [f"k{j}" for j in range(8)])
    right.set_xlabel("key")
    right.set_ylabel("weight")
    right.set_title("softmax of one query's scores")
    right.legend(loc="upper right")
    fig.suptitle(
        f"d_k = {d_k}, scale {'on' if scaled else 'off'}:  var(score) = "
        f"{stats['variance']:.1f},  mean max weight = {stats['max_weight']:.2f},  "
        f"‖∂w/∂s‖ = {stats['grad_norm']:.3f}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


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

    def follow(change):  # a new sentence brings its own tokens to the query picker
        keep = query.value  # stay on the same position where the sentence has one
        query.options = token_options(change["new"])
        query.value = min(keep, len(query.options) - 1)

    sentence.observe(follow, names="value")

    def draw(sentence, query):
        tokens, weights = examples[sentence]
        return draw_query(weights, tokens, query)

    return explorer(draw, sentence=sentence, query=query)


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
    for one sequence. Left: every head of every layer as a thumbnail, the chosen one
    framed; right: the chosen head large, on token axes."""
    weights = _check_heads(weights, tokens, "draw_heads")
    L, H = weights.shape[:2]
    layer, head = min(max(int(layer), 0), L - 1), min(max(int(head), 0), H - 1)
    fig = plt.figure(figsize=(12, 1.0 + 1.9 * L))
    grid = fig.add_gridspec(L, H + 3, width_ratios=[1] * H + [0.3, 2.2, 2.2])
    for i in range(L):
        for j in range(H):
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(weights[i, j].numpy(), cmap=ATTENTION_CMAP, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            chosen = (i, j) == (layer, head)
            for spine in ax.spines.values():
                spine.set(color="red" if chosen else "grey", lw=3 if chosen else 0.5)
            if i == 0:
                ax.set_title(f"head {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"layer {i}", fontsize=9)
    big = fig.add_subplot(grid[:, H + 1 :])
    plot_attention(
        weights[layer, head],
        tokens,
        tokens,
        ax=big,
        title=f"layer {layer}, head {head}",
    )
    fig.tight_layout()
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


# --- chapters 05-06: gradients through depth, cross-attention
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


# --- chapter 08: sampling
def _show_char(token: str) -> str:
    return {" ": "␣", "\n": "\\n", "\t": "\\t"}.get(token, token)


def draw_next_token(
    logits,
    tokens: list[str],
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    n: int = 20,
    title: str = "",
) -> Figure:
    """The next-token distribution of ``logits`` ``(V,)`` (grey: softmax as it is)
    and after temperature, top-k and top-p (coloured), over the ``n`` most likely
    tokens; ``tokens[i]`` names id ``i``. ``top_k = 0`` or ``top_p = 1`` mean off.
    Raises ``ValueError`` for a bad knob (as ``course_lib.generation`` does)."""
    import torch

    from course_lib.generation import next_token_probs

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"draw_next_token: n must be an int >= 1, got {n!r}.")
    logits = torch.as_tensor(logits, dtype=torch.float32)
    if logits.dim() != 1 or logits.numel() != len(tokens):
        raise ValueError(
            f"logits must be (V,) with V = len(tokens) = {len(tokens)}, "
            f"got shape {tuple(logits.shape)}."
        )
    before = torch.softmax(logits, -1)
    after = next_token_probs(logits, temperature, top_k or None, top_p)
    order = before.argsort(descending=True)[:n]
    x = range(len(order))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(x, before[order], color="lightgrey", label="softmax(logits)")
    ax.bar(x, after[order], width=0.5, color="tab:blue", label="what sampling uses")
    ax.set_xticks(list(x), [_show_char(tokens[i]) for i in order.tolist()])
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"the {len(order)} most likely next tokens")
    ax.set_ylabel("probability")
    kept = int((after > 0).sum())
    p_text = "off" if top_p is None else f"{top_p:.2g}"
    ax.set_title(
        title
        or f"T={temperature:.2g}, top_k={top_k or 'off'}, "
        f"top_p={p_text}: {kept} token(s) can be drawn"
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig
