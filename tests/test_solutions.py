"""The solutions notebooks: ``notebooks/solutions/NN_name_solutions.ipynb`` holds, for
every exercise of ``notebooks/NN_name.ipynb`` and nothing else, one solution that
passes its checker; the chapter itself shows no answer.

Each is small (under 60 KB executed): a title, the set-up cell, then per exercise a
note and one code cell with ``assert check("id", answer).passed``. Whether the
solutions still pass is read from the committed outputs (``check`` prints
``[PASS] id: ...``), which nbval compares with a fresh run.
"""

import ast
import copy
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = sorted((NOTEBOOKS / "solutions").glob("*_solutions.ipynb"))
IDS = [p.name for p in SOLUTIONS]
MAX_BYTES = 60_000
# A chapter whose exercise is solved in the chapter itself, as the demonstration of how
# `check` works: it has no solutions notebook.
SOLVED_IN_CHAPTER = {"00_welcome.ipynb"}


def chapter_of(solutions: Path) -> Path:
    return NOTEBOOKS / solutions.name.replace("_solutions.ipynb", ".ipynb")


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _exercise_id(node) -> str | None:
    """The id of a ``check("id", ...)`` call; None for any other node."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name != "check":
        return None
    first = node.args[0] if node.args else None
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        raise AssertionError(f"check() without a literal id: {ast.unparse(node)}")
    return first.value


def check_calls(source: str) -> list[tuple[str, bool]]:
    """(exercise id, asserted?) for each ``check("id", ...)`` call of a cell; asserted
    means written ``assert check("id", ...).passed``."""
    tree = ast.parse(TransformerManager().transform_cell(source))  # %pip and the like
    asserted = {
        id(node.test.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        and isinstance(node.test, ast.Attribute)
        and node.test.attr == "passed"
        and _exercise_id(node.test.value)
    }
    return [
        (exercise, id(node) in asserted)
        for node in ast.walk(tree)
        if (exercise := _exercise_id(node))
    ]


def checked_ids(nb) -> list[str]:
    return [i for c in code_cells(nb) for i, _ in check_calls(c.source)]


def stdout(cell) -> str:
    return "".join(
        o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"
    )


def solution_problems(sol, chapter) -> list[str]:
    """What is wrong with the solutions notebook ``sol`` of ``chapter``; [] if all is
    well."""
    problems = []
    wanted, got = checked_ids(chapter), checked_ids(sol)
    for exercise in sorted(set(wanted) - set(got)):
        problems.append(f"{exercise}: checked in the chapter, but has no solution")
    for exercise in sorted(set(got) - set(wanted)):
        problems.append(f"{exercise}: solved here, but not an exercise of the chapter")
    for exercise in sorted({i for i in got if got.count(i) > 1}):
        problems.append(f"{exercise}: checked {got.count(exercise)} times")
    for n, cell in enumerate(code_cells(sol)[1:], 2):  # after the set-up cell
        calls = check_calls(cell.source)
        if not calls:
            problems.append(
                f"code cell {n} checks no exercise: a solutions notebook holds only "
                "the exercises (the chapter has the rest)"
            )
        errors = [o.ename for o in cell.outputs if o.output_type == "error"]
        if errors:
            problems.append(f"code cell {n} was committed with errors {errors}")
        printed = stdout(cell).splitlines()
        for exercise, asserted in calls:
            if not asserted:
                problems.append(
                    f'{exercise}: write `assert check("{exercise}", ...).passed`, so a '
                    "run stops at a solution that no longer passes"
                )
            if not any(ln.startswith(f"[PASS] {exercise}:") for ln in printed):
                shown = [ln for ln in printed if exercise in ln] or ["nothing"]
                problems.append(f"{exercise}: the committed output shows {shown[0]!r}")
    return problems


def test_every_chapter_with_exercises_has_a_solutions_notebook():
    have = {chapter_of(p).name for p in SOLUTIONS}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if checked_ids(nb) and path.name not in SOLVED_IN_CHAPTER:
            assert path.name in have, f"{path.name} has exercises but no solutions"
    for path in SOLUTIONS:
        assert chapter_of(path).exists(), f"{path.name}: no chapter {chapter_of(path)}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_solutions_notebook_is_small(path):
    size = path.stat().st_size
    assert size < MAX_BYTES, (
        f"{path.name} is {size / 1000:.0f} KB (limit {MAX_BYTES / 1000:.0f} KB): it "
        "should hold the exercises only, not a copy of the chapter"
    )


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_every_exercise_is_solved_and_passes(path):
    sol = nbformat.read(path, as_version=4)
    chapter = nbformat.read(chapter_of(path), as_version=4)
    problems = solution_problems(sol, chapter)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def answers_shown(chapter) -> list[str]:
    """What a chapter's committed exercise cells give away; [] if each shows NOT YET."""
    problems = []
    for cell in code_cells(chapter):
        printed = stdout(cell).splitlines()
        for exercise, _ in check_calls(cell.source):
            if any(ln.startswith(f"[PASS] {exercise}:") for ln in printed):
                problems.append(f"{exercise}: its answer is shown (PASS)")
            elif not any(ln.startswith(f"[NOT YET] {exercise}:") for ln in printed):
                problems.append(f"{exercise}: its cell shows no NOT YET verdict")
    return problems


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_the_chapter_shows_no_answers(path):
    """The chapter's exercise cells are committed unattempted, as a learner finds
    them: each shows NOT YET, and the solutions are in the solutions notebook only."""
    chapter = chapter_of(path)
    problems = answers_shown(nbformat.read(chapter, as_version=4))
    assert not problems, (
        f"{chapter.name}: commit the stubs, the solutions belong in {path.name}:\n  "
        + "\n  ".join(problems)
    )


