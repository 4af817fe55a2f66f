"""Chapter 04: splitting into heads, merging back, multi-head attention's forward pass
and its parameter count."""

from __future__ import annotations

import torch

from course_lib.attention import scaled_dot_product_attention
from course_lib.exercises import Fail, exercise
from course_lib.multi_head import MultiHeadAttention


def _same(a, b) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-5)
    )


@exercise("mha.split_heads", "write fn(x, num_heads): (B, T, C) -> (B, H, T, D)")
def check_split_heads(fn) -> str:
    B, T, H, D = 2, 5, 3, 4
    x = torch.arange(B * T * H * D, dtype=torch.float32).view(B, T, H * D)
    got = fn(x, H)
    want = x.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
    if not isinstance(got, torch.Tensor):
        raise Fail(f"expected a tensor, got {type(got).__name__}.")
    if tuple(got.shape) == (B, T, H, D):
        raise Fail(
            f"your result is (B, T, H, D) = {tuple(got.shape)}: you split the width "
            "but forgot to move the head dim in front of T. Hint: .transpose(1, 2)."
        )
    if tuple(got.shape) != (B, H, T, D):
        raise Fail(
            f"for x (B={B}, T={T}, C={H * D}) and H={H} your result has shape "
            f"{tuple(got.shape)}, expected (B, H, T, D) = {(B, H, T, D)}."
        )
    if _same(got, x.reshape(B, H, T, D)):
        raise Fail(
            "the shape is right but the numbers are scrambled: reshaping (B, T, C) "
            "straight to (B, H, T, D) mixes different tokens into one head. Hint: "
            "x.view(B, T, H, D).transpose(1, 2): split C first, then swap."
        )
    if not _same(got, want):
        raise Fail(
            "the shape is right but head h must hold columns h·D..(h+1)·D of every "
            "token. Hint: x.view(B, T, H, D).transpose(1, 2)."
        )
    return "(B, T, C) -> (B, T, H, D) -> (B, H, T, D): each head sees every token."


@exercise("mha.merge_heads", "write fn(x): (B, H, T, D) -> (B, T, C = H·D)")
def check_merge_heads(fn) -> str:
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
    if _same(got, x.reshape(B, T, H * D)):
        raise Fail(
            "the shape is right but tokens are mixed: reshaping (B, H, T, D) straight "
            "to (B, T, C) glues different tokens of one head together. Hint: "
            "x.transpose(1, 2).reshape(B, T, H * D) (reshape, since transpose makes "
            "the tensor non-contiguous and view would refuse)."
        )
    if not _same(got, want):
        raise Fail("token t must hold head 0's D numbers, then head 1's, and so on.")
    return "(B, H, T, D) -> (B, T, H, D) -> (B, T, C): the exact inverse of the split."


@exercise(
    "mha.forward",
    "write fn(mha, query, key, value, mask=None) -> out, using mha's four projections",
)
def check_forward(fn) -> str:
    C, H = 12, 3
    with torch.random.fork_rng():  # leave the learner's random numbers alone
        torch.manual_seed(5)
        mha = MultiHeadAttention(C, H).eval()
    g = torch.Generator().manual_seed(5)
    query, key = torch.randn(2, 4, C, generator=g), torch.randn(2, 6, C, generator=g)
    mask = torch.rand(1, 1, 4, 6, generator=g) > 0.4
    mask[..., 0] = True
    want, _ = mha(query, key, key, mask)

    def variant(heads, scale_width, project_out=True):
        """Multi-head attention with one classic mistake switched on."""
        B, T, _ = query.shape
        S = key.shape[1]
        q = mha.q_proj(query).view(B, T, heads, C // heads).transpose(1, 2)
        k = mha.k_proj(key).view(B, S, heads, C // heads).transpose(1, 2)
        v = mha.v_proj(key).view(B, S, heads, C // heads).transpose(1, 2)
        q = q * ((C // heads) / scale_width) ** 0.5  # rescale to 1/√scale_width
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(B, T, C)
        return mha.out_proj(out) if project_out else out

    def run(*args):  # accept `out` or MultiHeadAttention's `(out, weights)`
        result = fn(mha, *args)
        return result[0] if isinstance(result, tuple) else result

    with torch.no_grad():
        got = run(query, key, key, mask)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = (
                tuple(got.shape)
                if isinstance(got, torch.Tensor)
                else type(got).__name__
            )
            raise Fail(f"expected out of shape {tuple(want.shape)}, got {shape}.")
        if _same(got, variant(H, C // H, project_out=False)):
            raise Fail(
                "everything is right up to the last step: you forgot mha.out_proj "
                "after merging the heads."
            )
        if _same(got, variant(H, C)):
            raise Fail(
                "you scaled the scores by 1/√C (the model width); each head's scores "
                "are scaled by 1/√D with D = C / H, the width of one head."
            )
        if _same(got, variant(1, C)):
            raise Fail(
                "this is single-head attention over the full width: split q, k and v "
                "into H heads (B, H, T, D) before attending, merge after."
            )
        if _same(got, run(query, key, key)) or _same(got, mha(query, key, key)[0]):
            raise Fail("the mask makes no difference to your output: pass it on.")
        if not _same(got, want):
            raise Fail(
                "your output differs from MultiHeadAttention's. Order: project, split, "
                "attend with the mask, merge, out_proj."
            )
    return "project, split, attend, merge, project: equal to MultiHeadAttention."


@exercise(
    "mha.num_parameters",
    "write fn(embed_dim, num_heads, bias=True) -> MultiHeadAttention's parameters",
)
def check_num_parameters(fn) -> str:
    cases = [(512, 8, True), (64, 4, False), (96, 1, True), (96, 12, True)]
    for C, H, bias in cases:
        got = fn(C, H, bias)
        if isinstance(got, bool) or not isinstance(got, int):
            raise Fail(
                f"expected an int, got {type(got).__name__}. Hint: each "
                "nn.Linear(C, C) "
                "has a C×C weight and, with bias, C more."
            )
        want = 4 * C * C + (4 * C if bias else 0)
        if got == want:
            continue
        if got == 3 * C * C + (3 * C if bias else 0):
            raise Fail(
                f"for C={C} you counted q, k and v ({got}) but not out_proj: four "
                "C×C matrices in all."
            )
        if bias and got == 4 * C * C:
            raise Fail(f"for C={C} you left out the biases: 4 vectors of C more.")
        if got in (H * want, 4 * C * C * H + (4 * C * H if bias else 0)):
            raise Fail(
                f"for H={H} your count grows with the number of heads. It must not: "
                "the H heads share out the C×C projections, each taking C/H columns."
            )
        raise Fail(
            f"for embed_dim={C}, num_heads={H}, bias={bias} you count {got}, which is "
            "not it. Count each of the four nn.Linear(C, C) layers: weight and bias."
        )
    return "4·C² + 4·C, whatever the number of heads: heads split C, they do not add."
