"""The architecture pictures and the primitives they are drawn with (viz_shapes)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib.viz_shapes import COLOURS, arrow, box, canvas  # noqa: E402


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


# --- chapter 03: the Q/K/V projections and one attention ---
def test_qkv_projections_write_every_shape_by_name_and_number():
    from matplotlib.patches import FancyBboxPatch

    from course_lib.viz_diagrams import draw_qkv_projections

    fig = draw_qkv_projections(T=4, d_model=512, d_k=64, d_v=32)
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.texts]
    pairs = dict(
        zip(texts, texts[1:], strict=False)
    )  # each box's label, then its shape
    assert pairs["X: token embeddings"] == "(T, d_model) = (4, 512)"
    assert pairs["× W_Q"] == pairs["× W_K"] == "(d_model, d_k) = (512, 64)"
    assert pairs["× W_V"] == "(d_model, d_v) = (512, 32)"
    assert pairs["Q"] == pairs["K"] == "(T, d_k) = (4, 64)"
    assert pairs["V"] == "(T, d_v) = (4, 32)"
    assert (
        pairs["scores = Q Kᵀ / √d_k"] == pairs["weights = softmax"] == "(T, T) = (4, 4)"
    )
    assert pairs["output = weights V"] == "(T, d_v) = (4, 32)"
    # 10 boxes, 11 arrows: X fans out to 3 projections, each to its result, Q and K
    # to the scores, scores to the weights, the weights and V to the output
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 10 and len(ax.patches) == 21
    roles = {matplotlib.colors.to_hex(p.get_facecolor()) for p in boxes}
    assert roles == {COLOURS[r] for r in ("data", "weights", "attention", "output")}
    assert draw_qkv_projections(T=3, d_model=8, d_k=2).axes[0].texts[-1].get_text() == (
        "(T, d_v) = (3, 2)"  # d_v defaults to d_k
    )
    with pytest.raises(ValueError, match="d_k must be an int >= 1"):
        draw_qkv_projections(d_k=0)
    plt.close("all")


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


# --- chapter 07: the GPT's data flow, and the three families of Transformers
def test_gpt_data_flow_names_every_stage_and_its_shape():
    from course_lib.viz_diagrams import draw_gpt_data_flow

    fig = draw_gpt_data_flow()
    texts = [t.get_text() for t in fig.axes[0].texts]
    order = [
        "token ids",
        "token embedding",
        "position embedding",
        "LayerNorm",
        "masked multi-head attention",
        "LayerNorm",
        "MLP (C → 4C → C, GELU)",
        "final LayerNorm",
        "lm_head (tied to token emb.)",
        "loss: cross-entropy",
        "targets: ids shifted",
    ]
    boxes = [t for t in texts if t in order]
    assert boxes == order  # in the order the data flows
    after = {
        name: texts[texts.index(name) + 1] for name in order if name != "LayerNorm"
    }
    assert after["token ids"] == "(B, T)"
    assert after["token embedding"] == after["position embedding"] == "(B, T, C)"
    assert after["final LayerNorm"] == "(B, T, C)"
    assert after["lm_head (tied to token emb.)"] == "logits (B, T, V)"
    assert after["targets: ids shifted"] == "(B, T)"
    assert "× N\nblocks" in texts and texts.count("+") == 3  # embeddings, 2 residuals
    assert texts.count("residual") == 2
    plt.close(fig)


def test_model_families_give_mask_objective_examples_and_chapter():
    from course_lib.viz_diagrams import MODEL_FAMILIES, draw_model_families

    fig = draw_model_families()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    for family in ("encoder-only", "decoder-only", "encoder-decoder"):
        assert family in texts
    rows = {name: rest for name, *rest in MODEL_FAMILIES}
    assert (
        rows["encoder-only"][0] == "bidirectional" and "BERT" in rows["encoder-only"][2]
    )
    assert "masked-LM" in rows["encoder-only"][1]
    assert rows["decoder-only"][:2] == ["causal", "next token"]
    assert "cross-attention" in rows["encoder-decoder"][0]
    assert [r[3] for r in rows.values()] == ["09 (MiniLM)", "07 (our GPT)", "06"]
    for chapter in ("chapter 09 (MiniLM)", "chapter 07 (our GPT)", "chapter 06"):
        assert chapter in texts
    # the masks: 25 cells each, 4 grids; a causal grid leaves 10 of 25 unshaded
    cells = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    assert len(cells) == 4 * 25
    blank = [
        p
        for p in cells
        if matplotlib.colors.to_hex(p.get_facecolor()) != (COLOURS["attention"])
    ]
    assert len(blank) == 2 * 10  # the decoder-only grid and the decoder's
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