def test_the_checks_catch_a_lost_or_failing_solution():
    """solution_problems itself: a deleted solution, a FAIL in the committed output, an
    error, an unasserted check and leftover chapter material are all reported."""
    path = SOLUTIONS[0]
    good = nbformat.read(path, as_version=4)
    chapter = nbformat.read(chapter_of(path), as_version=4)
    assert solution_problems(good, chapter) == []
    cells = [c for c in code_cells(good) if check_calls(c.source)]
    first = check_calls(cells[0].source)[0][0]

    deleted = copy.deepcopy(good)
    deleted.cells.remove(next(c for c in code_cells(deleted) if c.id == cells[0].id))
    assert any("has no solution" in p for p in solution_problems(deleted, chapter))

    failing = copy.deepcopy(good)
    cell = next(c for c in code_cells(failing) if c.id == cells[0].id)
    verdict = f"[NOT YET] {first}: not quite\n"
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=verdict),
        nbformat.v4.new_output("error", ename="AssertionError", traceback=[]),
    ]
    found = solution_problems(failing, chapter)
    assert any("[NOT YET]" in p for p in found) and any("errors" in p for p in found)

    unasserted = copy.deepcopy(good)
    cell = next(c for c in code_cells(unasserted) if c.id == cells[0].id)
    cell.source = cell.source.replace("assert check(", "check(")
    cell.source = cell.source.replace(").passed", ")")
    assert any("write `assert" in p for p in solution_problems(unasserted, chapter))

    padded = copy.deepcopy(good)
    padded.cells.append(nbformat.v4.new_code_cell("model = train()"))
    assert any("checks no exercise" in p for p in solution_problems(padded, chapter))


def test_a_chapter_that_shows_an_answer_is_caught():
    chapter = nbformat.read(chapter_of(SOLUTIONS[0]), as_version=4)
    assert answers_shown(chapter) == []
    cell = next(c for c in code_cells(chapter) if check_calls(c.source))
    exercise = check_calls(cell.source)[0][0]
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"[PASS] {exercise}: ok\n")
    ]
    assert answers_shown(chapter) == [f"{exercise}: its answer is shown (PASS)"]
