"""The exercise framework itself; each chapter's checkers are tested in its own
module."""

import functools

import pytest
import torch

from course_lib.exercises import Fail, Result, check, describe, exercise_ids


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


@pytest.fixture
def register():
    """Register test-local checkers under ids of their own; removed afterwards."""
    from course_lib import exercises

    added = []

    def add(exercise_id, checker):
        exercises.exercise(exercise_id, "a test's checker")(checker)
        added.append(exercise_id)

    yield add
    for exercise_id in added:
        exercises._REGISTRY.pop(exercise_id)


def _calls_answer(answer):
    answer(torch.zeros(2, 3))
    raise Fail("unreachable")


def test_an_answer_that_raises_is_a_verdict(register):
    def helper(x):
        return x @ x  # (2, 3) @ (2, 3): raised inside torch, called by the learner

    def learner(x):
        return helper(x)

    register("test.raises", _calls_answer)
    result = check("test.raises", learner, quiet=True)
    assert not result.passed
    assert result.message.startswith("your answer raised RuntimeError: ")
    # a built-in passed as the answer, raising in C: still the answer's exception
    result = check("test.raises", torch.softmax, quiet=True)  # no dim given
    assert result.message.startswith("your answer raised TypeError: ")
    # a lambda, a method and a partial are answers too
    for answer in (lambda x: 1 / 0, Holder().method, functools.partial(divide, 0)):
        result = check("test.raises", answer, quiet=True)
        assert result.message.startswith("your answer raised ZeroDivisionError")


class Holder:
    def method(self, x):
        return 1 / 0


def divide(a, b):
    return 1 / a


def test_a_checker_may_still_catch_the_answers_exception_by_type(register):
    def checker(answer):
        try:
            answer(1)
        except ZeroDivisionError:
            raise Fail("you divide by zero") from None
        return "fine"

    register("test.catches", checker)
    assert check("test.catches", lambda x: x / 0, quiet=True).message == (
        "you divide by zero"
    )
    assert check("test.catches", lambda x: x, quiet=True).passed


def test_an_answer_reraised_by_its_checker_is_still_a_verdict(register):
    def checker(answer):  # as lm.sgd_step does with errors it has no hint for
        try:
            answer()
        except RuntimeError as error:
            if "leaf Variable" in str(error):
                raise Fail("hint") from None
            raise
        return "fine"

    def learner():
        raise RuntimeError("something else")

    register("test.reraises", checker)
    result = check("test.reraises", learner, quiet=True)
    assert result.message.startswith("your answer raised RuntimeError: something")


def test_a_bug_in_a_checker_is_a_real_error(register):
    def buggy_before(answer):
        return {}["missing"]  # the checker's own bug, before the answer runs

    def buggy_after(answer):
        out = answer(torch.zeros(3))
        return out.no_such_method()  # a bug in handling a right answer

    def buggy_in_except(answer):
        try:
            answer()
        except ZeroDivisionError:
            return undefined_name  # noqa: F821  (the bug)
        return "fine"

    register("test.buggy_before", buggy_before)
    register("test.buggy_after", buggy_after)
    register("test.buggy_in_except", buggy_in_except)
    with pytest.raises(KeyError, match="missing") as raised:
        check("test.buggy_before", lambda x: x, quiet=True)
    assert "buggy_before" in str(raised.traceback[-1])  # a normal traceback
    assert "a bug in the course" in "".join(raised.value.__notes__)
    with pytest.raises(AttributeError, match="no_such_method"):
        check("test.buggy_after", lambda x: x * 2, quiet=True)
    with pytest.raises(NameError, match="undefined_name"):
        check("test.buggy_in_except", lambda: 1 / 0, quiet=True)


JUNK = {  # wrong answers of the wrong kind: each must get a verdict, not a traceback
    "None": None,
    "a string": "abc",
    "an int": 42,
    "a 1-element tensor": torch.zeros(1),
    "a (2, 2) tensor": torch.zeros(2, 2),
    "an int tensor": torch.zeros(2, 2, dtype=torch.long),
    "an empty list": [],
    "a pair of None": (None, None),
    "three (2, 2) tensors": (torch.zeros(2, 2),) * 3,
    "a list of tensors": [torch.zeros(2)] * 3,
    "a pair of lists": ([], []),
    "a dict": {"a": 1},
}


@pytest.mark.parametrize(
    "exercise_id", [e for e in exercise_ids() if e != "welcome.batch"]
)
def test_every_checker_gives_a_verdict_on_answers_of_the_wrong_kind(exercise_id):
    for name, value in JUNK.items():
        result = check(exercise_id, lambda *args, v=value, **kwargs: v, quiet=True)
        assert not result.passed, (name, result)
        assert "your answer raised" not in result.message, (name, result)


def test_unknown_id_suggests_close_matches():
    with pytest.raises(ValueError, match="welcome.batch"):
        check("welcome.bath", None)


# --- the catalog, hints and stubs (what every chapter's "Try" section relies on) ---

