"""Chapter 05: LayerNorm, the feed-forward network, the pre-norm residual, and the
decoder's self-attention mask."""

import torch
import torch.nn.functional as F

from course_lib.exercises import Fail, exercise


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


@exercise(
    "block.layer_norm",
    "layer_norm(x, weight, bias, eps): normalise each token over its C features",
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
        return "equal to F.layer_norm: mean 0, variance 1 over C, then scale and shift."

    def variant(dims=(-1,), unbiased=False, eps_inside=True, affine=True):
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
        if eps_inside:
            y = (x - mean) / torch.sqrt(var + eps)
        else:
            y = (x - mean) / (torch.sqrt(var) + eps)
        return y * weight + bias if affine else y

    if _close(out, variant(unbiased=True)):
        raise Fail(
            "you divide by the unbiased variance (N-1 in the denominator, the default "
            "of torch.var). LayerNorm uses the biased one: x.var(-1, unbiased=False)."
        )
    if _close(out, variant(eps_inside=False)):
        raise Fail("eps goes inside the square root: (x - mean) / sqrt(var + eps).")
    if _close(out, variant(affine=False)):
        raise Fail(
            "the normalisation is right, but you forgot to scale by weight (γ) and "
            "shift by bias (β) afterwards."
        )
    for dims, name in (
        ((0,), "the batch"),
        ((1,), "the time steps"),
        ((1, 2), "T and C"),
    ):
        if _close(out, variant(dims=dims)):
            raise Fail(
                f"you normalised over {name}. LayerNorm normalises each token on its "
                "own, over its C features: mean and var over dim=-1, keepdim=True."
            )
    raise Fail(
        "your output differs from F.layer_norm. Hint: mean and variance over dim=-1 "
        "(keepdim=True), then (x - mean) / sqrt(var + eps) * weight + bias."
    )


@exercise(
    "block.feed_forward",
    "feed_forward(x, w1, b1, w2, b2): ReLU(x W1ᵀ + b1) W2ᵀ + b2, weights as nn.Linear",
)
def check_feed_forward(feed_forward) -> str:
    g = torch.Generator().manual_seed(6)
    C, FF = 4, 16
    x = torch.randn(2, 3, C, generator=g)
    w1, b1 = torch.randn(FF, C, generator=g), torch.randn(FF, generator=g)
    w2, b2 = torch.randn(C, FF, generator=g), torch.randn(C, generator=g)
    try:
        out = feed_forward(x, w1, b1, w2, b2)
    except RuntimeError as error:
        raise Fail(
            f"your code raised RuntimeError: {error}. nn.Linear stores its weight as "
            "(out_features, in_features): use x @ w1.T, not x @ w1."
        ) from None
    out = _tensor(out, x.shape)
    expected = F.relu(x @ w1.T + b1) @ w2.T + b2
    if _close(out, expected):
        return "ReLU(x W1ᵀ + b1) W2ᵀ + b2: widen to d_ff, ReLU, narrow back to C."
    if _close(out, (x @ w1.T + b1) @ w2.T + b2):
        raise Fail(
            "there is no non-linearity: two Linear layers in a row are just one "
            "Linear layer. Apply ReLU to the hidden (B, T, d_ff) activations."
        )
    if _close(out, F.relu(F.relu(x @ w1.T + b1) @ w2.T + b2)):
        raise Fail(
            "you apply ReLU to the output too. Only the hidden layer has it; the "
            "output must be able to be negative (it is added to the residual stream)."
        )
    if _close(out, F.relu(x @ w1.T) @ w2.T) or _close(
        out, F.relu(x @ w1.T + b1) @ w2.T
    ):
        raise Fail("the biases b1 and b2 are missing (or one of them).")
    raise Fail("your output differs from ReLU(x @ w1.T + b1) @ w2.T + b2.")


@exercise(
    "block.pre_norm",
    "pre_norm_residual(x, sublayer, norm): the GPT-style x + sublayer(norm(x))",
)
def check_pre_norm(pre_norm_residual) -> str:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 4, generator=g) * 2 + 1
    linear = torch.nn.Linear(4, 4)
    norm = torch.nn.LayerNorm(4)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(4, 4, generator=g))
        linear.bias.copy_(torch.randn(4, generator=g))
        norm.weight.copy_(torch.rand(4, generator=g) + 0.5)
    with torch.no_grad():
        out = _tensor(pre_norm_residual(x, linear, norm), x.shape)
        if _close(out, x + linear(norm(x))):
            return (
                "x + sublayer(norm(x)): the residual stream itself is never normalised."
            )
        if _close(out, norm(x + linear(x))):
            raise Fail(
                "that is post-norm, the paper's norm(x + sublayer(x)). Pre-norm "
                "normalises the sub-layer's input only: x + sublayer(norm(x))."
            )
        if _close(out, linear(norm(x))):
            raise Fail("the residual is missing: add x back to the sub-layer's output.")
        if _close(out, x + norm(linear(x))):
            raise Fail(
                "you normalise the sub-layer's output; pre-norm normalises its input: "
                "x + sublayer(norm(x))."
            )
        if _close(out, norm(x) + linear(norm(x))):
            raise Fail(
                "you add norm(x) instead of x: the residual carries the raw x forward."
            )
    raise Fail("your output differs from x + sublayer(norm(x)).")


@exercise(
    "block.decoder_mask",
    "decoder_self_mask(lengths, T): (B, 1, T, T) bool, causal and hiding padding",
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
    raise Fail(
        "your mask differs from causal & keep. Hint: torch.tril(ones(T, T)) & "
        "(arange(T) < lengths[:, None])[:, None, None, :]."
    )
