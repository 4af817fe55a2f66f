"""Generation pictures (chapter 08): the next-token distribution a model predicts, as
it is and after temperature, top-k and top-p reshape it (:func:`draw_next_token`, the
frame of the sampling explorer; the explorer is :func:`course_lib.viz.explorer`).
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
