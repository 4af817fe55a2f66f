"""Generation pictures (chapter 08): the next-token distribution a model predicts, as
it is and after temperature, top-k and top-p reshape it (:func:`draw_next_token`, the
frame of the sampling explorer; the explorer is :func:`course_lib.viz.explorer`), and
the beams of a beam search step by step (:func:`draw_beams`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


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


def draw_beams(history, tokens: list[str], title: str = "") -> Figure:
    """The running beams of a beam search, step by step (the frame of chapter 08's
    beam explorer). ``history[t]`` lists the beams kept after step ``t + 1``, best
    first, as ``(sum of log-probs, new token ids)``; each beam is drawn at (step,
    rank) with its newest token, coloured by its score and linked to the beam it
    extends. Raises ``ValueError`` for an empty history, an empty step, or a beam
    whose number of ids is not its step."""
    if not isinstance(history, (list, tuple)) or not history:
        raise ValueError(
            "draw_beams: history must be a non-empty list of steps, each a list of "
            f"(score, ids) beams, got {history!r}."
        )
    for t, beams in enumerate(history, start=1):
        if not beams or any(len(ids) != t for _, ids in beams):
            raise ValueError(
                f"draw_beams: step {t} of history must hold beams of {t} new token "
                f"ids each, got {beams!r}."
            )
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.text(0, 0, "prompt", ha="center", va="center", fontsize=8)
    prev = {(): 0}  # ids of the previous step's beams -> their rank
    xs, ys, cs = [], [], []
    for t, beams in enumerate(history, start=1):
        for rank, (score, ids) in enumerate(beams):
            parent = prev.get(tuple(ids[:-1]))
            if parent is not None:
                ax.plot([t - 1, t], [parent, rank], color="grey", lw=0.8, zorder=1)
            ax.text(t, rank, _show_char(tokens[ids[-1]]), ha="center", va="center")
            xs, ys, cs = xs + [t], ys + [rank], cs + [float(score)]
        prev = {tuple(ids): rank for rank, (_, ids) in enumerate(beams)}
    dots = ax.scatter(xs, ys, c=cs, s=220, cmap="viridis", alpha=0.5, zorder=2)
    fig.colorbar(dots, ax=ax, label="sum of log-probs")
    ax.set_yticks(range(max(len(beams) for beams in history)))
    ax.invert_yaxis()
    ax.set_xlabel("step (new tokens)")
    ax.set_ylabel("beam rank (0 = best)")
    ax.set_title(title or f"{len(history[-1])} beams over {len(history)} steps")
    fig.tight_layout()
    return fig
