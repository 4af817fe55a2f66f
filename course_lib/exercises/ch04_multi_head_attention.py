"""Chapter 04: three bugs of splitting, merging and scaling heads, grouped-query
attention, and what more heads cost (parameters, the weights' memory)."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from course_lib.attention import scaled_dot_product_attention
from course_lib.exercises import Fail, exercise
from course_lib.multi_head import MultiHeadAttention
from course_lib.profiling import peak_memory


def _same(a, b) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-5)
    )


def _number(answer, what: str) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise Fail(f"write {what} as a number, got {type(answer).__name__}.")
    return float(answer)


# ---------------------------------------------------------------- find the bug: split
def buggy_split_heads(x, num_heads):
    B, T, C = x.shape
    return x.view(B, num_heads, T, C // num_heads)  # (B, T, C) -> (B, H, T, D)


@exercise(
    "mha.split_bug",
    "fix split_heads: after it, a causal layer lets a token see the future",
    kind="find-the-bug",
    hints=(
        "The shape is right. Check what head 0 holds: compare "
        "buggy_split_heads(x, H)[:, 0] with x[:, :, :D].",
        "A view keeps the numbers in memory order. In (B, T, C) memory runs over C "
        "fastest, then T; viewing it as (B, H, T, D) cuts across tokens.",
        "Split C first, keeping T where it is, then swap: "
        "x.view(B, T, H, C // H).transpose(1, 2).",
    ),
    buggy=buggy_split_heads,
)
def check_split_bug(fn) -> str:
    B, T, H, D = 2, 5, 3, 4
    x = torch.arange(B * T * H * D, dtype=torch.float32).view(B, T, H * D)
    got = fn(x, H)
    want = x.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
    if not isinstance(got, torch.Tensor):
        raise Fail(f"expected a tensor, got {type(got).__name__}.")
    if tuple(got.shape) == (B, T, H, D):
        raise Fail(
            f"your result is (B, T, H, D) = {tuple(got.shape)}: the width is split "
            "but the head dim must come before T, (B, H, T, D)."
        )
    if tuple(got.shape) != (B, H, T, D):
        raise Fail(
            f"for x (B={B}, T={T}, C={H * D}) and H={H} your result has shape "
            f"{tuple(got.shape)}, expected (B, H, T, D) = {(B, H, T, D)}."
        )
    if _same(got, x.reshape(B, H, T, D)):
        raise Fail(
            "still the bug: one head's rows hold pieces of several tokens, so a token "
            "attends with numbers of the tokens after it. A plain view or reshape "
            "from (B, T, C) to (B, H, T, D) cannot split heads."
        )
    if _same(got, x.view(B, T, D, H).permute(0, 3, 1, 2)):
        raise Fail(
            "each token stays in its row now, but head h gets columns h, h+H, "
            "h+2H, ... (you viewed C as (D, H)); head h owns the block of columns "
            "h·D .. (h+1)·D - 1, like the chapter's picture."
        )
    if not _same(got, want):
        raise Fail(
            "the shape is right but head h must hold columns h·D .. (h+1)·D - 1 of "
            "every token, in token order."
        )
    return "view (B, T, H, D), then transpose: each head keeps every token apart."


# ---------------------------------------------------------------- find the bug: merge
def buggy_merge_heads(x):
    B, H, T, D = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * D)  # (B, H, T, D) -> (B, T, C)


@exercise(
    "mha.merge_bug",
    "fix merge_heads: merging a split does not give the tensor back",
    kind="find-the-bug",
    hints=(
        "Tokens are not mixed: row t holds only token t's numbers. Look at the order "
        "of the C numbers in one row.",
        "After the merge, column c must be head c // D's number d = c % D. Which of "
        "H and D must vary fastest along C?",
        "Bring T next to B and keep H before D: x.transpose(1, 2).reshape(B, T, H * D) "
        "(or .permute(0, 2, 1, 3)).",
    ),
    buggy=buggy_merge_heads,
)
def check_merge_bug(fn) -> str:
    B, H, T, D = 2, 3, 5, 4
    x = torch.arange(B * H * T * D, dtype=torch.float32).view(B, H, T, D)
    got = fn(x)
    want = x.transpose(1, 2).reshape(B, T, H * D)
    if not isinstance(got, torch.Tensor):
        raise Fail(f"expected a tensor, got {type(got).__name__}.")
    if tuple(got.shape) != (B, T, H * D):
        raise Fail(
            f"for x (B={B}, H={H}, T={T}, D={D}) your result has shape "
            f"{tuple(got.shape)}, expected (B, T, C) = {(B, T, H * D)}."
        )
    if _same(got, x.permute(0, 2, 3, 1).reshape(B, T, H * D)):
        raise Fail(
            "still the bug: the heads come out interleaved (column c holds head c % H) "
            "instead of side by side (head c // D), so merge does not undo split."
        )
    if _same(got, x.reshape(B, T, H * D)):
        raise Fail(
            "now tokens are mixed: reshaping (B, H, T, D) straight to (B, T, C) glues "
            "rows of different tokens together. Move T next to B first."
        )
    if not _same(got, want):
        raise Fail("token t must hold head 0's D numbers, then head 1's, and so on.")
    return "(B, H, T, D) -> (B, T, H, D) -> (B, T, C): the exact inverse of the split."


# ---------------------------------------------------------------- find the bug: scale
def buggy_self_attention(mha, x):
    B, T, C = x.shape
    H, D = mha.num_heads, C // mha.num_heads
    q = mha.q_proj(x).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
    k = mha.k_proj(x).view(B, T, H, D).transpose(1, 2)
    v = mha.v_proj(x).view(B, T, H, D).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(C)  # (B, H, T, T)
    out = torch.softmax(scores, dim=-1) @ v  # (B, H, T, D)
    return mha.out_proj(out.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


def _attention_variant(mha, x, scale: float, dim: int = -1):
    B, T, C = x.shape
    H, D = mha.num_heads, C // mha.num_heads
    q, k, v = (
        p(x).view(B, T, H, D).transpose(1, 2)
        for p in (mha.q_proj, mha.k_proj, mha.v_proj)
    )
    weights = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=dim)
    return mha.out_proj((weights @ v).transpose(1, 2).reshape(B, T, C))


@exercise(
    "mha.scale_bug",
    "fix self_attention: it differs from MultiHeadAttention with the same weights",
    kind="find-the-bug",
    hints=(
        "Split, merge and out_proj are right. Compare the attention weights of one "
        "head with those of MultiHeadAttention(..., need_weights=True): which are "
        "flatter?",
        "The scale keeps the scores' spread near 1 whatever the width of the vectors "
        "being dotted. Which vectors are dotted here, and how wide are they?",
        "Each head dots vectors of width D = C / H: divide by math.sqrt(D), not by "
        "math.sqrt(C).",
    ),
    buggy=buggy_self_attention,
)
def check_scale_bug(fn) -> str:
    C, H = 32, 4
    with torch.random.fork_rng():  # leave the learner's random numbers alone
        torch.manual_seed(4)
        mha = MultiHeadAttention(C, H).eval()
        with torch.no_grad():  # larger weights: sharper attention, clearer errors
            for p in (mha.q_proj, mha.k_proj):
                p.weight.mul_(4)
    x = torch.randn(2, 6, C, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = mha(x, x, x)[0]
        got = fn(mha, x)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else got
            raise Fail(f"expected out of shape {tuple(want.shape)}, got {shape!r:.60}.")
        wrong = {
            "still the bug: the scores are divided by √C, the model's width; each head "
            "dots vectors of width D = C / H": 1 / math.sqrt(C),
            "the scores are not scaled at all now: softmax saturates": 1.0,
            "you multiply by √D instead of dividing": math.sqrt(C // H),
            "the scores are divided by D, not by √D": 1 / (C // H),
        }
        for message, scale in wrong.items():
            if _same(got, _attention_variant(mha, x, scale)):
                raise Fail(message + ".")
        if _same(got, _attention_variant(mha, x, 1 / math.sqrt(C // H), dim=-2)):
            raise Fail("the softmax must run over the keys, dim=-1, not dim=-2.")
        if not _same(got, want):
            raise Fail(
                "your output differs from MultiHeadAttention's by "
                f"{(got - want).abs().max().item():.2g}; only the scale was wrong."
            )
    return "each head's scores divided by √D, the width of its keys: equal to MHA."


# ---------------------------------------------------------------- implement: GQA
@exercise(
    "mha.grouped_query",
    "write fn(q, k, v): attention with H query heads sharing G key/value heads",
    kind="implement",
    hints=(
        "q is (B, H, T, D), k and v are (B, G, S, D) with G dividing H. Query heads "
        "0 .. H/G - 1 share key/value head 0, the next H/G share head 1, and so on.",
        "Give every query head its own copy of its group's keys and values, then it "
        "is ordinary multi-head attention: (B, G, S, D) -> (B, H, S, D).",
        "k.repeat_interleave(H // G, dim=1) (not .repeat, which pairs head h with "
        "group h % G), the same for v, then softmax(q kᵀ / √D) v.",
    ),
)
def check_grouped_query(fn) -> str:
    g = torch.Generator().manual_seed(6)
    B, H, G, T, S, D = 2, 6, 2, 4, 5, 8
    q = torch.randn(B, H, T, D, generator=g)
    k, v = torch.randn(B, G, S, D, generator=g), torch.randn(B, G, S, D, generator=g)
    want = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    with torch.no_grad():
        got = fn(q, k, v)
    if isinstance(got, tuple) and got and isinstance(got[0], torch.Tensor):
        got = got[0]  # (out, weights) is fine
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else got
        raise Fail(
            f"for q (B, H={H}, T, D) and k, v (B, G={G}, S, D) expected out "
            f"(B, H, T, D) = {tuple(want.shape)}, got {shape!r:.60}."
        )
    tiled = dict(k=k.repeat(1, H // G, 1, 1), v=v.repeat(1, H // G, 1, 1))
    if _same(got, F.scaled_dot_product_attention(q, tiled["k"], tiled["v"])):
        raise Fail(
            ".repeat tiles the groups (0, 1, 0, 1, ...), so query head h uses group "
            "h % G; the heads of one group sit side by side: group h // (H / G). Use "
            "repeat_interleave."
        )
    ki, vi = k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1)
    if _same(got, F.scaled_dot_product_attention(q, ki, vi, scale=1.0)):
        raise Fail("the right heads, but the scores are not scaled by 1/√D.")
    if not _same(got, want):
        raise Fail(
            "your output differs from F.scaled_dot_product_attention(q, k, v, "
            f"enable_gqa=True) by {(got - want).abs().max().item():.2g}."
        )
    return (
        "equal to PyTorch's grouped-query attention: G key/value heads cache "
        f"{H // G}x less than H would, for the same number of query heads."
    )


# ---------------------------------------------------------------- predict: parameters
@exercise(
    "mha.params_more_heads",
    "predict: parameters of MultiHeadAttention(64, 16) minus those of (64, 4)",
    kind="predict",
    hints=(
        "List the layers of MultiHeadAttention and the shape of each weight and bias. "
        "Which of them depend on num_heads?",
        "q_proj, k_proj, v_proj and out_proj are nn.Linear(C, C) whatever H is; a "
        "head is a slice of D = C / H columns of them.",
    ),
)
def check_params_more_heads(answer) -> str:
    value = _number(answer, "the difference in parameters")
    count = [
        sum(p.numel() for p in MultiHeadAttention(64, h).parameters()) for h in (16, 4)
    ]
    truth = count[0] - count[1]
    if value == truth:
        return (
            f"0: both have {count[0]:,} parameters (4·C² + 4·C). More heads cut the "
            "same C×C projections into narrower slices; they add no weights."
        )
    if value > 0:
        raise Fail(
            f"you predict {value:g} more parameters: more heads do not add "
            "projections, they cut the same four C×C matrices into more, narrower "
            "slices of columns."
        )
    raise Fail(
        f"you predict {value:g}: fewer parameters with more heads would mean "
        "narrower projections, but each projection still maps C to C."
    )


# ------------------------------------------------------------ predict: weights memory
@exercise(
    "mha.weights_memory",
    "predict: MiB of the (B, H, T, T) weights at T = 2048, given 16 MiB at T = 1024",
    kind="predict",
    hints=(
        "How many entries has a (T, T) matrix? What happens to that number when T "
        "doubles?",
        "Every query scores every key: T² entries per head. Doubling T multiplies "
        "them by 2² = 4.",
    ),
)
def check_weights_memory(answer) -> str:
    value = _number(answer, "the MiB")
    q = torch.randn(1, 4, 2048, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # H = 4 heads (of width 1 here: D does not matter)
        weights = torch.softmax(q @ q.transpose(-2, -1), dim=-1)  # (1, H, T, T)
    truth = weights.numel() * weights.element_size() / 2**20  # (1, H, T, T) float32
    if value == truth:
        return (
            f"{truth:g} MiB: T² entries per head, so twice the tokens is four times "
            "the memory (and the time) of the weights."
        )
    if value == 32:
        raise Fail(
            "32 MiB would be linear in T. Each of the T queries scores each of the T "
            "keys: the matrix grows in both directions."
        )
    if value == 128:
        raise Fail("128 MiB is 2³: the weights have two token dims, not three.")
    raise Fail(f"you predict {value:g} MiB; count the entries of a (T, T) matrix.")


# ---------------------------------------------------------------- modify: more heads
@functools.cache  # measured once per session: a second answer is checked at once
def _teaching_peak_mib(heads: int, head_dim: int, T: int) -> float:
    """Peak MiB of the teaching path, as ``profiling.attention_scaling`` measures."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, heads, T, head_dim, generator=g) for _ in range(3))
    with torch.no_grad():
        return peak_memory(lambda: scaled_dot_product_attention(q, k, v)[0]) / 2**20


