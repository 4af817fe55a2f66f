"""Chapter 08: temperature and top-k bugs, dropout left on while generating, the min-p
filter, what top-p keeps, how the KV cache's saving grows, and a temperature
experiment on the course's trained GPT."""

import functools

import torch

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor
from course_lib.generation import generate, top_k_filter, top_p_filter


def _logits(seed: int, B: int = 3, V: int = 10) -> torch.Tensor:
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed)) * 2


def _removed(out: torch.Tensor) -> torch.Tensor:
    """Which logits a filter removed: -inf, or a value so negative it never wins."""
    return torch.isneginf(out) | (out < -1e4)


def _same_kept(out: torch.Tensor, expected: torch.Tensor) -> bool:
    """Same tokens removed and the kept logits unchanged."""
    if not torch.equal(_removed(out), _removed(expected)):
        return False
    keep = ~_removed(expected)
    return torch.allclose(out[keep], expected[keep])


def _count(answer, what: str) -> int:
    """A prediction that must be a whole number."""
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise Fail(f"write your prediction as a whole number ({what}), e.g. 3.")
    return answer


# --------------------------------------------------------------- find the bug: T


def buggy_temperature_probs(logits, T):
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    probs = probs / T  # T < 1 sharpens, T > 1 flattens
    return probs / probs.sum(dim=-1, keepdim=True)  # sum to 1 again


@exercise(
    "generation.temperature",
    "fix temperature_probs: its distribution is the same at every temperature",
    kind="find-the-bug",
    hints=(
        "Print the top probability at T=0.5 and at T=2: they should differ.",
        "Dividing every probability by the same T and renormalising gives back the "
        "probabilities you started from.",
        "The temperature divides the logits, before the softmax: "
        "torch.softmax(logits / T, dim=-1).",
    ),
    buggy=buggy_temperature_probs,
)
def check_temperature(temperature_probs) -> str:
    logits, T = _logits(0), 0.6
    out = _tensor(temperature_probs(logits, T), logits.shape)
    if _close(out, torch.softmax(logits / T, -1)):
        return "equal to softmax(logits / T): T < 1 sharpens, T > 1 flattens."
    if _close(out, torch.softmax(logits, -1)):
        raise Fail(
            "your distribution is the model's own, whatever T is: dividing the "
            "probabilities by T and renormalising cancels T out. Divide the logits."
        )
    if _close(out, torch.softmax(logits * T, -1)):
        raise Fail("you multiply by T: divide the logits by the temperature.")
    if _close(out, torch.softmax(logits, -1) / T):
        raise Fail(
            f"your probabilities sum to {out.sum(-1)[0].item():.2f}, not 1: divide "
            "the logits before the softmax, not the probabilities after."
        )
    if _close(out, torch.softmax(logits / T, 0)):
        raise Fail("softmax over the vocabulary, dim=-1, not over the batch.")
    if _close(out, logits / T):
        raise Fail("return probabilities: apply softmax to logits / T.")
    raise Fail("your output differs from torch.softmax(logits / T, dim=-1).")


# --------------------------------------------------------------- find the bug: k


def buggy_top_k(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest
    return logits.masked_fill(logits < kth, 0.0)  # drop the others


@exercise(
    "generation.top_k",
    "fix top_k: after it, tokens outside the k largest can still be drawn",
    kind="find-the-bug",
    hints=(
        "Apply torch.softmax to the output: how many tokens have a probability "
        "above 0?",
        "A removed token must get probability exactly 0 after the softmax. What is "
        "exp(0)?",
        "Fill the removed logits with float('-inf'): exp(-inf) = 0.",
    ),
    buggy=buggy_top_k,
)
def check_top_k(top_k) -> str:
    logits, k = _logits(1), 3
    out = _tensor(top_k(logits.clone(), k), logits.shape)
    expected = top_k_filter(logits, k)
    if _same_kept(out, expected):
        return "equal to course_lib.generation.top_k_filter (HF: TopKLogitsWarper)."
    kth_smallest = torch.topk(logits, k, dim=-1, largest=False).values[..., -1:]
    if _same_kept(out, logits.masked_fill(logits > kth_smallest, float("-inf"))):
        raise Fail("you keep the k smallest logits: torch.topk returns the largest.")
    dropped = torch.isinf(expected)
    if torch.equal(out == 0, dropped) or torch.equal(out == 0, dropped | (logits == 0)):
        raise Fail(
            "removed tokens are 0, but exp(0) > 0 still gives them probability: "
            "set them to float('-inf')."
        )
    if torch.equal(torch.isposinf(out), dropped):
        raise Fail("+inf makes the removed tokens the most likely: use float('-inf').")
    kept = (~_removed(out)).sum(-1)
    if (kept == k + 1).all() or (kept == k - 1).all():
        raise Fail(
            f"you keep {kept[0].item()} tokens per row, not k={k}: an "
            "off-by-one in the threshold (keep logits >= the k-th largest)."
        )
    raise Fail("your output differs: keep logits >= the k-th largest, others -inf.")


# --------------------------------------------------------- find the bug: dropout


@torch.no_grad()
def buggy_greedy(model, ids, n):
    for _ in range(n):
        logits = model(ids[:, -model.config.block_size :])[0][:, -1]  # (B, V)
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)  # (B, T + 1)
    return ids


