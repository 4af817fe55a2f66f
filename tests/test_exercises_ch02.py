"""Chapter 02's checkers: a right answer passes; each typical mistake gets its own
message."""

import math
from collections import Counter
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import check
from course_lib.layers import sinusoidal_positions
from course_lib.tokenizers import merge


def run(exercise_id, answer):
    return check(exercise_id, answer, quiet=True)


def test_pair_counts():
    assert run("tokens.pair_counts", lambda ids: dict(Counter(pairwise(ids))))
    cases = [
        (lambda ids: dict(Counter((b, a) for a, b in pairwise(ids))), "reversed"),
        (lambda ids: dict(Counter(zip(ids, ids[1:] + ids[:1], strict=True))), "wraps"),
        (lambda ids: dict(Counter(pairwise(ids[:-1]))), "last pair"),
        (lambda ids: [1, 2], "expected a dict"),
    ]
    for answer, message in cases:
        result = run("tokens.pair_counts", answer)
        assert not result.passed and message in result.message, result.message


def merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == tuple(pair):
            return ids[:i] + [new_id] + ids[i + 2 :]
    return ids


def merge_overlapping(ids, pair, new_id):
    out = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], ids[i]) == tuple(pair)):
            out.append(ids[i])
    return out


def merge_drops_last(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


@pytest.mark.parametrize(
    "answer, message",
    [
        (merge_first_only, "only the first"),
        (merge_overlapping, "overlapped"),
        (merge_drops_last, "last id was dropped"),
    ],
)
def test_merge_mistakes(answer, message):
    result = run("tokens.merge", answer)
    assert not result.passed and message in result.message, result.message


def test_merge_right_answers_pass():
    assert run("tokens.merge", merge)
    assert run("tokens.merge", lambda ids, p, n: torch.tensor(merge(ids, p, n)))


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda ids, w: F.one_hot(ids, w.shape[0]).float(), "one-hot vectors"),
        (lambda ids, w: F.one_hot(ids, w.shape[0]).float() @ w.detach(), "no gradient"),
        (lambda ids, w: F.one_hot(ids % 3, w.shape[0]).float() @ w, "values not"),
        (lambda ids, w: w[: ids.shape[1]], "expected (B, T, C)"),
    ],
)
def test_one_hot_embedding_mistakes(answer, message):
    result = run("tokens.one_hot_embedding", answer)
    assert not result.passed and message in result.message, result.message


def test_one_hot_embedding_right_answers_pass():
    assert run(
        "tokens.one_hot_embedding",
        lambda ids, w: F.one_hot(ids, w.shape[0]).to(w.dtype) @ w,
    )
    assert run("tokens.one_hot_embedding", F.embedding)


def pe(T, C, swap=False, concat=False, pair_index=True, start=0):
    rows = []
    for pos in range(start, start + T):
        sines, cosines = [], []
        for j in range(C // 2):
            k = 2 * j if pair_index else j
            angle = pos / 10000 ** (k / C)
            sines.append(math.sin(angle))
            cosines.append(math.cos(angle))
        if swap:
            sines, cosines = cosines, sines
        if concat:
            rows.append(sines + cosines)
        else:
            rows.append([v for pair in zip(sines, cosines, strict=True) for v in pair])
    return torch.tensor(rows)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda T, C: pe(T, C, swap=True), "swapped"),
        (lambda T, C: pe(T, C, concat=True), "all the sines first"),
        (lambda T, C: pe(T, C, pair_index=False), "frequencies are off"),
        (lambda T, C: pe(T, C, start=1), "positions start at 0"),
        (lambda T, C: pe(T, C).T, "should be a (10, 8) tensor"),
    ],
)
def test_sinusoidal_mistakes(answer, message):
    result = run("tokens.sinusoidal", answer)
    assert not result.passed and message in result.message, result.message


def test_sinusoidal_right_answers_pass():
    assert run("tokens.sinusoidal", pe)
    assert run("tokens.sinusoidal", sinusoidal_positions)
