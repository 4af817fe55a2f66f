"""Text generation (chapter 08): turning next-token logits into tokens.

Each strategy is a small pure function on logits ``(..., V)``:

- :func:`greedy`: the most likely token.
- :func:`apply_temperature`: ``logits / T``; ``softmax(logits / T)`` is sharper for
  ``T < 1`` and flatter for ``T > 1``.
- :func:`top_k_filter`: keep the ``k`` largest logits, set the rest to ``-inf``.
- :func:`top_p_filter` (nucleus sampling, Holtzman et al. 2019): keep the smallest set
  of most likely tokens whose probabilities sum to at least ``p``.

:func:`generate` runs a GPT autoregressively with them, with or without a KV cache
(``GPT.new_caches``); both paths give the same tokens. Filters follow the conventions
of Hugging Face's ``TopKLogitsWarper`` / ``TopPLogitsWarper`` (tests compare them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.checks import check_id_tensor, check_token_ids, is_int

# ----------------------------------------------------------------------- validation


def _check_temperature(temperature: float) -> None:
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(
            f"temperature must be a number >= 0 (0 means greedy), got {temperature!r}."
        )


def _check_top_k(top_k: int | None) -> None:
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an int >= 1 or None, got {top_k!r}.")


def _check_top_p(top_p: float | None) -> None:
    if top_p is not None and (
        not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0
    ):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}.")


def _check_logits(logits, where: str) -> None:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        seen = logits.dtype if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(
            f"{where}: logits must be a float tensor (..., V), got {seen}."
        )
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(
            f"{where}: logits must be (..., V) with V >= 1, got shape "
            f"{tuple(logits.shape)}."
        )


def _check_drawable(logits: Tensor, where: str) -> None:
    """Every row must leave a token to draw: no NaN or +inf, not all -inf.
    (Reads the values: one host sync, at the entry of a sampling step.)"""
    bad = logits.isnan().any(-1) | logits.isposinf().any(-1) | logits.isneginf().all(-1)
    if bad.any():
        row = tuple(torch.nonzero(bad)[0].tolist())
        raise ValueError(
            f"{where}: logits row {row} is {logits[row].tolist()[:8]}...: a row with "
            "NaN or +inf, or with every logit -inf, leaves no token to draw; check "
            "the model's output or the mask applied to it."
        )


def _check_knobs_of_the_loop(model, idx, max_new_tokens, where: str) -> None:
    """What generate and beam_search both need: a GPT, a length, a (B, T) prompt of
    ids in the vocabulary (read once: the loops then feed their own ids only)."""
    needs = ("vocab_size", "block_size")
    config = getattr(model, "config", None)
    if not all(hasattr(config, n) for n in needs) or not hasattr(model, "new_caches"):
        raise ValueError(
            f"{where}: model must be a course_lib GPT (config.vocab_size, "
            f"config.block_size, new_caches()), got {type(model).__name__}; for a "
            "Hugging Face model use its own .generate()."
        )
    if not is_int(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}.")
    check_id_tensor(idx, "idx", dims=2)
    if idx.shape[1] == 0:
        raise ValueError("idx must be a non-empty (B, T) tensor of ids, got T = 0.")
    check_token_ids(idx, config.vocab_size, "idx")


# ----------------------------------------------------------------------- strategies


def greedy(logits: Tensor) -> Tensor:
    """The most likely token: ``(..., V) -> (..., 1)`` ids."""
    _check_logits(logits, "greedy")
    return logits.argmax(dim=-1, keepdim=True)


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """``logits / temperature`` for ``temperature > 0`` (shape kept, ``(..., V)``).

    ``temperature = 0`` is the greedy limit and has no logits form: use :func:`greedy`.
    Raises ``ValueError`` for ``temperature <= 0``.
    """
    _check_logits(logits, "apply_temperature")
    _check_temperature(temperature)
    if temperature == 0:
        raise ValueError("temperature=0 is greedy decoding: use greedy(logits).")
    return logits / temperature


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row ``(..., V)``, set the others to -inf.

    Ties with the k-th largest value are kept (as Hugging Face does); ``k >= V``
    keeps everything. Raises ``ValueError`` for ``k < 1``.
    """
    _check_logits(logits, "top_k_filter")
    _check_top_k(k)
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter: keep the fewest most likely tokens whose probabilities sum to
    at least ``p`` (always at least one), set the others to -inf. ``(..., V)`` kept.

    ``p = 1`` keeps every token, even one whose probability rounds to 0 in float32.
    Raises ``ValueError`` for ``p`` outside ``(0, 1]``.

    A token is needed while the tokens more likely than it hold less than ``p``, that
    is while it and the tokens less likely than it hold more than ``1 - p``. The two
    tests pick the same tokens; this one sums from the least likely token up, as Hugging
    Face's ``TopPLogitsWarper`` does, because in float32 a sum from the top saturates at
    1.0: with ``p = 0.9999999`` it would drop tokens the nucleus needs.
    """
    _check_logits(logits, "top_p_filter")
    _check_top_p(p)
    if p == 1:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1)  # (..., V), least likely first
    # mass of each token and every less likely one
    mass_from_bottom = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    drop_sorted = mass_from_bottom <= 1 - p
    drop_sorted[..., -1] = False  # the most likely token always stays
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def next_token_probs(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """The distribution sampling draws from, ``(..., V) -> (..., V)``: temperature,
    then top-k, then top-p, then softmax. ``temperature = 0`` gives a one-hot on the
    argmax. Raises ``ValueError`` for a bad knob, or a row of logits that leaves
    nothing to draw (NaN, +inf, or all -inf)."""
    _check_logits(logits, "next_token_probs")
    _check_temperature(temperature)
    _check_top_k(top_k)
    _check_top_p(top_p)
    _check_drawable(logits, "next_token_probs")
    if temperature == 0:
        return torch.zeros_like(logits).scatter_(-1, greedy(logits), 1.0)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.softmax(logits, dim=-1)


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One token per row from ``(B, V)`` logits: ``(B, V) -> (B, 1)`` ids.
    ``temperature = 0`` is greedy (no randomness used)."""
    _check_logits(logits, "sample_next")
    if logits.dim() > 2:
        raise ValueError(
            f"sample_next: logits must be (B, V) or (V,), got {tuple(logits.shape)}."
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            "sample_next: generator must be a torch.Generator or None, got "
            f"{type(generator).__name__}."
        )
    if temperature == 0:
        _check_top_k(top_k)
        _check_top_p(top_p)
        return greedy(logits)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator)  # (B, 1)


