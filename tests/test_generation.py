"""course_lib.generation: strategies against hand computations and Hugging Face's
logits processors; generate with and without the KV cache; beam search against
Hugging Face's generate(num_beams=k); bad input."""

import itertools
import math

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from course_lib.generation import (
    apply_temperature,
    beam_search,
    generate,
    greedy,
    next_token_probs,
    sample_next,
    top_k_filter,
    top_p_filter,
)
from course_lib.gpt import GPT, GPTConfig
from course_lib.hf import to_hf_gpt2

# dropout > 0: generate must switch it off (eval mode) whatever mode the model is in
TINY = GPTConfig(
    vocab_size=13, block_size=12, num_layers=2, num_heads=2, d_model=16, dropout=0.1
)


def _logits(B=4, V=13, seed=0):
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed)) * 2


def _model():
    torch.manual_seed(0)
    return GPT(TINY).eval()


# ------------------------------------------------------------------ strategies


def test_greedy_is_argmax():
    logits = _logits()
    assert greedy(logits).shape == (4, 1)
    for row, tok in zip(logits.tolist(), greedy(logits)[:, 0].tolist(), strict=True):
        assert row[tok] == max(row)


def test_temperature_against_softmax_by_hand_and_hf():
    logits = _logits()
    for T in (0.3, 1.0, 2.5):
        probs = torch.softmax(apply_temperature(logits, T), -1)
        by_hand = [
            [math.exp(x / T) / sum(math.exp(y / T) for y in row) for x in row]
            for row in logits.tolist()
        ]
        torch.testing.assert_close(probs, torch.tensor(by_hand))
        hf = TemperatureLogitsWarper(T)(None, logits.clone())
        torch.testing.assert_close(apply_temperature(logits, T), hf)
    # lower temperature is sharper: the top probability grows
    assert (
        next_token_probs(logits, 0.5).max(-1).values
        > next_token_probs(logits, 2.0).max(-1).values
    ).all()


@pytest.mark.parametrize("k", [1, 3, 7, 13, 20])
def test_top_k_keeps_exactly_the_k_largest(k):
    logits = _logits()
    out = top_k_filter(logits, k)
    for row, kept in zip(logits.tolist(), out.tolist(), strict=True):
        ranked = sorted(range(len(row)), key=lambda i: -row[i])
        expected = set(ranked[:k])
        got = {i for i, x in enumerate(kept) if x != float("-inf")}
        assert got == expected
        assert all(kept[i] == row[i] for i in got)  # kept logits unchanged
    hf = TopKLogitsWarper(top_k=k)(None, logits.clone())
    torch.testing.assert_close(out, hf)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.999, 1.0])
def test_top_p_keeps_the_smallest_nucleus(p):
    logits = _logits(B=6, seed=3)
    out = top_p_filter(logits, p)
    for row, kept in zip(torch.softmax(logits, -1).tolist(), out.tolist(), strict=True):
        order = sorted(range(len(row)), key=lambda i: -row[i])
        expected, mass = set(), 0.0
        for i in order:  # add the most likely tokens until their mass reaches p
            expected.add(i)
            mass += row[i]
            if mass >= p:
                break
        got = {i for i, x in enumerate(kept) if x != float("-inf")}
        assert got == expected, (p, got, expected)
    hf = TopPLogitsWarper(top_p=p)(None, logits.clone())
    torch.testing.assert_close(out, hf)


def _kept(filtered: torch.Tensor) -> list[set[int]]:
    """The tokens a filter kept, row by row, of a (B, V) or (V,) output."""
    rows = filtered.reshape(-1, filtered.shape[-1]).tolist()
    return [{i for i, x in enumerate(row) if x != float("-inf")} for row in rows]


def _hf_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """TopPLogitsWarper (min_tokens_to_keep=1, like ours) on (B, V) or (V,) logits."""
    return TopPLogitsWarper(top_p=p)(None, logits.reshape(-1, logits.shape[-1]).clone())


# 25 nats ahead: the first token's probability is 1 - 1.25e-10, which is 1.0 in float32
PEAKED = torch.tensor([25.0] + [0.0] * 9)


