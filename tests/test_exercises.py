"""The exercise framework itself; each chapter's checkers are tested in its own
module."""

import pytest
import torch

from course_lib.exercises import Result, check, describe, exercise_ids


def test_every_exercise_is_listed_and_described():
    ids = exercise_ids()
    assert "welcome.batch" in ids
    for exercise_id in ids:
        assert "." in exercise_id, exercise_id  # chapter.topic
        assert describe(exercise_id)


def test_check_passes_right_answer_and_prints(capsys):
    result = check("welcome.batch", torch.zeros(2, 3, 4))
    assert isinstance(result, Result) and result.passed
    assert "[PASS] welcome.batch" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, words",
    [
        (torch.zeros(2, 3), "shape (2, 3)"),
        (torch.zeros(2, 3, 4, dtype=torch.long), "dtype"),
        (torch.ones(2, 3, 4), "not every entry is zero"),
        ([0, 0], "expected a torch.Tensor"),
    ],
)
def test_check_says_what_is_wrong(answer, words):
    result = check("welcome.batch", answer, quiet=True)
    assert not result.passed
    assert words in result.message


def test_check_reports_a_crashing_answer_without_traceback():
    def broken(*args):
        raise RuntimeError("boom")

    from course_lib.exercises import Fail, exercise

    @exercise("test.calls_answer", "calls the answer")
    def checker(answer):
        answer()
        raise Fail("unreachable")

    try:
        result = check("test.calls_answer", broken, quiet=True)
    finally:
        from course_lib import exercises

        exercises._REGISTRY.pop("test.calls_answer")
    assert not result.passed and "RuntimeError: boom" in result.message


def test_unknown_id_suggests_close_matches():
    with pytest.raises(ValueError, match="welcome.batch"):
        check("welcome.bath", None)