@exercise(
    "mha.heads_memory",
    "modify: teaching-path peak MiB at T = 1024 with 8 heads of 32 (the same C)",
    kind="modify",
    hints=(
        "In section 5's measuring cell, call attention_scaling([1024], heads=8, "
        "head_dim=32, threads=1) and read the teaching row's peak MiB.",
        "C = H·D = 256 as before; the teaching path holds the scores and the weights, "
        "2 × (H, T, T) float32 matrices, plus the output.",
        "With H = 8 that is 2 × 32 MiB for the matrices plus 1 MiB of output: about "
        "65 MiB, twice the 4-head figure.",
    ),
)
def check_heads_memory(answer) -> str:
    value = _number(answer, "the peak MiB")
    truth = _teaching_peak_mib(heads=8, head_dim=32, T=1024)
    if abs(value - truth) <= 0.1 * truth:
        return (
            "right: the scores and the weights are 2 x (8, 1024, 1024) float32 = 64 "
            "MiB, twice the 4-head figure, while the parameters stay 4·C² + 4·C with "
            "C = 256."
        )
    if abs(value - truth / 2) <= 0.1 * truth / 2:
        raise Fail(
            f"{value:g} MiB is the 4-head figure: did the measurement run with "
            "heads=8, head_dim=32? Twice the heads, twice the (H, T, T) matrices."
        )
    if value < truth / 2:
        raise Fail(
            f"{value:g} MiB is less than the 4-head figure. Narrower heads (D = 32) "
            "do not shrink the (H, T, T) matrices: they have no D in them."
        )
    raise Fail(
        f"{value:g} MiB is not what this experiment gives (within 10 %): read the "
        "teaching row at T = 1024 of attention_scaling([1024], heads=8, head_dim=32)."
    )
