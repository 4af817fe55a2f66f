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


# --- chapter 08: what a KV cache stores ---


def test_kv_cache_picture_shows_the_cached_columns_and_the_per_step_work():
    from course_lib.viz_diagrams import draw_kv_cache

    fig = draw_kv_cache(t_so_far=4)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for name in ("K", "V"):  # per layer, the keys and values of every token so far
        assert f"{name} cache, per layer: (B, H, T_so_far, d_head)" in texts
        cached = [f"{name.lower()}{t}" for t in range(4)]
        assert all(c in texts for c in cached) and f"{name.lower()}4" not in texts
        assert texts.count(f"{name.lower()}_t") == 1  # one new column a step
    assert "q_t" in texts and any("all T_so_far + 1 keys" in t for t in texts)
    assert "q, k, v of 1 token; T_so_far k, v read back" in texts
    assert "q, k, v of all T_so_far + 1 tokens, again" in texts
    assert any("each of the L layers" in t for t in texts)
    plt.close(fig)
