"""course_lib.viz_generation: the next-token picture draws what sampling draws from,
checked against Hugging Face's logits warpers."""

import matplotlib.pyplot as plt
import pytest
import torch
from transformers import TopKLogitsWarper, TopPLogitsWarper

from course_lib.viz_generation import draw_next_token


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- chapter 08
def test_draw_next_token_bars_are_next_token_probs():
    logits = torch.randn(13, generator=torch.Generator().manual_seed(0)) * 2
    tokens = list("abcdefghijk") + [" ", "\n"]
    fig = draw_next_token(logits, tokens, 0.8, 3, 0.9, n=13)
    ax = fig.axes[0]
    bars = ax.patches
    order = torch.softmax(logits, -1).argsort(descending=True)
    grey = torch.tensor([b.get_height() for b in bars[:13]], dtype=torch.float32)
    torch.testing.assert_close(grey, torch.softmax(logits, -1)[order])
    assert (grey[:-1] >= grey[1:]).all()  # most likely first
    heights = torch.tensor([b.get_height() for b in bars[13:]], dtype=torch.float32)
    # what sampling draws from, by Hugging Face's warpers in their order
    warped = TopPLogitsWarper(0.9)(None, TopKLogitsWarper(3)(None, logits[None] / 0.8))
    torch.testing.assert_close(heights, torch.softmax(warped[0], -1)[order])
    shown = {" ": "␣", "\n": "\\n"}
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [shown.get(tokens[i], tokens[i]) for i in order.tolist()]
    kept = int((heights > 0).sum())
    assert ax.get_title().endswith(f"{kept} token(s) can be drawn")
    fig = draw_next_token(logits, tokens, n=5)
    assert len(fig.axes[0].get_xticklabels()) == 5
    with pytest.raises(ValueError, match="len\\(tokens\\)"):
        draw_next_token(logits, list("abc"))
