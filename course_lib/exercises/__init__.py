"""Checkers for the exercises at the end of every chapter.

A learner writes an answer in the notebook and calls::

    from course_lib.exercises import check
    check("attention.sdpa", my_attention)

``check`` prints a one-line verdict and returns a :class:`Result` with ``.passed`` and
``.message``. A wrong answer gets a message that says *what* is wrong, never only
"wrong". An answer not attempted yet (the stub as shipped: ``None``, ``...``, or a
function that raises ``NotImplementedError``) gets a short verdict with no part of the
answer in it; hints come on request, in steps: ``hint(id)``, then ``hint(id, 2)``, ...
(the last one may show the answer).

Every exercise is one of four kinds (``KINDS``): *implement* something the chapter has
not shown whole, *find-the-bug* in a short piece of realistic code (the buggy original,
registered with the exercise, fails its checker), *predict* what a cell will show before
running it, *modify* the chapter and report what happened as a number.
``catalog()`` lists every exercise with its chapter, kind and summary;
``exercise_ids()`` only the ids.

An answer that raises is a verdict too ("your answer raised ..."), but only when the
exception comes from the learner's code: ``check`` hands the checker the learner's
function wrapped in a pass-through function, whose frame in a traceback marks an
exception raised inside the learner's call (by their code, or by what it called).
Any other exception comes from the checker itself, a bug in the course, and
``check`` lets it through with its traceback. Checkers call the answer as they
would call the function itself, and may catch its exceptions as usual.

Each chapter's checkers live in a module of this package named after the chapter
(``ch01_language_models.py``, ...) and register themselves with :func:`exercise`; this
file only keeps the registry. (This is one departure from the flat layout of
COURSE_DESIGN.md: with thirty-odd checkers, one file per chapter keeps each readable in
one sitting.)
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field

from course_lib.checks import is_int

KINDS = ("implement", "find-the-bug", "predict", "modify")


@dataclass
class Result:
    """The verdict on one answer (``attempted`` is False for a stub as shipped)."""

    exercise_id: str
    passed: bool
    message: str
    attempted: bool = True

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "NOT YET"
        return f"[{mark}] {self.exercise_id}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed


class Fail(Exception):
    """Raised inside a checker to reject an answer; its text is shown to the learner."""


@dataclass(frozen=True)
class Exercise:
    """One exercise, as :func:`catalog` lists it. Fields read as ``record.kind`` or
    ``record["kind"]``."""

    id: str
    chapter: int  # the chapter whose "Try" section holds it
    kind: str | None  # one of KINDS
    summary: str
    hints: tuple[str, ...]  # in order; the last may show the answer
    buggy: Callable | None = None  # find-the-bug: the code as shipped, with its bug
    checker: Callable | None = field(default=None, repr=False)

    def __getitem__(self, name: str):
        return getattr(self, name)


_REGISTRY: dict[str, Exercise] = {}
_LOADED = False


def exercise(
    exercise_id: str,
    summary: str,
    *,
    kind: str | None = None,
    hints: tuple[str, ...] | list[str] = (),
    buggy: Callable | None = None,
    chapter: int | None = None,
):
    """Decorator that registers ``fn(answer) -> str`` as the checker of ``exercise_id``.

    The checker returns the success message, or raises :class:`Fail` with a message that
    names what is wrong. ``kind`` is one of ``KINDS``; ``hints`` are given one at a
    time by :func:`hint`; a find-the-bug exercise names its ``buggy`` original, which
    must fail the checker. ``chapter`` defaults to the NN of the checker's module
    ``chNN_...``.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"exercise {exercise_id!r}: kind must be one of {KINDS}")

    def register(fn: Callable) -> Callable:
        if exercise_id in _REGISTRY:
            raise ValueError(f"exercise id {exercise_id!r} is registered twice")
        number = re.search(r"\.ch(\d+)_", fn.__module__)
        _REGISTRY[exercise_id] = Exercise(
            id=exercise_id,
            chapter=chapter if chapter is not None else int(number[1]) if number else 0,
            kind=kind,
            summary=summary,
            hints=tuple(hints),
            buggy=buggy,
            checker=fn,
        )
        return fn

    return register


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True