@pytest.mark.parametrize("batched", [False, True])
def test_top_p_one_keeps_every_token(batched):
    logits = torch.stack([PEAKED, PEAKED.roll(3)]) if batched else PEAKED
    out = top_p_filter(logits, 1.0)
    assert out.shape == logits.shape
    assert torch.equal(out, logits)  # nothing removed, nothing changed
    assert _kept(out) == _kept(_hf_top_p(logits, 1.0))  # transformers keeps all 10
    # exp(-200) is 0 in float32; p = 1 still keeps the token (transformers drops it)
    far = torch.tensor([200.0, 0.0, 0.0])
    assert _kept(top_p_filter(far, 1.0)) == [{0, 1, 2}]


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize(
    "p, n_kept",
    [
        # the top token alone holds 1 - 1.25e-10 >= p
        (1 - 1e-9, 1),
        # the top 9 hold 1 - 1.39e-11 < p, so the nucleus needs all 10 (p is 1.0 in
        # float32: summed from the top the mass saturates and keeps only 1)
        (1 - 1e-11, 10),
        (0.9999999, 1),
        (0.5, 1),
    ],
)
def test_top_p_just_below_one_on_peaked_logits(p, n_kept, batched):
    logits = torch.stack([PEAKED, PEAKED.roll(4)]) if batched else PEAKED
    out = top_p_filter(logits, p)
    assert out.shape == logits.shape
    kept = _kept(out)
    assert [len(k) for k in kept] == [n_kept] * len(kept)
    assert all(k >= {r} for k, r in zip(kept, [0, 4], strict=False))  # the top token
    assert kept == _kept(_hf_top_p(logits, p))


@pytest.mark.parametrize("p", [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.999999])
def test_top_p_keeps_what_transformers_keeps_on_flat_and_peaked_logits(p):
    g = torch.Generator().manual_seed(7)
    peaked = torch.randn(6, 50, generator=g) * 8  # a few tokens hold most of the mass
    out = top_p_filter(peaked, p)
    assert _kept(out) == _kept(_hf_top_p(peaked, p))
    assert torch.equal(out[~out.isinf()], peaked[~out.isinf()])  # kept logits unchanged
    # flat: every token ties, so which tokens stay is the sort's choice; the number
    # is what both define (p = k / V sits on a tie, where float32 round-off decides)
    flat = torch.zeros(3, 10)
    ours, hf = _kept(top_p_filter(flat, p)), _kept(_hf_top_p(flat, p))
    assert [len(k) for k in ours] == [len(k) for k in hf]
    assert [len(k) for k in _kept(top_p_filter(flat[0], p))] == [len(hf[0])]


def test_next_token_probs_combines_knobs_in_order():
    logits = _logits()
    probs = next_token_probs(logits, temperature=0.7, top_k=5, top_p=0.8)
    hf = TopPLogitsWarper(0.8)(None, TopKLogitsWarper(5)(None, logits / 0.7))
    torch.testing.assert_close(probs, torch.softmax(hf, -1))
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    one_hot = next_token_probs(logits, temperature=0)
    assert torch.equal(one_hot.argmax(-1, keepdim=True), greedy(logits))
    assert torch.equal(one_hot.sum(-1), torch.ones(4))


def test_sample_next_is_reproducible_and_follows_the_distribution():
    logits = _logits(B=1)
    a = [sample_next(logits, generator=torch.Generator().manual_seed(5)) for _ in "ab"]
    assert torch.equal(a[0], a[1])
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([sample_next(logits.expand(4000, -1), generator=g)])[:, 0]
    freq = torch.bincount(draws, minlength=13).float() / 4000
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=0.03, rtol=0)
    # top-k=2 never draws outside the two best
    g = torch.Generator().manual_seed(0)
    draws = sample_next(logits.expand(500, -1), top_k=2, generator=g)[:, 0]
    assert set(draws.tolist()) <= set(torch.topk(logits[0], 2).indices.tolist())


# ------------------------------------------------------------------ generate


