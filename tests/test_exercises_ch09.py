"""Chapter 09's checkers: a right answer passes, each typical mistake is named."""

import pytest

from course_lib.exercises import check


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda lo, y: (lo.argmax(-1) == y).sum(), "number correct"),
        (lambda lo, y: (lo.argmax(-1) != y).float().mean(), "error rate"),
        (lambda lo, y: (lo.argmax(0)[y] == y).float().mean(), "dim=-1"),
        (lambda lo, y: lo.argmax(-1) == y, "one number"),
    ],
)
def test_accuracy(answer, words):
    right = lambda lo, y: (lo.argmax(-1) == y).float().mean()
    assert check("finetune.accuracy", right, quiet=True).passed
    result = check("finetune.accuracy", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def test_freeze_encoder():
    right = lambda m: m.encoder.requires_grad_(False)
    assert check("finetune.freeze_encoder", right, quiet=True).passed
    for wrong, words in [
        (lambda m: m.requires_grad_(False), "the head too"),
        (lambda m: m.encoder[0].requires_grad_(False), "still have requires_grad"),
    ]:
        result = check("finetune.freeze_encoder", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message


def _words(sentences):
    return {w for s in sentences for w in s.split()}


def test_unseen_words():
    right = lambda tr, te: _words(te) - _words(tr)
    assert check("finetune.unseen_words", right, quiet=True).passed
    for wrong, words in [
        (lambda tr, te: _words(tr) - _words(te), "other way round"),
        (lambda tr, te: _words(te), "subtract the training words"),
        (lambda tr, te: set(te[0].split()) - _words(tr), "every test sentence"),
        (lambda tr, te: "novel", "set of words"),
    ]:
        result = check("finetune.unseen_words", wrong, quiet=True)
        assert not result.passed and words in result.message, result.message
