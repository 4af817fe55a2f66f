"""Chapter 08: temperature, top-k and top-p (nucleus) filters on next-token logits."""

import torch

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor
from course_lib.generation import top_k_filter, top_p_filter


def _logits(seed: int, B: int = 3, V: int = 10) -> torch.Tensor:
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed)) * 2


def _same_kept(out: torch.Tensor, expected: torch.Tensor) -> bool:
    """Same tokens removed (-inf) and the kept logits unchanged."""
    if not torch.equal(torch.isinf(out), torch.isinf(expected)):
        return False
    keep = ~torch.isinf(expected)
    return torch.allclose(out[keep], expected[keep])


@exercise(
    "generation.temperature",
    "temperature_probs(logits, T): the distribution softmax(logits / T) over dim=-1",
)
def check_temperature(temperature_probs) -> str:
    logits, T = _logits(0), 0.6
    out = _tensor(temperature_probs(logits, T), logits.shape)
    if _close(out, torch.softmax(logits / T, -1)):
        return "equal to softmax(logits / T): T < 1 sharpens, T > 1 flattens."
    if _close(out, torch.softmax(logits * T, -1)):
        raise Fail("you multiply by T: divide the logits by the temperature.")
    if _close(out, torch.softmax(logits, -1)):
        raise Fail("the temperature is ignored: softmax(logits / T).")
    if _close(out, torch.softmax(logits, -1) / T):
        raise Fail("divide the logits before the softmax, not the probabilities after.")
    if _close(out, torch.softmax(logits / T, 0)):
        raise Fail("softmax over the vocabulary, dim=-1, not over the batch.")
    if _close(out, logits / T):
        raise Fail("return probabilities: apply softmax to logits / T.")
    raise Fail("your output differs from torch.softmax(logits / T, dim=-1).")


@exercise(
    "generation.top_k",
    "top_k(logits, k): keep the k largest logits of each row, the others -inf",
)
def check_top_k(top_k) -> str:
    logits, k = _logits(1), 3
    out = _tensor(top_k(logits.clone(), k), logits.shape)
    if _same_kept(out, top_k_filter(logits, k)):
        return "equal to course_lib.generation.top_k_filter (HF: TopKLogitsWarper)."
    if _same_kept(out, -top_k_filter(-logits, k)):
        raise Fail("you keep the k smallest logits: torch.topk returns the largest.")
    removed = out == 0
    if removed.any() and torch.equal(removed, torch.isinf(top_k_filter(logits, k))):
        raise Fail(
            "removed tokens are 0, but exp(0) > 0 still gives them probability: "
            "set them to float('-inf')."
        )
    kept = (~torch.isinf(out)).sum(-1)
    if (kept == k + 1).all() or (kept == k - 1).all():
        raise Fail(
            f"you keep {kept[0].item()} tokens per row, not k={k}: an "
            "off-by-one in the threshold (compare with the k-th largest)."
        )
    raise Fail("your output differs: keep logits >= the k-th largest, others -inf.")


@exercise(
    "generation.top_p",
    "top_p(logits, p): keep the fewest most likely tokens whose mass reaches p",
)
def check_top_p(top_p) -> str:
    logits, p = _logits(2, B=4, V=12), 0.7
    out = _tensor(top_p(logits.clone(), p), logits.shape)
    if _same_kept(out, top_p_filter(logits, p)):
        return "equal to course_lib.generation.top_p_filter (HF: TopPLogitsWarper)."
    probs = torch.softmax(logits, -1)
    sorted_p, order = probs.sort(-1, descending=True)
    inclusive = torch.cumsum(sorted_p, -1) > p  # drops the token that crosses p
    inclusive[..., 0] = False
    too_few = logits.masked_fill(inclusive.scatter(-1, order, inclusive), float("-inf"))
    if _same_kept(out, too_few):
        raise Fail(
            "you drop the token that crosses p, so the kept mass is below p: keep a "
            "token while the mass of the tokens *before* it is still < p."
        )
    if out.isinf().all(-1).any():
        raise Fail("a row lost every token: always keep the most likely one.")
    raise Fail(
        "your output differs: sort descending, cumulative softmax, keep the "
        "nucleus, set the others to -inf, in the original order."
    )