# ----------------------------------------------------------------------- the loop


def generate(
    model,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend ``idx`` ``(B, T)`` by ``max_new_tokens`` tokens: ``-> (B, T + N)``.

    ``model`` is a :class:`course_lib.gpt.GPT` (anything with ``config.block_size``,
    ``config.vocab_size``, ``forward(idx, caches=...) -> (logits, _)`` and
    ``new_caches()``). The model only ever sees the last ``block_size`` tokens: a
    longer prompt is cropped to its last ``block_size`` tokens for the forward pass
    (the returned tensor still starts with the whole prompt).

    With ``use_cache=True`` each step feeds only the newest token and reuses the keys
    and values cached for the earlier ones. Once the sequence outgrows ``block_size``
    the window slides and every token's position changes, so cached keys are stale:
    the cache is then re-primed on the cropped window at each step, exactly what the
    no-cache path computes (same tokens; no speed-up beyond ``block_size``).

    Sampling is reproducible with ``generator`` (a seeded ``torch.Generator``);
    ``temperature=0`` is greedy. The model is put in eval mode for the call and
    restored afterwards. Raises ``ValueError`` for a knob out of range, a non-(B, T)
    or empty prompt, a token id outside ``[0, vocab_size)``, or a model that is not a
    GPT.
    """
    _check_knobs_of_the_loop(model, idx, max_new_tokens, "generate")
    _check_temperature(temperature)
    _check_top_k(top_k)
    _check_top_p(top_p)
    block_size = model.config.block_size
    was_training = model.training
    model.eval()
    # inference_mode: no_grad, and no autograd bookkeeping on any tensor either
    try:
        with torch.inference_mode():
            caches = None
            seq = idx.long()
            for _ in range(max_new_tokens):
                if not use_cache:
                    logits, _ = model(seq[:, -block_size:])
                elif caches is None or len(caches[0]) + 1 > block_size:
                    caches = model.new_caches()  # (re-)prime on the cropped window
                    logits, _ = model(seq[:, -block_size:], caches=caches)
                else:  # only the newest token
                    logits, _ = model(seq[:, -1:], caches=caches)
                nxt = sample_next(logits[:, -1], temperature, top_k, top_p, generator)
                seq = torch.cat([seq, nxt], dim=1)  # (B, T) -> (B, T+1)
    finally:
        model.train(was_training)
    return seq.clone()  # an ordinary tensor: inference-mode ones cannot enter autograd


# ----------------------------------------------------------------------- beam search


@torch.no_grad()
def beam_search(
    model,
    idx: Tensor,
    max_new_tokens: int,
    num_beams: int,
    length_penalty: float = 1.0,
    eos_id: int | None = None,
) -> Tensor:
    """The best continuation of each prompt of ``idx`` ``(B, T)`` found by keeping the
    ``num_beams`` (k) most likely ones at each step: ``-> (B, T + N)``, or shorter
    when every row's best ended at ``eos_id`` (a shorter row is padded with it).

    Token for token what Hugging Face's ``generate(num_beams=k, do_sample=False)``
    returns with its default ``early_stopping=False``: each step takes the 2k best
    (beam, token) continuations by sum of log-probs (float32). Of the best k, those
    that end (at ``eos_id``, which they keep, or at the last step) join the finished
    hypotheses, scored ``sum / new_tokens ** length_penalty``; the k best finished
    stay. The k best that did not end run on. A row stops once it has k finished and
    its best running beam, scored at its current length, does not beat the worst.
    The KV cache follows the beams. Raises ``ValueError`` for ``num_beams < 1``,
    ``max_new_tokens < 0``, an ``eos_id`` outside the vocabulary, or a bad ``idx``.
    """
    _check_knobs_of_the_loop(model, idx, max_new_tokens, "beam_search")
    if not is_int(num_beams) or num_beams < 1:
        raise ValueError(
            f"beam_search: num_beams must be an int >= 1, got {num_beams!r}."
        )
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)):
        raise ValueError(
            f"beam_search: length_penalty must be a number, got {length_penalty!r}."
        )
    V, block_size = model.config.vocab_size, model.config.block_size
    if eos_id is not None and (not is_int(eos_id) or not 0 <= eos_id < V):
        raise ValueError(
            f"beam_search: eos_id must be a token id in [0, {V}) or None, got "
            f"{eos_id!r}."
        )
    if max_new_tokens == 0:
        return idx.clone()
    B, K, N = idx.shape[0], num_beams, max_new_tokens
    eos = -1 if eos_id is None else eos_id  # -1: no token ends a beam early
    seq = idx.long().repeat_interleave(K, 0)  # (B, T) -> (B*K, T): k copies a row
    running = torch.full((B, K), -1e9, device=idx.device)  # sums of log-probs
    running[:, 0] = 0.0  # at first only beam 0 is real: the others are copies
    done, open_ = [[] for _ in range(B)], [True] * B  # done: (score, ids), best first
    was_training, caches = model.training, None
    model.eval()
    try:
        for step in range(1, N + 1):
            if caches is None or len(caches[0]) + 1 > block_size:
                caches = model.new_caches()  # (re-)prime on the cropped window
                logits, _ = model(seq[:, -block_size:], caches=caches)
            else:
                logits, _ = model(seq[:, -1:], caches=caches)
            logp = torch.log_softmax(logits[:, -1].float(), -1).view(B, K, V)
            logp = (logp + running[..., None]).view(B, K * V)
            top, flat = logp.topk(2 * K)  # (B, 2K) best continuations of any beam
            beam, tok, L = flat // V, flat % V, seq.shape[1]
            cand = seq.view(B, K, L).gather(1, beam[..., None].expand(B, 2 * K, L))
            cand = torch.cat([cand, tok[..., None]], -1)  # (B, 2K, L + 1)
            ends = (tok == eos) | (step == N)
            scores = (top / step**length_penalty).tolist()
            for b in (b for b in range(B) if open_[b]):  # finished: from the best k
                new = [(scores[b][j], cand[b, j]) for j in range(K) if ends[b, j]]
                done[b] = sorted(done[b] + new, key=lambda h: -h[0])[:K]
            running, pick = (top + ends * -1e9).topk(K)  # the k best that did not end
            seq = cand.gather(1, pick[..., None].expand(B, K, L + 1)).view(B * K, -1)
            rows = (
                beam.gather(1, pick) + K * torch.arange(B, device=idx.device)[:, None]
            ).view(-1)
            for cache in caches:  # each new beam continues its parent's cache
                cache.k, cache.v = cache.k[rows], cache.v[rows]
            best = (running[:, 0] / step**length_penalty).tolist()
            for b, d in enumerate(done):  # can the best running beam still win?
                open_[b] &= len(d) < K or best[b] > d[-1][0]
            if not any(open_):
                break
    finally:
        model.train(was_training)
    best_ids = [d[0][1] for d in done]  # (T + n_b,) each
    return torch.nn.utils.rnn.pad_sequence(
        best_ids, batch_first=True, padding_value=eos
    )
