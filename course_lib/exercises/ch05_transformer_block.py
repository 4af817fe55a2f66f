"""Chapter 05: LayerNorm over the right axis, RMSNorm, the pre-norm residual, the
decoder's self-attention mask, a block's parameter count, what LayerNorm's output
looks like, and how post-norm's gradients change with depth."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.exercises import Fail, exercise
from course_lib.layers import EncoderBlock


def _close(a, b, atol=1e-5) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4)
    )


def _tensor(answer, shape) -> torch.Tensor:
    if not isinstance(answer, torch.Tensor):
        raise Fail(
            f"expected a torch.Tensor, got {type(answer).__name__}. "
            "Hint: is there a `return` at the end of your function?"
        )
    if tuple(answer.shape) != tuple(shape):
        raise Fail(
            f"your output has shape {tuple(answer.shape)}, expected {tuple(shape)}."
        )
    return answer


def _number(answer, what: str) -> float:
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise Fail(f"write your prediction as one number ({what}), not {answer!r:.40}.")
    if not math.isfinite(answer):
        raise Fail(f"your prediction {answer} is not a finite number.")
    return float(answer)


# --- find the bug: LayerNorm over the wrong axis
def buggy_layer_norm(x, weight, bias, eps=1e-5):  # x: (B, T, C)
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return weight * (x - mean) / torch.sqrt(var + eps) + bias


@exercise(
    "block.layer_norm",
    "buggy_layer_norm: a token's output depends on its neighbours; fix it",
    kind="find-the-bug",
    hints=(
        "LayerNorm treats each token on its own: change one token and no other "
        "token's output may move. Which axis do the mean and variance run over?",
        "x is (B, T, C). dim=1 is T, the time steps: the statistics mix the tokens "
        "of a sentence.",
        "mean and var over dim=-1 (the C features), keepdim=True; the rest is right.",
    ),
    buggy=buggy_layer_norm,
)
def check_layer_norm(layer_norm) -> str:
    g = torch.Generator().manual_seed(5)
    # a small spread (std ~ 0.003) so that where eps goes makes a visible difference
    x = torch.randn(2, 3, 8, generator=g, dtype=torch.float64) * 3e-3 + 0.5
    weight = torch.rand(8, generator=g, dtype=torch.float64) + 0.5
    bias = torch.randn(8, generator=g, dtype=torch.float64)
    eps = 1e-5
    out = _tensor(layer_norm(x, weight, bias, eps), x.shape)
    expected = F.layer_norm(x, (8,), weight, bias, eps)
    if _close(out, expected):
        return "equal to F.layer_norm: each token normalised over its own C features."

    def variant(dims=(-1,), unbiased=False, eps_inside=True, affine=True):
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
        if eps_inside:
            y = (x - mean) / torch.sqrt(var + eps)
        else:
            y = (x - mean) / (torch.sqrt(var) + eps)
        return y * weight + bias if affine else y

    for dims, name in (
        ((1,), "the time steps (dim=1), as the code you were given does"),
        ((0,), "the batch (dim=0)"),
        ((1, 2), "T and C together"),
    ):
        if _close(out, variant(dims=dims)):
            raise Fail(
                f"you normalise over {name}: a token's output then changes with the "
                "other tokens. LayerNorm normalises each token over its C features."
            )
    if _close(out, variant(unbiased=True)):
        raise Fail(
            "right axis now, but you divide by the unbiased variance (N-1, the default "
            "of torch.var). LayerNorm uses the biased one: unbiased=False."
        )
    if _close(out, variant(eps_inside=False)):
        raise Fail("eps goes inside the square root: (x - mean) / sqrt(var + eps).")
    if _close(out, variant(affine=False)):
        raise Fail("the weight (γ) and bias (β) went missing: keep the last line.")
    raise Fail(
        "your output differs from F.layer_norm. Change only the axis of the mean and "
        "the variance; keep the rest of buggy_layer_norm."
    )


# --- implement: RMSNorm
@exercise(
    "block.rms_norm",
    "rms_norm(x, weight, eps): LLaMA's RMSNorm, equal to F.rms_norm",
    kind="implement",
    hints=(
        "RMSNorm is LayerNorm without the mean: no centring, no bias. Divide each "
        "token by the root of the mean of its squares.",
        "rms = sqrt(mean over the last dim of x², keepdim=True, + eps); eps inside "
        "the root.",
        "return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight",
    ),
)
def check_rms_norm(rms_norm) -> str:
    g = torch.Generator().manual_seed(15)
    x = torch.randn(2, 3, 8, generator=g, dtype=torch.float64) * 2e-3 + 1e-3
    weight = torch.rand(8, generator=g, dtype=torch.float64) + 0.5
    eps = 1e-5
    out = _tensor(rms_norm(x, weight, eps), x.shape)
    expected = F.rms_norm(x, (8,), weight, eps)
    if _close(out, expected):
        return "equal to F.rms_norm: x / √(mean(x²) + ε) · γ. No mean, no β."

    def variant(centre=False, eps_inside=True, dim=-1, affine=True, root=True):
        h = x - x.mean(dim=dim, keepdim=True) if centre else x
        ms = h.pow(2).mean(dim=dim, keepdim=True)
        rms = torch.sqrt(ms + eps) if eps_inside else torch.sqrt(ms) + eps
        y = h / (rms if root else ms + eps)
        return y * weight if affine else y

    if _close(out, variant(centre=True)):
        raise Fail(
            "you subtract the mean first: that is LayerNorm without β. RMSNorm "
            "skips the centring and divides x itself by its root mean square."
        )
    if _close(out, variant(eps_inside=False)):
        raise Fail("eps goes inside the square root: sqrt(mean(x²) + eps).")
    if _close(out, variant(dim=1)):
        raise Fail("the mean of the squares runs over the C features, dim=-1.")
    if _close(out, variant(affine=False)):
        raise Fail("multiply by weight (γ) at the end.")
    if _close(out, variant(root=False)):
        raise Fail("divide by the square ROOT of mean(x²) + eps, not by it.")
    if _close(out, x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * weight):
        raise Fail("that divides by the root of the SUM of squares; take the mean.")
    raise Fail("your output differs from F.rms_norm(x, (C,), weight, eps).")


# --- find the bug: what the residual carries
def buggy_pre_norm_block(x, block):  # x: (B, T, C); block: an EncoderBlock's parts
    attend = lambda h: block.self_attn(h, h, h)[0]
    for norm, sublayer in ((block.norm1, attend), (block.norm2, block.ffn)):
        x = norm(x) + sublayer(norm(x))  # (B, T, C)
    return x


@exercise(
    "block.pre_norm",
    "buggy_pre_norm_block: silenced sub-layers do not give back x; fix it",
    kind="find-the-bug",
    hints=(
        "If both sub-layers output zeros, a pre-norm block must hand its input on "
        "unchanged: that is the clean identity path of pre-norm. What does this one "
        "hand on?",
        "Look at what is added to the sub-layer's output: the residual stream must "
        "carry x itself, never touched by a LayerNorm.",
        "x = x + sublayer(norm(x))",
    ),
    buggy=buggy_pre_norm_block,
)
def check_pre_norm(pre_norm_block) -> str:
    torch.manual_seed(7)
    block = EncoderBlock(8, 2, 16, norm_first=True).double().eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for norm in (block.norm1, block.norm2):
            norm.weight.copy_(torch.rand(8, generator=g, dtype=torch.float64) + 0.5)
            norm.bias.copy_(torch.randn(8, generator=g, dtype=torch.float64) * 0.5)
    x = torch.randn(2, 5, 8, generator=g, dtype=torch.float64) * 2 + 1
    with torch.no_grad():
        out = _tensor(pre_norm_block(x, block), x.shape)
        if _close(out, block(x)[0]):
            return (
                "x + sublayer(norm(x)): equal to EncoderBlock(norm_first=True); the "
                "residual stream itself is never normalised."
            )
        if _close(out, buggy_pre_norm_block(x, block)):
            raise Fail(
                "still the shipped code: with its sub-layers silenced it returns "
                "norm(norm(x)), not x."
            )
        block.norm_first = False
        post = block(x)[0]
        block.norm_first = True
    if _close(out, post):
        raise Fail(
            "that is post-norm, norm(x + sublayer(x)): a different block. Keep "
            "pre-norm and change only what the residual carries."
        )
    raise Fail(
        "your block differs from EncoderBlock(norm_first=True). Change one thing in "
        "the loop's line: what is added to sublayer(norm(x)) (not the norm's "
        "position, and keep both sub-layers)."
    )


# --- implement: the decoder's self-attention mask (kept from before)
@exercise(
    "block.decoder_mask",
    "decoder_self_mask(lengths, T): (B, 1, T, T) bool, causal and hiding padding",
    kind="implement",
    hints=(
        "Two masks, combined with &: the causal one (T, T) and a padding one "
        "that hides the keys j >= lengths[b].",
        "causal: torch.tril(torch.ones(T, T, dtype=torch.bool)); keys that are real: "
        "torch.arange(T)[None, :] < lengths[:, None], shape (B, T).",
        "return causal & keep[:, None, None, :]",
    ),
)
def check_decoder_mask(decoder_self_mask) -> str:
    lengths, T = torch.tensor([4, 2]), 4
    out = decoder_self_mask(lengths, T)
    if not isinstance(out, torch.Tensor):
        raise Fail(f"expected a torch.Tensor, got {type(out).__name__}.")
    if out.dtype != torch.bool:
        raise Fail(
            f"your mask has dtype {out.dtype}; the course's masks are bool, True = may "
            "attend."
        )
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    keep = torch.arange(T)[None, :] < lengths[:, None]  # (B, S)
    expected = causal & keep[:, None, None, :]  # (B, 1, T, T)
    try:
        full = torch.broadcast_to(out, expected.shape)
    except RuntimeError:
        raise Fail(
            f"your mask of shape {tuple(out.shape)} does not broadcast to "
            f"(B, 1, T, T) = {tuple(expected.shape)}."
        ) from None
    if torch.equal(full, expected):
        return "causal & not-padding: each token sees itself, the past, and no padding."
    if torch.equal(full, ~expected):
        raise Fail(
            "your mask is inverted: True must mean 'may attend' (nn.MultiheadAttention "
            "uses the opposite convention). Try ~your_mask."
        )
    if torch.equal(full, torch.broadcast_to(causal, expected.shape)):
        raise Fail("the causal part is right, but padded keys are not hidden.")
    if torch.equal(full, torch.broadcast_to(keep[:, None, None, :], expected.shape)):
        raise Fail(
            "padding is hidden, but the future is not: combine with torch.tril(...)."
        )
    if torch.equal(full, causal.T & keep[:, None, None, :]):
        raise Fail(
            "your causal part is the upper triangle: query i must see keys j <= i "
            "(torch.tril, not torch.triu)."
        )
    if torch.equal(full, causal & keep[:, None, :, None]):
        raise Fail("you hide padded queries (rows), not padded keys (the last axis).")
    raise Fail(
        "your mask differs from causal & keep. Hint: torch.tril(ones(T, T)) & "
        "(arange(T) < lengths[:, None])[:, None, None, :]."
    )


# --- predict: the parameters of one block
@exercise(
    "block.param_count",
    "predict: the number of parameters of EncoderBlock(64, 4, 256)",
    kind="predict",
    hints=(
        "Three parts: self-attention (four C×C projections), the FFN (C -> d_ff -> "
        "C) and two LayerNorms. Every Linear and every LayerNorm has a bias.",
        "Attention: 4·(C² + C). FFN: C·d_ff + d_ff + d_ff·C + C. LayerNorm: 2C each. "
        "The heads split C; they add no parameters.",
        "4·(64² + 64) + (2·64·256 + 256 + 64) + 2·2·64 = 16,640 + 33,088 + 256.",
    ),
)
def check_param_count(prediction) -> str:
    C, H, F_ = 64, 4, 256
    block = EncoderBlock(C, H, F_)
    attention = sum(p.numel() for p in block.self_attn.parameters())
    ffn = sum(p.numel() for p in block.ffn.parameters())
    norms = 4 * C
    total = sum(p.numel() for p in block.parameters())
    assert total == attention + ffn + norms
    guess = _number(prediction, "a parameter count")
    if guess == total:
        return (
            f"{total:,}: attention {attention:,}, FFN {ffn:,}, LayerNorms {norms}. The "
            f"FFN holds about two thirds: with d_ff = 4C it has 8C² weights, attention "
            "4C²."
        )
    no_bias = 4 * C * C + 2 * C * F_
    mistakes = {
        no_bias + norms: "you left out the biases of the Linear layers",
        no_bias: "you left out the biases and the LayerNorms",
        attention + ffn: "you left out the two LayerNorms (a weight and a bias each)",
        attention + ffn + 2 * C: "each LayerNorm has a weight AND a bias: 2C each",
        H * attention + ffn + norms: "the heads split the C columns; they add nothing",
        attention + C * F_ + F_ + norms: "the FFN has two Linear layers",
        3 * (C * C + C) + ffn + norms: "attention has four projections: Q, K, V and "
        "the output",
    }
    if guess in mistakes:
        raise Fail(f"not quite: {mistakes[guess]}.")
    side = "high" if guess > total else "low"
    raise Fail(
        f"your count is too {side} by {abs(guess - total) / total:.0%}. Count "
        "attention, the FFN and the norms separately (hint 2 has the formulas)."
    )


# --- predict: LayerNorm's output statistics
@exercise(
    "block.norm_output",
    "predict: mean and std of each token after a LayerNorm with γ = 2, β = -1",
    kind="predict",
    hints=(
        "Normalising first gives each token mean 0 and std 1 over its features, "
        "whatever the input's scale and offset.",
        "Then y = γ·x̂ + β with the same γ and β for every feature: the std is "
        "multiplied by γ and the mean shifted by β.",
        "prediction = (-1.0, 2.0)",
    ),
)
def check_norm_output(prediction) -> str:
    g = torch.Generator().manual_seed(25)
    x = torch.randn(4, 10, 64, generator=g) * 5 + 3  # (B, T, C): mean 3, std 5
    norm = nn.LayerNorm(64)
    with torch.no_grad():
        norm.weight.fill_(2.0)
        norm.bias.fill_(-1.0)
        y = norm(x)
    mean = y.mean(-1).mean().item()
    std = y.std(-1, unbiased=False).mean().item()
    if not (isinstance(prediction, (tuple, list)) and len(prediction) == 2):
        raise Fail("write your prediction as a pair (mean, std), e.g. (0.5, 3.0).")
    m, s = (_number(v, "a mean and a std") for v in prediction)
    if abs(m - mean) < 0.05 and abs(s - std) < 0.05:
        return (
            f"mean {mean:.2f}, std {std:.2f}: normalising erases the input's 3 and 5; "
            "the output's mean and std are β and γ."
        )
    if abs(m - 3) < 0.05 and abs(s - 5) < 0.05:
        raise Fail("those are the input's statistics: LayerNorm removes them.")
    if abs(m) < 0.05 and abs(s - 1) < 0.05:
        raise Fail("right before γ and β are applied: then y = γ·x̂ + β.")
    if abs(m - std) < 0.05 and abs(s - mean) < 0.05:
        raise Fail("mean and std are swapped: β shifts, γ scales.")
    raise Fail(
        "not what LayerNorm gives. Per token: normalise to mean 0, std 1, then "
        "multiply by γ and add β."
    )


# --- modify: post-norm's gradients in a deeper stack
def block_gradients(norm_first: bool, depth: int, width: int = 64) -> list[float]:
    """The chapter's stack_statistics, gradients only: the norm of the gradient
    reaching each block's first FFN weight, at initialisation (seeded)."""
    torch.manual_seed(0)
    blocks = nn.ModuleList(
        EncoderBlock(width, 4, 4 * width, norm_first=norm_first) for _ in range(depth)
    )
    h, direction = torch.randn(8, 10, width), torch.randn(8, 10, width)
    for block in blocks:
        h, _ = block(h)
    if norm_first:
        h = F.layer_norm(h, (width,))
    (h * direction).mean().backward()
    return [b.ffn.linear1.weight.grad.norm().item() for b in blocks]


