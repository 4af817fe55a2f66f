"""Chapter 10: GPT-2's Conv1D transpose, splitting its fused c_attn, and mean pooling
over real tokens."""

import torch

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor


@exercise(
    "hf.conv1d_weight",
    "conv1d_weight(w): nn.Linear's (out, in) weight as GPT-2's Conv1D weight",
)
def check_conv1d_weight(conv1d_weight) -> str:
    g = torch.Generator().manual_seed(10)
    w = torch.randn(12, 5, generator=g)  # nn.Linear(5, 12).weight: (out, in)
    out = conv1d_weight(w)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (12, 5):
        raise Fail(
            "the shape is still (out, in) = (12, 5): Conv1D stores (in, out), so "
            "transpose it (w.t() or w.T)."
        )
    out = _tensor(out, (5, 12))
    if _close(out, w.t()):
        return "Conv1D weight = Linear weight transposed: x @ W gives the same output."
    if _close(out, w.reshape(5, 12)):
        raise Fail(
            "reshape keeps the memory order and scrambles the numbers: transpose "
            "instead (w.t())."
        )
    raise Fail("your weight differs from linear_weight.t().")


@exercise(
    "hf.split_c_attn",
    "split_c_attn(w): GPT-2's fused (C, 3C) c_attn weight -> q, k, v Linear weights",
)
def check_split_c_attn(split_c_attn) -> str:
    g = torch.Generator().manual_seed(11)
    C = 6
    q, k, v = (torch.randn(C, C, generator=g) for _ in range(3))  # Linear (out, in)
    fused = torch.cat([q, k, v], dim=0).t()  # (3C, C) -> Conv1D (C, 3C)
    out = split_c_attn(fused)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise Fail("return three tensors: (q_weight, k_weight, v_weight).")
    got = [_tensor(t, (C, C)) for t in out]
    if all(_close(a, b) for a, b in zip(got, (q, k, v), strict=True)):
        return "q, k, v recovered: split the 3C axis in three, then transpose each."
    if all(_close(a, b.t()) for a, b in zip(got, (q, k, v), strict=True)):
        raise Fail(
            "right blocks, but still in Conv1D's (in, out) layout: transpose each "
            "one for nn.Linear."
        )
    if all(_close(a, b) for a, b in zip(got, (v, k, q), strict=True)):
        raise Fail("the order is q, k, v (as GPT-2 concatenates them), not v, k, q.")
    rows = fused.chunk(3, dim=0)
    if all(_close(a, b.t()) for a, b in zip(got, rows, strict=True)) or all(
        _close(a, b) for a, b in zip(got, rows, strict=True)
    ):
        raise Fail(
            "you split the input axis (dim 0, size C): q, k and v sit side by side "
            "along dim 1 (size 3C)."
        )
    raise Fail("your weights differ from the q, k, v blocks of c_attn, transposed.")


@exercise(
    "hf.mean_pool",
    "mean_pool(hidden, mask): average of (B, T, C) hidden states over real tokens",
)
def check_mean_pool(mean_pool) -> str:
    g = torch.Generator().manual_seed(12)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    out = _tensor(mean_pool(hidden, mask), (3, 4))
    m = mask.unsqueeze(-1).float()
    expected = (hidden * m).sum(1) / m.sum(1)
    if _close(out, expected):
        return "equal to sentence-transformers' mean pooling: padding is left out."
    if _close(out, hidden.mean(1)):
        raise Fail(
            "padding is averaged in: multiply by the mask and divide by the number "
            "of real tokens (mask.sum(1)), not by T."
        )
    if _close(out, (hidden * m).sum(1) / hidden.shape[1]):
        raise Fail("divide by the number of real tokens, mask.sum(1), not by T.")
    if _close(out, hidden[:, 0]):
        raise Fail("that is the first token ([CLS] pooling); average over tokens.")
    raise Fail("your output differs from sum(hidden * mask) / mask.sum() over T.")