def exercise_ids() -> list[str]:
    """All exercise ids, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def catalog() -> list[Exercise]:
    """One record per exercise (``id``, ``chapter``, ``kind``, ``summary``, ...), in
    chapter order."""
    _load_all()
    return sorted(_REGISTRY.values(), key=lambda e: (e.chapter, e.id))


def describe(exercise_id: str) -> str:
    """The one-line summary of an exercise."""
    _load_all()
    return _REGISTRY[_known(exercise_id)].summary


class Hint(str):
    """A hint's text; a cell that ends with ``hint(...)`` shows it as plain text."""

    def __repr__(self) -> str:
        return str(self)


def hint(exercise_id: str, step: int = 1) -> Hint:
    """Hint number ``step`` (1, 2, ...) of an exercise, shown when a cell ends with it
    (or ``print(hint(...))``). Each step says more than the one before; the last may
    show the answer."""
    _load_all()
    hints = _REGISTRY[_known(exercise_id)].hints
    if not hints:
        raise ValueError(f"exercise {exercise_id!r} has no hints.")
    if not is_int(step) or not 1 <= step <= len(hints):
        raise ValueError(
            f"{exercise_id!r} has hints 1 to {len(hints)}; you asked for hint {step!r}."
        )
    more = f' (next: hint("{exercise_id}", {step + 1}))' if step < len(hints) else ""
    return Hint(
        f"hint {step} of {len(hints)} for {exercise_id}: {hints[step - 1]}{more}"
    )


def not_attempted(exercise_id: str) -> str:
    """The verdict on a stub as shipped: short, and with no part of the answer."""
    return (
        f"not attempted yet. Replace the stub with your answer and run the cell; "
        f'stuck? hint("{exercise_id}")'
    )


def check(exercise_id: str, answer, quiet: bool = False) -> Result:
    """Check ``answer`` for ``exercise_id``; print the verdict (unless ``quiet``) and
    return it as a :class:`Result`.

    An exception raised inside the learner's function is a verdict ("your answer
    raised ..."); one raised by the checker's own code propagates: it is a bug in the
    course, not in the answer."""
    _load_all()
    fn = _REGISTRY[_known(exercise_id)].checker
    try:
        if answer is None or answer is ...:
            raise NotImplementedError
        result = Result(exercise_id, True, fn(_as_answer_call(answer)))
    except NotImplementedError:  # the stub as shipped
        result = Result(exercise_id, False, not_attempted(exercise_id), attempted=False)
    except Fail as failure:
        result = Result(exercise_id, False, str(failure))
    except Exception as error:
        if not _raised_in_answer(error):
            error.add_note(
                f"This error comes from the checker of {exercise_id!r}, not from "
                "inside your answer: a bug in the course. Please report it."
            )
            raise
        # the learner's code raised: say so, not a traceback
        result = Result(
            exercise_id,
            False,
            f"your answer raised {type(error).__name__}: {error}. "
            "Run it on a small input in a cell of its own to see where.",
        )
    if not quiet:
        print(result)
    return result


_FUNCTIONS = (
    types.FunctionType,  # def and lambda
    types.MethodType,
    types.BuiltinFunctionType,  # torch.softmax, len, ...
    types.MethodDescriptorType,  # str.upper, ...
    functools.partial,
)


def _as_answer_call(answer):
    """The learner's function as the checker gets it: the same signature, name and
    result, called through ``answer_call``, whose frame marks the learner's call in
    a traceback. Anything else (a tensor, a class, a module) is passed as it is."""
    if not isinstance(answer, _FUNCTIONS):
        return answer

    @functools.wraps(answer)
    def answer_call(*args, **kwargs):
        return answer(*args, **kwargs)

    return answer_call


_ANSWER_CALL = _as_answer_call(len).__code__


def _raised_in_answer(error: BaseException) -> bool:
    """Whether ``error`` was raised inside a call of the learner's function: its
    traceback runs through ``answer_call``."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is _ANSWER_CALL:
            return True
        tb = tb.tb_next
    return False


def _known(exercise_id: str) -> str:
    if exercise_id not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(str(exercise_id), _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown exercise id {exercise_id!r}.{hint} exercise_ids() lists them all."
        )
    return exercise_id