DEEP = 48  # the depth the modify exercise asks for (the chapter's stack has 12)


@exercise(
    "block.deep_post_norm",
    "modify: 48 blocks; report post-norm's gradient ratio, last block / first block",
    kind="modify",
    hints=(
        "Call stack_statistics(False, depth=48): it returns (sizes, grads), one "
        "gradient per block, block 1 first.",
        "The ratio is grads[-1] / grads[0]: the block nearest the output over the "
        "one nearest the input.",
        "sizes, grads = stack_statistics(False, depth=48); prediction = grads[-1] / "
        "grads[0]",
    ),
)
def check_deep_post_norm(answer) -> str:
    value = _number(answer, "grads[-1] / grads[0]")
    grads = block_gradients(False, DEEP)
    ratio = grads[-1] / grads[0]
    if abs(value - ratio) <= 0.05 * ratio:
        return (
            f"{ratio:.1f} at {DEEP} blocks, against about 1.1 at 12: the deeper the "
            "post-norm stack, the less gradient reaches its first blocks compared "
            "with its last."
        )
    if abs(value - 1 / ratio) <= 0.05 / ratio:
        raise Fail("you report grads[0] / grads[-1]: the first over the last.")
    shallow = block_gradients(False, 12)
    if abs(value - shallow[-1] / shallow[0]) <= 0.05 * ratio:
        raise Fail(f"that is the ratio at depth 12; pass depth={DEEP}.")
    pre = block_gradients(True, DEEP)
    if abs(value - pre[-1] / pre[0]) <= 0.05 * pre[-1] / pre[0]:
        raise Fail(
            "that is pre-norm's ratio (norm_first=True); the question is about "
            "post-norm."
        )
    raise Fail(
        f"your ratio differs from what stack_statistics(False, depth={DEEP}) gives."
    )