def test_generate_greedy_cache_equals_no_cache_and_argmax_by_hand():
    model = _model()
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    fast = generate(model, prompt, 8, temperature=0, use_cache=True)
    slow = generate(model, prompt, 8, temperature=0, use_cache=False)
    assert fast.shape == (2, 11)
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :3], prompt)
    seq = prompt  # one more time, by hand: argmax of the last logit, full recompute
    for _ in range(8):
        seq = torch.cat([seq, model(seq)[0][:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(fast, seq)


def test_generated_ids_can_be_trained_on_like_any_tensor():
    """generate runs under inference_mode; what it returns must still enter autograd
    (a learner fine-tunes on sampled text: an inference tensor would refuse)."""
    model = _model()
    out = generate(model, torch.tensor([[1, 2, 3]]), 6, temperature=0)
    assert not out.is_inference()
    _, loss = model.train()(out[:, :-1], out[:, 1:])
    loss.backward()  # the embedding's backward keeps the ids
    assert model.tok_emb.weight.grad is not None


@pytest.mark.parametrize(
    "knobs", [{}, {"temperature": 0.8, "top_k": 4}, {"temperature": 1.3, "top_p": 0.9}]
)
def test_generate_sampled_cache_equals_no_cache_with_same_generator(knobs):
    model = _model()
    prompt = torch.tensor([[3, 1, 4, 1, 5]] * 3)
    runs = [
        generate(
            model,
            prompt,
            6,
            use_cache=c,
            **knobs,
            generator=torch.Generator().manual_seed(7),
        )
        for c in (True, False, True)
    ]
    assert torch.equal(runs[0], runs[1])
    assert torch.equal(runs[0], runs[2])  # reproducible
    other = generate(
        model, prompt, 6, **knobs, generator=torch.Generator().manual_seed(8)
    )
    if knobs.get("temperature", 1.0) > 1.0 or not knobs:
        assert not torch.equal(runs[0], other)  # the seed matters


def test_generate_past_block_size_crops_and_cache_equals_no_cache():
    model = _model()
    prompt = torch.randint(0, 13, (2, 20), generator=torch.Generator().manual_seed(1))
    for knobs in ({"temperature": 0}, {"temperature": 1.0}):
        fast = generate(
            model,
            prompt,
            10,
            **knobs,
            use_cache=True,
            generator=torch.Generator().manual_seed(2),
        )
        slow = generate(
            model,
            prompt,
            10,
            **knobs,
            use_cache=False,
            generator=torch.Generator().manual_seed(2),
        )
        assert fast.shape == (2, 30)
        assert torch.equal(fast, slow)
        assert torch.equal(fast[:, :20], prompt)
    # the prompt's first tokens beyond the last block_size do not matter
    changed = prompt.clone()
    changed[:, :8] = 0
    a = generate(model, prompt, 4, temperature=0)
    b = generate(model, changed, 4, temperature=0)
    assert torch.equal(a[:, 20:], b[:, 20:])
    # a short prompt growing past block_size: cache re-primed, same tokens
    short = prompt[:, :5]
    assert torch.equal(
        generate(model, short, 15, temperature=0),
        generate(model, short, 15, temperature=0, use_cache=False),
    )


@pytest.mark.parametrize("knobs", [{"temperature": 0}, {"temperature": 1.0}])
def test_generate_runs_in_eval_mode_and_restores_training_mode(knobs):
    model = _model().train()  # dropout would make every logit random
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    got = generate(
        model, prompt, 8, **knobs, generator=torch.Generator().manual_seed(3)
    )
    assert model.training
    expected = generate(
        model.eval(), prompt, 8, **knobs, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(got, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top_p": 0.0}, "top_p.*0.0"),
        ({"top_p": 1.5}, "top_p.*1.5"),
        ({"top_k": 0}, "top_k.*0"),
        ({"temperature": -0.5}, "temperature.*-0.5"),
        ({"max_new_tokens": -1}, "max_new_tokens.*-1"),
    ],
)
def test_generate_bad_knobs(kwargs, match):
    args = {"max_new_tokens": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        generate(_model(), torch.tensor([[1, 2]]), **args)


def test_generate_bad_ids_and_shapes():
    model = _model()
    with pytest.raises(ValueError, match="13"):
        generate(model, torch.tensor([[1, 13]]), 2)
    with pytest.raises(ValueError, match="-1"):
        generate(model, torch.tensor([[-1, 2]]), 2)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.tensor([1, 2]), 2)
    with pytest.raises(ValueError, match="dtype"):
        generate(model, torch.tensor([[1.0, 2.0]]), 2)


def test_filters_reject_bad_values():
    with pytest.raises(ValueError, match="top_k.*-2"):
        top_k_filter(_logits(), -2)
    with pytest.raises(ValueError, match="top_p.*0"):
        top_p_filter(_logits(), 0)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(_logits(), 0)


# ------------------------------------------------------------------ beam search


def _hf_beam_search(hf, idx, n, k, length_penalty, eos_id):
    """transformers' beam search with the settings beam_search follows."""
    hf.generation_config.eos_token_id = None  # to_hf_gpt2 names the last id eos
    return hf.generate(
        idx,
        attention_mask=torch.ones_like(idx),
        num_beams=k,
        do_sample=False,
        max_new_tokens=n,
        length_penalty=length_penalty,
        early_stopping=False,  # transformers' default, said out loud
        eos_token_id=eos_id,
        pad_token_id=0 if eos_id is None else eos_id,  # pads a row that ended early
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_equals_hugging_face_generate(seed):
    """Token for token, on a random small GPT, a batch of 3 prompts: 1, 2 and 4
    beams, with and without an end token, length_penalty 1 and 0.5."""
    torch.manual_seed(seed)
    config = GPTConfig(
        vocab_size=11, block_size=24, num_layers=2, num_heads=2, d_model=16
    )
    model = GPT(config).eval()
    hf = to_hf_gpt2(model)
    idx = torch.randint(0, 11, (3, 4), generator=torch.Generator().manual_seed(seed))
    outputs = {}
    for k, eos_id, lp in itertools.product([1, 2, 4], [None, 3], [1.0, 0.5]):
        ours = beam_search(model, idx, 16, k, length_penalty=lp, eos_id=eos_id)
        theirs = _hf_beam_search(hf, idx, 16, k, lp, eos_id)
        assert torch.equal(ours, theirs), (k, eos_id, lp, ours, theirs)
        assert torch.equal(ours[:, :4], idx)
        outputs[k, eos_id, lp] = ours
    # the cases are not all alike: the end token ends rows, and width matters
    assert all(o.shape == (3, 20) for (_, e, _), o in outputs.items() if e is None)
    assert any((o[:, 4:] == 3).any() for (_, e, _), o in outputs.items() if e == 3)
    assert not torch.equal(outputs[1, None, 1.0], outputs[4, None, 1.0])


@pytest.mark.parametrize("length_penalty", [1.0, 2.0])
def test_beam_search_stops_a_row_when_transformers_does(length_penalty):
    """A sharp model (weights x5) where a row's finished hypotheses fill early: going
    on would find a better one later, but transformers stops (its heuristic: the best
    running beam, scored at its current length, no better than the worst finished)."""
    torch.manual_seed(2)
    config = GPTConfig(
        vocab_size=11, block_size=24, num_layers=2, num_heads=2, d_model=16
    )
    model = GPT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(5.0)
    idx = torch.randint(0, 11, (3, 4), generator=torch.Generator().manual_seed(2))
    ours = beam_search(model, idx, 16, 2, length_penalty=length_penalty, eos_id=3)
    theirs = _hf_beam_search(to_hf_gpt2(model), idx, 16, 2, length_penalty, 3)
    assert torch.equal(ours, theirs), (ours, theirs)


def test_beam_search_with_one_beam_is_greedy_even_past_block_size():
    model = _model()  # block_size 12: 20 new tokens slide the window
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert torch.equal(
        beam_search(model, prompt, 20, 1), generate(model, prompt, 20, temperature=0)
    )
    assert torch.equal(beam_search(model, prompt, 0, 3), prompt)
    assert model.training is False


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_beams": 0}, "num_beams.*0"),
        ({"max_new_tokens": -1}, "max_new_tokens.*-1"),
        ({"eos_id": 13}, r"eos_id.*\[0, 13\).*13"),
        ({"eos_id": -1}, "eos_id.*-1"),
        ({"length_penalty": "long"}, "length_penalty.*long"),
    ],
)
def test_beam_search_bad_input(kwargs, match):
    args = {"max_new_tokens": 2, "num_beams": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        beam_search(_model(), torch.tensor([[1, 2]]), **args)