def _dropout_model():
    from course_lib.gpt import GPT, GPTConfig

    torch.manual_seed(8)
    config = GPTConfig(vocab_size=16, block_size=16, num_layers=2, num_heads=2,
                       d_model=32, dropout=0.3)  # fmt: skip
    return GPT(config).train()  # as a training loop leaves it


@exercise(
    "generation.eval_mode",
    "fix buggy_greedy: greedy decoding gives a different text on every call",
    kind="find-the-bug",
    hints=(
        "Greedy decoding has no randomness of its own. Which layer of the model "
        "draws random numbers?",
        "The model comes straight from training: what mode is it in, and what does "
        "dropout do in that mode?",
        "Call model.eval() at the start of the function (course_lib's generate does, "
        "and restores the mode afterwards).",
    ),
    buggy=buggy_greedy,
)
def check_eval_mode(greedy) -> str:
    with torch.random.fork_rng():
        model = _dropout_model()
        ids = torch.tensor([[1, 2, 3]])
        runs = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            model.train()
            runs.append(_tensor(greedy(model, ids.clone(), 10), (1, 13)))
        model.eval()
        with torch.no_grad():
            expected = generate(model, ids, 10, temperature=0)
    if torch.equal(runs[0], expected) and torch.equal(runs[1], expected):
        return "the same greedy text on every call: dropout is off in eval mode."
    if torch.equal(runs[0], runs[1]):
        raise Fail(
            "your text differs from greedy decoding with dropout off. If you seed "
            "the random numbers inside, the text repeats, but dropout still zeroes "
            "activations: switch it off with model.eval()."
        )
    raise Fail(
        "two calls with the same prompt gave different tokens: the model is still "
        "in training mode, so dropout zeroes random activations at every step."
    )


# ----------------------------------------------------------- implement: min-p


@exercise(
    "generation.min_p",
    "min_p(logits, m): keep tokens whose probability is at least m x the top one",
    kind="implement",
    hints=(
        "Work with probabilities: torch.softmax(logits, dim=-1).",
        "The threshold is relative: m times each row's largest probability, "
        "probs.max(dim=-1, keepdim=True).values.",
        "logits.masked_fill(probs < m * top, float('-inf')) with top the row's "
        "largest probability.",
    ),
)
def check_min_p(min_p) -> str:
    from transformers import MinPLogitsWarper

    logits, m = _logits(3, B=4, V=12), 0.1
    out = _tensor(min_p(logits.clone(), m), logits.shape)
    if _same_kept(out, MinPLogitsWarper(m)(None, logits.clone())):
        return "equal to transformers' MinPLogitsWarper: a confident row keeps few."
    probs = torch.softmax(logits, -1)
    top = probs.max(-1, keepdim=True).values
    if _same_kept(out, logits.masked_fill(probs < m, float("-inf"))):
        raise Fail(
            f"you keep tokens with probability >= {m}: the threshold is relative, "
            f"{m} x the row's largest probability."
        )
    if _same_kept(out, logits.masked_fill(logits < m * logits.max(-1, True).values,
                                          float("-inf"))):  # fmt: skip
        raise Fail("compare probabilities (after the softmax), not logits.")
    if _same_kept(out, logits.masked_fill(probs > m * top, float("-inf"))):
        raise Fail("you removed the likely tokens: remove those *below* m x top.")
    if (out == 0).any() and not _removed(out).any():
        raise Fail("removed tokens must be float('-inf'), not 0 (exp(0) > 0).")
    raise Fail("your output differs from MinPLogitsWarper: probs < m x top -> -inf.")


# ----------------------------------------------------------- predict: top-p count

TOP_P_PROBS = (0.45, 0.25, 0.15, 0.08, 0.04, 0.03)


