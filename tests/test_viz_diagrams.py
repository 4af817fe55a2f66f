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