import inspect  # noqa: E402
import json  # noqa: E402
import textwrap  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from course_lib.exercises import KINDS, catalog, hint  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CATALOG = catalog()


def chapter_notebook(chapter: int) -> Path:
    (path,) = NOTEBOOKS.glob(f"{chapter:02d}_*.ipynb")
    return path


def test_catalog_records_have_their_fields():
    ids = [e.id for e in CATALOG]
    assert ids and len(set(ids)) == len(ids)
    for record in CATALOG:
        assert isinstance(record.chapter, int) and 0 <= record.chapter <= 12, record
        assert record["kind"] in KINDS, f"{record.id}: kind {record.kind!r}"
        assert record["summary"] and record["id"] == record.id
        assert record.id in exercise_ids()


def test_every_chapter_has_the_mix_of_kinds():
    assert len(CATALOG) >= 70, f"{len(CATALOG)} exercises, at least 70 expected"
    by_chapter = {n: Counter() for n in range(1, 13)}
    for record in CATALOG:
        if record.chapter in by_chapter:
            by_chapter[record.chapter][record.kind] += 1
    for chapter in range(1, 12):
        kinds = by_chapter[chapter]
        assert kinds.total() >= 4, f"chapter {chapter}: {dict(kinds)}"
        assert len(kinds) >= 3, f"chapter {chapter}: {dict(kinds)}"
        assert kinds["find-the-bug"] and kinds["predict"], f"chapter {chapter}: {kinds}"
    assert by_chapter[12]["find-the-bug"] >= 8, dict(by_chapter[12])


@pytest.mark.parametrize("exercise_id", [e.id for e in CATALOG])
def test_an_unattempted_exercise_gets_a_short_verdict_without_the_answer(
    exercise_id, capsys
):
    record = next(e for e in CATALOG if e.id == exercise_id)
    assert record.hints, f"{exercise_id} has no hints"
    for stub in (None, ...):
        result = check(exercise_id, stub)
        assert not result.passed and not result.attempted
        printed = capsys.readouterr().out.strip()
        assert printed == str(result) and "\n" not in printed and len(printed) < 200
        assert "not attempted yet" in printed and f'hint("{exercise_id}")' in printed
        for text in record.hints:  # no hint leaks into the verdict
            assert text not in printed


def test_a_function_stub_that_raises_not_implemented_is_not_attempted(register):
    register("test.calls_answer2", _calls_answer)

    def my_answer(x):
        raise NotImplementedError  # your code

    result = check("test.calls_answer2", my_answer, quiet=True)
    assert not result.attempted and "not attempted yet" in result.message


@pytest.mark.parametrize(
    "exercise_id", [e.id for e in CATALOG if e.kind == "find-the-bug"]
)
def test_a_buggy_original_fails_its_checker_and_is_shown_in_its_chapter(exercise_id):
    record = next(e for e in CATALOG if e.id == exercise_id)
    assert record.buggy is not None, f"{exercise_id}: register its buggy original"
    result = check(exercise_id, record.buggy, quiet=True)
    assert result.attempted and not result.passed, result
    source = textwrap.dedent(inspect.getsource(record.buggy)).strip()
    nb = json.loads(chapter_notebook(record.chapter).read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any(source in cell for cell in cells), (
        f"the buggy code of {exercise_id} must appear verbatim in a code cell of "
        f"{chapter_notebook(record.chapter).name}"
    )


def test_hints_come_in_steps():
    record = next(e for e in CATALOG if len(e.hints) >= 2)
    first = hint(record.id)
    assert record.hints[0] in first and f'hint("{record.id}", 2)' in first
    assert repr(first) == str(first)  # a cell ending with it shows plain text, once
    last = hint(record.id, len(record.hints))
    assert record.hints[-1] in last and "next:" not in last
    with pytest.raises(ValueError, match=f"hints 1 to {len(record.hints)}"):
        hint(record.id, len(record.hints) + 1)
    with pytest.raises(ValueError, match="hints 1 to"):
        hint(record.id, 0)
    with pytest.raises(ValueError, match="unknown exercise id"):
        hint("no.such_exercise")


def test_committed_chapters_show_no_answer():
    """A chapter as committed runs every exercise on its stub: each verdict is the short
    one, no exercise passes, and no hint is shown. (Chapter 00 is the exception: its
    warm-up shows a wrong answer, a right one and a hint, to show how it all works.)"""
    chapters = sorted(NOTEBOOKS.glob("[01]*.ipynb"))
    assert len(chapters) >= 13 and chapters[0].name.startswith("00_")
    for path in chapters[1:]:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", "")) + "".join(
                    output.get("data", {}).get("text/plain", "")
                )
                for line in text.splitlines():
                    if "[NOT YET]" in line:
                        assert "not attempted yet" in line, (path.name, line)
                    assert "[PASS]" not in line, (path.name, line)
                    assert not line.startswith("hint "), (path.name, line)
