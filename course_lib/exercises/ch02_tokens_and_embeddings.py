"""Chapter 02: BPE's two steps (count pairs, merge one), embedding lookup as a
one-hot product, and the sinusoidal positional encoding."""

import math
import numbers

import torch
import torch.nn.functional as F

from course_lib.exercises import Fail, exercise


def _as_list(value, what: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise Fail(f"{what} should be a list of ints, got {type(value).__name__}.")
    if not all(isinstance(x, numbers.Real) for x in value):
        kinds = sorted({type(x).__name__ for x in value})
        raise Fail(f"{what} should be a list of ints, got a list of {kinds}.")
    return list(value)


@exercise("tokens.pair_counts", "pair_counts(ids) -> {(a, b): how often b follows a}")
def check_pair_counts(fn) -> str:
    ids = [1, 2, 3, 1, 2, 2, 1]
    ref = {(1, 2): 2, (2, 3): 1, (3, 1): 1, (2, 2): 1, (2, 1): 1}
    got = fn(ids)
    if not isinstance(got, dict):
        raise Fail(f"expected a dict {{(a, b): count}}, got {type(got).__name__}.")
    got = {tuple(k): v for k, v in got.items() if v}
    if got == ref:
        if fn([5]):
            raise Fail("a single id has no pairs, but you returned some.")
        return "counts every adjacent pair (a, b), the last one included."
    if got == {(b, a): n for (a, b), n in ref.items()}:
        raise Fail(
            "your pairs are reversed: count (ids[i], ids[i + 1]), the token "
            "first and its follower second."
        )
    if (1, 1) in got and got.get((1, 1)) == 1:
        raise Fail(
            "you counted the pair (last, first) that wraps around the end. "
            "Hint: zip(ids, ids[1:]) stops at the last pair."
        )
    missing = {k: v for k, v in ref.items() if got.get(k) != v}
    if set(missing) == {(2, 1)}:
        raise Fail(
            "you miss the last pair (2, 1). Hint: the pairs are "
            "(ids[i], ids[i + 1]) for i in range(len(ids) - 1)."
        )
    raise Fail(f"for ids={ids} expected {ref}, got {got}.")


@exercise("tokens.merge", "merge(ids, pair, new_id): replace each pair, left to right")
def check_merge(fn) -> str:
    cases = [
        (([1, 2, 3, 1, 2], (1, 2), 9), [9, 3, 9]),
        (([7, 7, 7], (7, 7), 9), [9, 7]),
        (([3, 1, 2], (1, 2), 9), [3, 9]),
        (([1, 3, 2], (1, 2), 9), [1, 3, 2]),
        (([], (1, 2), 9), []),
    ]
    for (ids, pair, new_id), expected in cases:
        got = _as_list(fn(list(ids), pair, new_id), "merge(...)")
        if got == expected:
            continue
        where = f"merge({ids}, {pair}, {new_id}) gave {got}, expected {expected}"
        if ids == [1, 2, 3, 1, 2] and got == [9, 3, 1, 2]:
            raise Fail(
                f"{where}: only the first occurrence was merged. Hint: keep "
                "scanning after a merge."
            )
        if ids == [7, 7, 7] and got in ([9, 9], [9, 9, 7]):
            raise Fail(
                f"{where}: occurrences overlapped. After a merge, skip BOTH "
                "ids of the pair (i += 2)."
            )
        if len(got) == len(expected) - 1 or (ids and got == expected[:-1]):
            raise Fail(
                f"{where}: the last id was dropped. Hint: when i is the last "
                "index there is no pair; copy ids[i] as it is."
            )
        raise Fail(f"{where}.")
    return "merges every occurrence, left to right, without overlap."


@exercise("tokens.one_hot_embedding", "embed(ids (B, T), weight (V, C)) = one_hot @ W")
def check_one_hot_embedding(fn) -> str:
    g = torch.Generator().manual_seed(0)
    V, C = 6, 4
    ids = torch.randint(V, (2, 3), generator=g)
    weight = torch.randn(V, C, generator=g, requires_grad=True)
    got = fn(ids, weight)
    if not isinstance(got, torch.Tensor):
        raise Fail(f"expected a tensor, got {type(got).__name__}.")
    if tuple(got.shape) == (2, 3, V):
        raise Fail(
            f"your output is (B, T, V) = {tuple(got.shape)}: the one-hot "
            "vectors themselves. Hint: multiply them by weight, (V, C)."
        )
    if tuple(got.shape) != (2, 3, C):
        raise Fail(f"expected (B, T, C) = (2, 3, {C}), got {tuple(got.shape)}.")
    ref = F.embedding(ids, weight)
    if not torch.allclose(got, ref, atol=1e-6):
        raise Fail(
            "shape right, values not: row i of weight is token i's vector. "
            "Hint: F.one_hot(ids, V).float() @ weight."
        )
    if not got.requires_grad:
        raise Fail(
            "equal to F.embedding, but no gradient reaches weight (did you "
            "detach or use .data?). The table must be learnable."
        )
    got.sum().backward()
    ref_grad = torch.zeros(V, C).index_add_(0, ids.flatten(), torch.ones(6, C))
    if not torch.allclose(weight.grad, ref_grad):
        raise Fail("the gradient of weight differs from nn.Embedding's.")
    return (
        "equals F.embedding, gradient included: a lookup IS a one-hot product, "
        "minus the multiplications by zero."
    )


def _pe(T: int, C: int, swap=False, concat=False, exponent=2, start=0):
    pos = torch.arange(start, start + T, dtype=torch.float64)[:, None]
    j = torch.arange(C // 2, dtype=torch.float64)
    angle = pos / 10000 ** (exponent * j / C)
    first, second = (angle.cos(), angle.sin()) if swap else (angle.sin(), angle.cos())
    if concat:
        return torch.cat([first, second], dim=1)
    return torch.stack([first, second], dim=-1).reshape(T, C)


@exercise("tokens.sinusoidal", "sinusoidal(T, C) -> (T, C) positional encoding")
def check_sinusoidal(fn) -> str:
    T, C = 10, 8
    got = fn(T, C)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (T, C):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got)
        raise Fail(f"sinusoidal({T}, {C}) should be a ({T}, {C}) tensor, got {shape}.")
    got = got.double()

    def near(x):
        return torch.allclose(got, x, atol=1e-5)

    if near(_pe(T, C)):
        return "equals the paper's PE(pos, 2i) = sin(pos / 10000^(2i/C)), cos at 2i+1."
    if near(_pe(T, C, swap=True)):
        raise Fail(
            "sin and cos are swapped: even channels (2i) take sin, odd take cos."
        )
    if near(_pe(T, C, concat=True)):
        raise Fail(
            "you put all the sines first, then all the cosines. The paper "
            "interleaves them: channel 2i is sin, 2i+1 is cos."
        )
    if near(_pe(T, C, start=1)):
        raise Fail("positions start at 0: row 0 must be [0, 1, 0, 1, ...].")
    angle_j = torch.arange(T, dtype=torch.float64)[:, None] / 10000 ** (
        torch.arange(C, dtype=torch.float64) / C
    )
    wrong_i = torch.where(torch.arange(C) % 2 == 0, angle_j.sin(), angle_j.cos())
    if near(wrong_i) or near(_pe(T, C, exponent=1)):
        raise Fail(
            "the frequencies are off: channels 2i and 2i+1 share ONE "
            "frequency, 1 / 10000^(2i / C). Hint: use the pair index i, "
            "times 2, over C."
        )
    if not math.isclose(got[0, 1].item(), 1.0, abs_tol=1e-5):
        raise Fail("row 0 (position 0) should be [0, 1, 0, 1, ...]: sin 0, cos 0.")
    raise Fail(
        "the values differ from the paper's formula; compare row 1 with "
        "sin(1 / 10000^(2i/C)) by hand."
    )
