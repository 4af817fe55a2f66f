"""Chapter 12's checkers: every buggy original fails with its symptom named, the fixed
piece passes, and the typical wrong fixes are named."""

import inspect
import json
import math
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import catalog, check
from course_lib.exercises import ch12_debugging as ch12

CHAPTER = Path(__file__).resolve().parent.parent / "notebooks" / "12_debugging.ipynb"
BUGS = {  # exercise id: words of the symptom its buggy original must be told
    "debugging.batch_targets": "y is x itself",
    "debugging.mask_future": "changes the logits at positions 0-2",
    "debugging.loss_reshape": "stalls at the entropy",
    "debugging.step_order": "every weight is where it started",
    "debugging.zero_grad": "then climbs",
    "debugging.eval_mode": "dropout is still switching",
    "debugging.sample_argmax": "same continuation",
    "debugging.sample_overflow": "NaN",
    "debugging.sample_crop": "index out of range",
    "debugging.decode_vocab": "nonsense",
}
FIXES = {
    "debugging.batch_targets": ch12.get_batch,
    "debugging.mask_future": ch12.causal_mask,
    "debugging.loss_reshape": ch12.loss_fn,
    "debugging.step_order": ch12.train_step,
    "debugging.zero_grad": ch12.train_step,
    "debugging.eval_mode": ch12.evaluate,
    "debugging.sample_argmax": ch12.sample,
    "debugging.sample_overflow": ch12.sample,
    "debugging.sample_crop": ch12.sample,
}


def test_chapter_twelve_has_its_bugs():
    records = {e.id: e for e in catalog() if e.chapter == 12}
    assert {i for i, e in records.items() if e.kind == "find-the-bug"} == set(BUGS)
    assert {e.kind for e in records.values()} == {
        "find-the-bug",
        "predict",
        "implement",
    }


@pytest.mark.parametrize("exercise_id", sorted(BUGS))
def test_the_buggy_original_fails_with_its_symptom(exercise_id):
    buggy = next(e.buggy for e in catalog() if e.id == exercise_id)
    result = check(exercise_id, buggy, quiet=True)
    assert result.attempted and not result.passed
    assert BUGS[exercise_id] in result.message, result.message


@pytest.mark.parametrize("exercise_id", sorted(FIXES))
def test_the_fixed_piece_passes(exercise_id):
    result = check(exercise_id, FIXES[exercise_id], quiet=True)
    assert result.passed, result.message


def test_the_fixed_decoder_passes():
    tok, *_ = ch12._corpus()
    assert check("debugging.decode_vocab", tok.decode, quiet=True).passed

    def fixed_decode(ids):
        return "".join(tok.chars[i] for i in ids)

    assert check("debugging.decode_vocab", fixed_decode, quiet=True).passed


def test_the_reference_pieces_are_the_chapters():
    """The module's pieces are the ones the chapter runs, character for character."""
    nb = json.loads(CHAPTER.read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for piece in (
        ch12.get_batch,
        ch12.causal_mask,
        ch12.forward,
        ch12.loss_fn,
        ch12.train_step,
        ch12.evaluate,
        ch12.sample,
    ):
        source = textwrap.dedent(inspect.getsource(piece)).strip()
        assert any(source in cell for cell in cells), piece.__name__


# ----------------------------------------------------------- typical wrong fixes
def _batch(shift):
    def get_batch(data, generator):
        starts = torch.randint(len(data) - 40, (16,), generator=generator).tolist()
        x = torch.stack([data[i + 2 : i + 34] for i in starts])
        y = torch.stack([data[i + 2 + shift : i + 34 + shift] for i in starts])
        return x, y

    return get_batch


@pytest.mark.parametrize(
    "answer, words",
    [
        (_batch(-1), "shifted by -1"),
        (_batch(2), "shifted by 2"),
        (lambda d, g: (torch.zeros(16, 32, dtype=torch.long),) * 2, "consecutive"),
        (lambda d, g: torch.zeros(16, 32), "return (x, y)"),
        (lambda d, g: (d[:32], d[1:33]), "shape (32,)"),
    ],
)
def test_batch_targets_wrong_fixes(answer, words):
    result = check("debugging.batch_targets", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda T: torch.ones(T, T, dtype=torch.bool), "positions 0-2"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "keep the diagonal"),
        (lambda T: torch.ones(T, T).tril(), "must be bool"),
        (lambda T: torch.eye(T, dtype=torch.bool), "every position 0 .. t"),
    ],
)
def test_mask_wrong_fixes(answer, words):
    result = check("debugging.mask_future", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def _flat(logits):
    return logits.reshape(-1, logits.shape[-1])


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            lambda lg, y: F.cross_entropy(_flat(lg), y.reshape(-1), reduction="sum"),
            "sum",
        ),
        (
            lambda lg, y: F.cross_entropy(_flat(lg).softmax(-1), y.reshape(-1)),
            "softmax",
        ),
        (lambda lg, y: F.cross_entropy(_flat(lg), y.flip(0).reshape(-1)), "differs"),
        (
            lambda lg, y: F.cross_entropy(lg.transpose(1, 2), y, reduction="none"),
            "one-number",
        ),
    ],
)
def test_loss_wrong_fixes(answer, words):
    assert check(
        "debugging.loss_reshape",
        lambda lg, y: F.cross_entropy(lg.transpose(1, 2), y),
        quiet=True,
    ).passed
    result = check("debugging.loss_reshape", answer, quiet=True)
    assert not result.passed and words in result.message, result.message


def _step(order, returns="item"):
    def train_step(optimizer, loss_of):
        loss = None
        for op in order:
            if op == "zero":
                optimizer.zero_grad()
            elif op == "loss":
                loss = loss_of()
            elif op == "backward":
                loss.backward()
            else:
                optimizer.step()
        return loss.item() if returns == "item" else loss

    return train_step