@exercise(
    "generation.top_p_count",
    "predict how many tokens top-p = 0.9 keeps of a six-token distribution",
    kind="predict",
    hints=(
        "Add the probabilities from the largest down, and watch when the sum "
        "reaches 0.9.",
        "A token is kept while the mass of the tokens *before* it is still below p; "
        "the token that crosses p is kept.",
        "0.45, 0.70, 0.85 are below 0.9; adding the fourth gives 0.93.",
    ),
)
def check_top_p_count(prediction) -> str:
    n = _count(prediction, "a number of tokens")
    logits = torch.tensor([TOP_P_PROBS]).log()
    kept = int(torch.isfinite(top_p_filter(logits, 0.9)).sum())
    if n == kept:
        return (
            f"right, {kept}: 0.45 + 0.25 + 0.15 = 0.85 < 0.9, so the 0.08 token is "
            "kept too, and the nucleus holds 0.93 of the mass."
        )
    if n == kept - 1:
        raise Fail(
            "that nucleus holds 0.85 < p = 0.9: the token that crosses p is kept "
            "(keep while the mass *before* a token is below p)."
        )
    if n == len(TOP_P_PROBS):
        raise Fail("top-p drops the tail: not every token is kept at p = 0.9.")
    raise Fail(f"add the sorted probabilities {TOP_P_PROBS} until the sum reaches 0.9.")


# ------------------------------------------------------ predict: the cache's gain


def _positions_computed(n: int, use_cache: bool) -> int:
    """Token positions that go through the model to generate n tokens greedily."""
    from course_lib.gpt import GPT, GPTConfig

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=8, block_size=96, num_layers=1,
                              num_heads=1, d_model=8))  # fmt: skip
    seen = []
    model.tok_emb.register_forward_hook(
        lambda m, args, out: seen.append(args[0].numel())
    )
    generate(model, torch.zeros(1, 16, dtype=torch.long), n, 0, use_cache=use_cache)
    return sum(seen)


SHAPES = ("constant", "linear", "quadratic")


@exercise(
    "generation.cache_gain",
    "predict how the KV cache's saving grows with the number of new tokens n",
    kind="predict",
    hints=(
        "Count token positions per step: without the cache step t runs the whole "
        "sequence (prompt + t tokens); with it, one token.",
        "Without the cache the total is about n²/2 positions; with it about n. "
        "What is their ratio?",
        "n²/2 divided by n grows like n/2: 'linear'.",
    ),
)
def check_cache_gain(prediction) -> str:
    if not isinstance(prediction, str) or prediction.strip().lower() not in SHAPES:
        raise Fail(f"write one of {SHAPES} as a string, e.g. 'linear'.")
    ratios = {
        n: _positions_computed(n, False) / _positions_computed(n, True)
        for n in (16, 32, 64)
    }
    shown = ", ".join(f"n={n}: {r:.0f}x" for n, r in ratios.items())
    if prediction.strip().lower() == "linear":
        return (
            f"right: positions computed without / with the cache, {shown}, growing "
            "in proportion to n. Without the cache the work is ~n²/2; with it ~n."
        )
    if prediction.strip().lower() == "constant":
        raise Fail(
            "the saving is not a fixed factor: an uncached step reruns every earlier "
            "token, so the longer the text, the more each step repeats."
        )
    raise Fail(
        "the work *without* the cache grows quadratically (~n²/2 positions), but "
        "the cached loop still does ~n: the ratio grows like n, not n²."
    )


# ------------------------------------------------------ modify: temperature 2.0


@functools.cache
def _reference():
    from course_lib.artefacts import load_reference_gpt

    return load_reference_gpt()[:2]


def distinct_characters(temperature: float) -> int:
    """Distinct characters in 60 characters the course's GPT writes after 'def ',
    sampled with seed 0 at ``temperature`` (the chapter's experiment)."""
    model, tok = _reference()
    start = torch.tensor([tok.encode("def ")])
    out = generate(model, start, 60, temperature=temperature,
                   generator=torch.Generator().manual_seed(0))  # fmt: skip
    return len(set(tok.decode(out[0, start.shape[1] :].tolist())))


@exercise(
    "generation.distinct_chars",
    "rerun the sampling cell at temperature 2.0 and report its distinct characters",
    kind="modify",
    hints=(
        "Change T_try = 0.5 to T_try = 2.0 in the cell above, run it, and copy the "
        "number it prints.",
        "A higher temperature flattens the distribution, so rarer characters get "
        "drawn: expect more distinct characters than at 0.5.",
    ),
)
def check_distinct_chars(count) -> str:
    n = _count(count, "the number the cell printed")
    low, high = distinct_characters(0.5), distinct_characters(2.0)
    if n == high:
        return (
            f"right, {high} distinct characters at T=2.0 against {low} at T=0.5: "
            "the flatter distribution draws from the long tail."
        )
    if n == low:
        raise Fail(
            "that is the count at T=0.5: set T_try = 2.0 and run the cell again."
        )
    raise Fail(
        f"the cell at T_try = 2.0 prints another count: run it unchanged otherwise "
        f"(seed 0, 60 characters, prompt 'def '). Your number: {n}."
    )
