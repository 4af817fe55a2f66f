"""The diagram primitives; each picture is tested next to its chapter's other tests."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib.viz_diagrams import COLOURS, arrow, box, canvas  # noqa: E402


def test_box_and_arrow_draw_where_they_are_told():
    fig, ax = canvas(4, 2, "title")
    patch = box(ax, 0.5, 0.5, 1.0, 0.6, "W_Q", role="weights", shape="(C, C)")
    arrow(ax, (1.5, 0.8), (3, 0.8), "x")
    assert patch.get_x() == 0.5 and patch.get_width() == 1.0
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["W_Q", "(C, C)", "x"]
    assert matplotlib.colors.to_hex(patch.get_facecolor()) == COLOURS["weights"]
    assert ax.get_xlim() == (0, 4) and ax.get_title() == "title"
    plt.close(fig)


def test_box_names_an_unknown_role():
    fig, ax = canvas(2, 2)
    with pytest.raises(ValueError, match="role must be one of"):
        box(ax, 0, 0, 1, 1, "x", role="purple")
    plt.close(fig)


# --- chapter 11: data parallelism, one all-reduce of the gradients
@pytest.mark.parametrize("workers", [2, 4])
def test_data_parallel_all_reduce_averages_every_workers_gradient(workers):
    from matplotlib.patches import FancyBboxPatch

    from course_lib.viz_diagrams import data_parallel_all_reduce

    fig = data_parallel_all_reduce(workers)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    for r in range(workers):  # one shard, one worker, one gradient each
        assert texts.count(f"shard {r} of the batch") == 1
        assert texts.count(f"worker {r}: own copy") == 1
        assert texts.count(f"gradient g{r}") == 1
    terms = " + ".join(f"g{r}" for r in range(workers))
    assert f"all-reduce: ḡ = ({terms}) / {workers}" in texts  # a mean, not a sum
    assert texts.count("mean gradient ḡ") == workers  # everyone gets the result
    assert texts.count("AdamW step") == workers and "same θ on all" in texts
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    widest = max(boxes, key=lambda p: p.get_width())  # the all-reduce spans them all
    others = [p for p in boxes if p is not widest]
    assert widest.get_width() > max(p.get_width() for p in others) * (workers - 0.5)
    below = [p for p in others if p.get_y() < widest.get_y()]
    above = [p for p in others if p.get_y() > widest.get_y()]
    assert len(below) == 2 * workers and len(above) == 3 * workers
    assert ax.get_title() == "data parallelism: one training step"
    plt.close(fig)
    with pytest.raises(ValueError, match="workers must be 2 to 6"):
        data_parallel_all_reduce(1)