@pytest.mark.parametrize("exercise_id", ["debugging.step_order", "debugging.zero_grad"])
@pytest.mark.parametrize(
    "answer, words",
    [
        (_step(["loss", "backward", "step", "zero"]), "passes"),  # zero last: fine
        (_step(["zero", "loss", "step", "backward"]), "where it started"),
        (_step(["loss", "backward", "step"]), "then climbs"),
        (_step(["zero", "loss", "backward", "step"], returns="tensor"), "loss.item()"),
        (lambda opt, loss_of: None, "must return a float"),
    ],
)
def test_train_step_wrong_fixes(exercise_id, answer, words):
    result = check(exercise_id, answer, quiet=True)
    if words == "passes":
        assert result.passed, result.message
    else:
        assert not result.passed and words in result.message, result.message


def test_eval_mode_wrong_fixes():
    def forgets_train(model, data, batches=4):
        model.eval()
        generator = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            losses = [
                ch12.loss_fn(ch12.forward(model, x), y).item()
                for x, y in (ch12.get_batch(data, generator) for _ in range(4))
            ]
        return sum(losses) / batches

    def other_batches(model, data, batches=4):
        model.eval()
        generator = torch.Generator().manual_seed(99)
        x, y = ch12.get_batch(data, generator)
        with torch.no_grad():
            loss = ch12.loss_fn(ch12.forward(model, x), y).item()
        model.train()
        return loss

    result = check("debugging.eval_mode", forgets_train, quiet=True)
    assert not result.passed and "model.train()" in result.message
    result = check("debugging.eval_mode", other_batches, quiet=True)
    assert not result.passed and "the script's" in result.message


def _sampler(draw):
    def sample(model, prompt, n, generator, temperature=1.0):
        idx = prompt
        with torch.no_grad():
            for _ in range(n):
                logits = ch12.forward(model, idx[:, -ch12.BLOCK :])[:, -1, :]
                next_id = draw(logits / temperature, generator)
                idx = torch.cat([idx, next_id], dim=1)
        return idx

    return sample


@pytest.mark.parametrize(
    "exercise_id",
    ["debugging.sample_argmax", "debugging.sample_overflow", "debugging.sample_crop"],
)
def test_sample_wrong_fixes(exercise_id):
    def no_generator(scaled, generator):
        return torch.multinomial(torch.softmax(scaled, -1), 1)

    def max_subtracted(scaled, generator):
        shifted = (scaled - scaled.max(-1, keepdim=True).values).exp()
        return torch.multinomial(
            shifted / shifted.sum(-1, keepdim=True), 1, generator=generator
        )

    def new_only(model, prompt, n, generator, temperature=1.0):
        return ch12.sample(model, prompt, n, generator, temperature)[:, -n:]

    assert check(exercise_id, _sampler(max_subtracted), quiet=True).passed
    torch.manual_seed(0)
    result = check(exercise_id, _sampler(no_generator), quiet=True)
    assert not result.passed and "differ" in result.message
    result = check(exercise_id, new_only, quiet=True)
    assert not result.passed and "shape (1, 40)" in result.message


def test_decode_wrong_fixes():
    tok, *_ = ch12._corpus()
    all_text = sorted(set(ch12.load_corpus().text.lower()))

    def lowered(ids):
        return "".join(all_text[i] for i in ids if i < len(all_text))

    result = check("debugging.decode_vocab", lowered, quiet=True)
    assert not result.passed and "not the tokenizer's" in result.message
    result = check("debugging.decode_vocab", lambda ids: list(ids), quiet=True)
    assert not result.passed and "must return a str" in result.message


# ------------------------------------------------------------------ predictions
@pytest.mark.parametrize(
    "prediction, words",
    [
        (math.log(103), "PASS"),
        (4.6, "PASS"),
        (math.log2(103), "log2"),
        (103, "V or 1/V"),
        (1 / 103, "V or 1/V"),
        (0.0, "too low"),
        (9.0, "too high"),
        ("ln V", "as a number"),
    ],
)
def test_init_loss(prediction, words):
    result = check("debugging.init_loss", prediction, quiet=True)
    if words == "PASS":
        assert result.passed and "ln V" in result.message, result.message
    else:
        assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    "prediction, words",
    [
        (12, "PASS"),
        (32, "no mask"),
        (11, "off by one"),
        (1, "only position 20"),
        (20, "not it"),
        (None, "not attempted"),
    ],
)
def test_perturb_count(prediction, words):
    result = check("debugging.perturb_count", prediction, quiet=True)
    if words == "PASS":
        assert result.passed and "12 positions change (20 to 31)" in result.message
    else:
        assert not result.passed and words in result.message, result.message


def test_grad_norm():
    def right(model):
        squares = [
            p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None
        ]
        return math.sqrt(sum(s.item() for s in squares))

    def clip(model):
        return torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")).item()

    def summed(model):
        return sum(
            p.grad.norm().item() for p in model.parameters() if p.grad is not None
        )

    def clipping(model):
        return torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3).item()

    def squared(model):
        return right(model) ** 2

    def as_tensor(model):
        return torch.tensor(right(model))

    for answer in (right, clip, as_tensor):
        assert check("debugging.grad_norm", answer, quiet=True).passed
    for answer, words in (
        (summed, "add the norms"),
        (clipping, "changed the gradients"),
        (squared, "squared norm"),
    ):
        result = check("debugging.grad_norm", answer, quiet=True)
        assert not result.passed and words in result.message, result.message
    result = check(
        "debugging.grad_norm",
        lambda m: next(m.parameters()).grad.norm().item(),
        quiet=True,
    )
    assert not result.passed
