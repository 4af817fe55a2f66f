"""Chapter 04's checkers: a right answer passes; the buggy original and each typical
wrong fix get a message that names the mistake."""

import math

import torch
import torch.nn.functional as F

from course_lib.attention import scaled_dot_product_attention
from course_lib.exercises import check
from course_lib.exercises.ch04_multi_head_attention import (
    buggy_merge_heads,
    buggy_self_attention,
    buggy_split_heads,
)
from course_lib.multi_head import MultiHeadAttention


def verdict(exercise_id, answer):
    return check(exercise_id, answer, quiet=True)


def assert_fails_naming(exercise_id, cases):
    for words, answer in cases.items():
        result = verdict(exercise_id, answer)
        assert result.attempted and not result.passed, (words, result.message)
        assert words in result.message, (words, result.message)


def split(x, H):
    B, T, C = x.shape
    return x.view(B, T, H, C // H).transpose(1, 2)


def merge(x):
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def test_split_bug_checker():
    assert verdict("mha.split_bug", split).passed
    assert_fails_naming(
        "mha.split_bug",
        {
            "still the bug": buggy_split_heads,
            "still the bug: one head's rows": lambda x, H: x.reshape(
                x.shape[0], H, x.shape[1], -1
            ),
            "head dim must come before T": lambda x, H: x.view(*x.shape[:2], H, -1),
            "viewed C as (D, H)": lambda x, H: x.view(*x.shape[:2], -1, H).permute(
                0, 3, 1, 2
            ),
            "expected (B, H, T, D)": lambda x, H: x,
            "in token order": lambda x, H: split(x, H).flip(2),
        },
    )


def changed_tokens(split_fn, x, x2, H=3):
    """The tokens whose causal-attention output differs between inputs x and x2."""
    outs = []
    for inp in (x, x2):
        q = split_fn(inp, H)  # (B, H, T, D)
        outs.append(merge(scaled_dot_product_attention(q, q, q, is_causal=True)[0]))
    return ((outs[0] - outs[1]).abs().amax(dim=(0, 2)) > 1e-6).nonzero().flatten()


def test_split_bug_shows_its_symptom_a_causal_layer_sees_the_future():
    """What the chapter shows: with the buggy split, changing only the last token
    changes the outputs of earlier tokens; with the right split only its own."""
    x = torch.randn(1, 5, 12, generator=torch.Generator().manual_seed(0))
    x2 = x.clone()
    x2[:, -1] += 1.0
    assert changed_tokens(split, x, x2).tolist() == [4]
    assert changed_tokens(buggy_split_heads, x, x2).min() < 4


def test_merge_bug_checker():
    assert verdict("mha.merge_bug", merge).passed
    assert verdict("mha.merge_bug", lambda x: x.permute(0, 2, 1, 3).flatten(2)).passed
    assert_fails_naming(
        "mha.merge_bug",
        {
            "heads come out interleaved": buggy_merge_heads,
            "now tokens are mixed": lambda x: x.reshape(x.shape[0], x.shape[2], -1),
            "expected (B, T, C)": lambda x: x.transpose(1, 2),
            "head 0's D numbers": lambda x: merge(x.flip(1)),
        },
    )
    x = torch.randn(2, 5, 12)
    assert not torch.allclose(buggy_merge_heads(split(x, 3)), x)  # the symptom


def self_attention(mha, x, scale=None, dim=-1):
    B, T, C = x.shape
    H, D = mha.num_heads, C // mha.num_heads
    q, k, v = (split(p(x), H) for p in (mha.q_proj, mha.k_proj, mha.v_proj))
    scale = 1 / math.sqrt(D) if scale is None else scale
    w = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=dim)
    return mha.out_proj(merge(w @ v))


def test_scale_bug_checker():
    assert verdict("mha.scale_bug", self_attention).passed
    assert verdict("mha.scale_bug", lambda m, x: m(x, x, x)[0]).passed
    assert_fails_naming(
        "mha.scale_bug",
        {
            "divided by √C": buggy_self_attention,
            "not scaled at all": lambda m, x: self_attention(m, x, 1.0),
            "multiply by √D": lambda m, x: self_attention(m, x, math.sqrt(8)),
            "divided by D, not by √D": lambda m, x: self_attention(m, x, 1 / 8),
            "dim=-1, not dim=-2": lambda m, x: self_attention(m, x, dim=-2),
            "expected out of shape": lambda m, x: x[..., :3],
            "differs from MultiHeadAttention": lambda m, x: self_attention(m, x) + 0.1,
        },
    )


def test_scale_bug_shows_its_symptom():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).eval()
    x = torch.randn(1, 6, 32)
    with torch.no_grad():
        assert not torch.allclose(buggy_self_attention(mha, x), mha(x, x, x)[0])


def gqa(q, k, v):
    H, G = q.shape[1], k.shape[1]
    k, v = k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1)
    return scaled_dot_product_attention(q, k, v)[0]


def test_grouped_query_checker():
    assert verdict("mha.grouped_query", gqa).passed
    assert verdict("mha.grouped_query", lambda q, k, v: (gqa(q, k, v), None)).passed

    def tiled(q, k, v):
        r = q.shape[1] // k.shape[1]
        return F.scaled_dot_product_attention(
            q, k.repeat(1, r, 1, 1), v.repeat(1, r, 1, 1)
        )

    def unscaled(q, k, v):
        r = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
        return torch.softmax(q @ k.transpose(-2, -1), -1) @ v

    assert_fails_naming(
        "mha.grouped_query",
        {
            "repeat_interleave": tiled,
            "not scaled by 1/√D": unscaled,
            "expected out (B, H, T, D)": lambda q, k, v: k,
            "differs from F.scaled_dot_product_attention": lambda q, k, v: (
                gqa(q, k, v) * 2
            ),
        },
    )


def test_params_more_heads_checker():
    right = verdict("mha.params_more_heads", 0)
    assert right.passed and "16,640" in right.message  # 4·64² + 4·64 each
    assert_fails_naming(
        "mha.params_more_heads",
        {
            "more heads do not add": 3 * 16_640,
            "each projection still maps C to C": -100,
            "as a number": "0",
        },
    )


def test_weights_memory_checker():
    right = verdict("mha.weights_memory", 64)
    assert right.passed and "four times" in right.message
    assert verdict("mha.weights_memory", 64.0).passed
    assert_fails_naming(
        "mha.weights_memory",
        {
            "linear in T": 32,
            "two token dims, not three": 128,
            "entries of a (T, T) matrix": 16,
            "as a number": "64",
        },
    )


def test_heads_memory_checker():
    from course_lib.profiling import attention_scaling

    (teaching, _) = attention_scaling([1024], heads=8, head_dim=32, threads=1, repeat=1)
    measured = teaching["peak_bytes"] / 2**20  # what the learner reads in the table
    assert 60 < measured < 70
    assert verdict("mha.heads_memory", round(measured, 1)).passed
    assert_fails_naming(
        "mha.heads_memory",
        {
            "the 4-head figure": round(measured / 2, 1),
            "less than the 4-head figure": 8.0,
            "not what this experiment gives": 2 * measured,
        },
    )


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check("mha.scale_bug", self_attention, quiet=True)
    torch.testing.assert_close(torch.rand(3), expected)
