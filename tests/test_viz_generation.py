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


def test_draw_beams_places_each_beam_at_its_step_and_rank():
    from course_lib.viz_generation import draw_beams

    history = [[(-0.1, [0]), (-2.0, [1])], [(-0.5, [0, 2]), (-0.9, [1, 0])]]
    fig = draw_beams(history, ["a", "b", " "])
    ax = fig.axes[0]
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert texts == {
        ((0, 0), "prompt"),
        ((1, 0), "a"),
        ((1, 1), "b"),
        ((2, 0), "␣"),
        ((2, 1), "a"),
    }
    links = [tuple(map(tuple, line.get_xydata().tolist())) for line in ax.lines]
    # step 2's best extends step 1's rank 0, its second extends rank 1
    assert ((1.0, 0.0), (2.0, 0.0)) in links and ((1.0, 1.0), (2.0, 1.0)) in links
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    colours = ax.collections[0].get_array().tolist()
    assert colours == [-0.1, -2.0, -0.5, -0.9]
    with pytest.raises(ValueError, match="history must be a non-empty list"):
        draw_beams([], ["a"])
    with pytest.raises(ValueError, match="step 2 of history"):
        draw_beams([[(-0.1, [0])], [(-0.2, [0])]], ["a"])
