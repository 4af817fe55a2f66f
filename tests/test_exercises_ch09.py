"""Chapter 09's checkers: a right answer passes, each typical mistake is named, and
each buggy original fails with its symptom."""

import pytest
import torch

from course_lib.classification import SequenceClassifier
from course_lib.exercises import ch09_pretrain_finetune as ch09
from course_lib.exercises import check


def fixed_linear_probe(encoder, num_labels):
    probe = SequenceClassifier(encoder, num_labels)
    probe.encoder.requires_grad_(False)
    return probe


def freeze_all(encoder, num_labels):
    probe = SequenceClassifier(encoder, num_labels)
    probe.requires_grad_(False)
    return probe


def freeze_first_layer_only(encoder, num_labels):
    probe = SequenceClassifier(encoder, num_labels)
    probe.encoder.embed.requires_grad_(False)
    return probe


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch09.buggy_linear_probe, "eval() does not freeze"),
        (freeze_all, "the head neither"),
        (freeze_first_layer_only, "2 encoder tensors still"),
    ],
)
def test_freeze_encoder(answer, words):
    assert check("finetune.freeze_encoder", fixed_linear_probe, quiet=True).passed
    result = check("finetune.freeze_encoder", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def fixed_mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return (hidden * m).sum(1) / m.sum(1)


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch09.buggy_mean_pool, "padded length T"),
        (lambda h, m: h.mean(1), "padded positions are averaged in"),
        (lambda h, m: (h * m[..., None]).sum(1) / m.sum(), "whole batch"),
        (lambda h, m: h[m.bool()].mean(0).expand(len(h), -1), "one mean over"),
        (lambda h, m: h.sum(1), "differ from the mean"),
    ],
)
def test_mean_pool(answer, words):
    assert check("finetune.mean_pool", fixed_mean_pool, quiet=True).passed
    result = check("finetune.mean_pool", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def right_accuracy(logits, labels):
    return (logits.argmax(-1) == labels).float().mean().item()


@pytest.mark.parametrize(
    "answer, words",
    [
        (ch09.buggy_accuracy, "largest logit"),
        (lambda lo, y: (lo.argmax(-1) == y).sum(), "number correct"),
        (lambda lo, y: (lo.argmax(-1) != y).float().mean(), "error rate"),
        (lambda lo, y: (lo.argmax(0)[y] == y).float().mean(), "dim=-1"),
        (lambda lo, y: lo.argmax(-1) == y, "one number"),
    ],
)
def test_accuracy(answer, words):
    assert check("finetune.accuracy", right_accuracy, quiet=True).passed
    result = check("finetune.accuracy", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def right_last(hidden, mask):
    T = mask.shape[1]
    last = (mask * torch.arange(1, T + 1)).argmax(1)
    return hidden[torch.arange(len(hidden)), last]


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda h, m: h[torch.arange(len(h)), m.sum(1) - 1], "left padding"),
        (lambda h, m: h[:, -1], "position T-1"),
        (lambda h, m: h[torch.arange(len(h)), m.argmax(1)], "FIRST real token"),
        (lambda h, m: h[torch.arange(len(h)), m.sum(1).clamp(max=4)], "another"),
    ],
)
def test_last_real(answer, words):
    assert check("finetune.last_real", right_last, quiet=True).passed
    result = check("finetune.last_real", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "exercise_id, right, wrongs",
    [
        (
            "finetune.causal_prefix",
            13,
            [
                (0, "no position sees"),
                (12, "off by one"),
                (21, "they do differ"),
                (4, "you predicted 4"),
                ("13", "as a number"),
            ],
        ),
        (
            "finetune.probe_params",
            770,
            [
                (768, "bias"),
                (22_713_986, "counts the encoder"),
                (384, "one weight row"),
                (100, "nn.Linear(384, 2)"),
            ],
        ),
        (
            "finetune.stop_ceiling",
            0.96,
            [(0.82, "all 1000"), (96, "percentage"), (0.5, "first 100")],
        ),
    ],
)
def test_predict_and_modify(exercise_id, right, wrongs):
    assert check(exercise_id, right, quiet=True).passed
    for wrong, words in wrongs:
        result = check(exercise_id, wrong, quiet=True)
        assert not result.passed and words in result.message, (wrong, result.message)


def test_the_stop_word_ceiling_is_the_chapters():
    """The modify exercise recomputes the chapter's cell: the same list, the same
    function, verbatim."""
    import inspect
    import json
    from pathlib import Path

    nb = Path(__file__).parent.parent / "notebooks" / "09_pretrain_finetune.ipynb"
    cells = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"]]
    source = inspect.getsource(ch09.best_possible_accuracy).strip()
    assert any(source in cell for cell in cells)
    defined = next(c for c in cells if c.startswith("STOP_WORDS = "))
    namespace = {}
    exec(defined.splitlines()[0], namespace)
    assert namespace["STOP_WORDS"] == ch09.STOP_WORDS
    x = ["the film was not good", "the film was good", "a b"]
    assert ch09.best_possible_accuracy(x, [0, 1, 1]) == 2 / 3
    assert ch09.best_possible_accuracy(x, [0, 1, 1], stop_words=set()) == 1.0
