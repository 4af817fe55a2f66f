"""Chapter 07: a training loop's real bugs (a schedule off by one, gradients never
zeroed, evaluation left in training mode), AdamW's decay groups, the loss at
initialisation, the schedule's midpoint, and what a learning rate changes."""

import dataclasses
import functools
import math

import torch
from torch import nn

from course_lib.batching import get_batch
from course_lib.exercises import Fail, exercise
from course_lib.training import TrainConfig, lr_at

# (lr, min_lr, warmup_steps, max_steps) the schedule is checked on
_SCHEDULE = (1e-3, 1e-4, 10, 100)


def _schedule_reference(step: int) -> float:
    lr, min_lr, warmup, max_steps = _SCHEDULE
    config = TrainConfig(max_steps=max_steps, lr=lr, min_lr=min_lr, warmup_steps=warmup)
    return lr_at(step, config)


def _number(answer, what: str) -> float:
    """A prediction or a reported result as a float; anything else is a verdict."""
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise Fail(f"write {what} as a number (a float), got {type(answer).__name__}.")
    if not math.isfinite(answer):
        raise Fail(f"write {what} as a finite number, got {answer}.")
    return float(answer)


@functools.cache
def _corpus_splits():
    """The chapter's character-level text: (train_data, val_data, V)."""
    from course_lib.batching import train_val_split
    from course_lib.corpora import load_corpus
    from course_lib.tokenizers import CharTokenizer

    text = load_corpus().text
    tok = CharTokenizer.from_text(text)
    train_data, val_data = train_val_split(torch.tensor(tok.encode(text)), 0.1)
    return train_data, val_data, tok.vocab_size


# --- find-the-bug: the schedule off by one
def buggy_lr_schedule(step, lr, min_lr, warmup_steps, max_steps):
    if step < warmup_steps:
        return lr * step / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


@exercise(
    "training.lr_schedule",
    "buggy_lr_schedule: warmup then cosine to min_lr, with one bug; find and fix it",
    kind="find-the-bug",
    hints=(
        "Compare its first few rates with lr_at's. Which optimizer step gets a "
        "learning rate that moves no weight at all?",
        "Steps are counted from 0. With lr * step / warmup_steps, step 0 gets 0 and "
        "the peak is only reached one step after the warmup.",
        "During the warmup return lr * (step + 1) / warmup_steps; keep "
        "`step < warmup_steps` (with <= the warmup overshoots the peak).",
    ),
    buggy=buggy_lr_schedule,
)
def check_lr_schedule(lr_schedule) -> str:
    lr, min_lr, warmup, max_steps = _SCHEDULE
    steps = range(max_steps + 5)
    try:
        got = [float(lr_schedule(s, lr, min_lr, warmup, max_steps)) for s in steps]
    except (TypeError, ValueError) as error:
        raise Fail(
            f"calling lr_schedule(step, lr, min_lr, warmup_steps, max_steps) failed "
            f"({error}); it must return one float per step."
        ) from error
    want = [_schedule_reference(s) for s in steps]
    if all(
        math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-12)
        for g, w in zip(got, want, strict=True)
    ):
        return "warmup then cosine, the same numbers as course_lib.training.lr_at."
    if math.isclose(got[0], 0.0, abs_tol=1e-12):
        raise Fail(
            "step 0 gets learning rate 0, so the first update is wasted: warm up with "
            "lr * (step + 1) / warmup_steps."
        )
    if math.isclose(got[0], lr, rel_tol=1e-6):
        raise Fail(
            "step 0 already has the peak lr: there is no warmup. For step < "
            "warmup_steps use lr * (step + 1) / warmup_steps."
        )
    over = [s for s in steps if got[s] > lr * (1 + 1e-6)]
    if over:
        raise Fail(
            f"step {over[0]} gets {got[over[0]]:.4g}, above the peak lr={lr}: the "
            "warmup runs one step too long (`step < warmup_steps`, not `<=`)."
        )
    if all(
        math.isclose(g, w, rel_tol=1e-6)
        for g, w in zip(got[:warmup], want[:warmup], strict=True)
    ):
        if all(
            math.isclose(got[s], _cos_to(0.0, s), rel_tol=1e-6, abs_tol=1e-12)
            for s in range(warmup, max_steps)
        ):
            raise Fail(
                "your cosine ends at 0: it must end at min_lr, "
                "min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr)."
            )
        if all(math.isclose(got[s], want[s], rel_tol=1e-6) for s in range(max_steps)):
            raise Fail(
                f"after max_steps the rate should stay at min_lr={min_lr}, got "
                f"{got[max_steps + 2]:.3g} at step {max_steps + 2}."
            )
        bad = next(s for s in steps if not math.isclose(got[s], want[s], rel_tol=1e-6))
        raise Fail(
            f"the warmup is right but the decay is not: step {bad} gives "
            f"{got[bad]:.4g}, expected {want[bad]:.4g}. progress = (step - "
            "warmup_steps) / (max_steps - warmup_steps) runs from 0 to 1."
        )
    bad = next(s for s in steps if not math.isclose(got[s], want[s], rel_tol=1e-6))
    raise Fail(
        f"step {bad} gives {got[bad]:.4g}, expected {want[bad]:.4g}. During the "
        "warmup the rate is lr * (step + 1) / warmup_steps."
    )


def _cos_to(floor: float, step: int) -> float:
    """The cosine of the checked schedule, decaying to ``floor`` instead of min_lr."""
    lr, _, warmup, max_steps = _SCHEDULE
    progress = (step - warmup) / (max_steps - warmup)
    return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - floor)


# --- find-the-bug: gradients that are never zeroed
def buggy_train_steps(model, optimizer, batches):
    losses = []
    for x, y in batches:
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _reference_steps(model, optimizer, batches) -> list[float]:
    losses = []
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _tiny_run(steps_fn, steps: int = 12):
    """A 1-layer GPT, AdamW and fixed batches of random ids; returns (model, losses
    or whatever steps_fn returned)."""
    from course_lib.gpt import GPT, GPTConfig

    g = torch.Generator().manual_seed(0)
    batches = [
        (x[:, :-1], x[:, 1:])
        for x in (torch.randint(11, (4, 9), generator=g) for _ in range(steps))
    ]
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=11, block_size=8, num_layers=1, num_heads=2, d_model=8
    )
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, steps_fn(model, optimizer, batches)


@exercise(
    "training.zero_grad",
    "buggy_train_steps: a plain training loop whose loss climbs back up; find and "
    "fix its one bug",
    kind="find-the-bug",
    hints=(
        "loss.backward() does not replace the .grad of each parameter: it adds to "
        "whatever is there already.",
        "So at step t the optimizer sees the sum of the gradients of steps 0..t, "
        "mostly stale directions. Something must clear them at every step.",
        "Call optimizer.zero_grad() at the start of each step, before "
        "loss.backward() (not between backward and optimizer.step()).",
    ),
    buggy=buggy_train_steps,
)
def check_zero_grad(train_steps) -> str:
    ref_model, want = _tiny_run(_reference_steps)
    model, got = _tiny_run(train_steps)
    if not isinstance(got, (list, tuple)) or len(got) != len(want):
        raise Fail(f"return the list of {len(want)} losses, one float per batch.")
    try:
        got = [float(v) for v in got]
    except (TypeError, ValueError) as error:
        raise Fail("return the losses as floats (loss.item()).") from error
    start = dict(_tiny_run(lambda m, o, b: m)[0].named_parameters())
    pairs = list(zip(model.parameters(), ref_model.parameters(), strict=True))
    if all(torch.allclose(p, q, atol=1e-6) for p, q in pairs) and all(
        math.isclose(a, b, rel_tol=1e-5) for a, b in zip(got, want, strict=True)
    ):
        return "one fresh gradient per step: the same losses and weights as the fix."
    if all(torch.equal(p, start[n]) for n, p in model.named_parameters()):
        raise Fail(
            "the weights never change: the gradients are zeroed after backward and "
            "before optimizer.step(), so the step sees none. Zero them first."
        )
    raise Fail(
        f"the losses differ from a loop that starts each step with fresh gradients "
        f"(step {len(got)}: {got[-1]:.3f}, expected {want[-1]:.3f}): the gradients "
        "still pile up from step to step. Zero them inside the loop, at every step."
    )


# --- find-the-bug: evaluation in training mode
def buggy_estimate_loss(model, data, batches=10):
    g = torch.Generator().manual_seed(1)
    losses = []
    with torch.no_grad():
        for _ in range(batches):
            x, y = get_batch(data, 64, 16, generator=g)
            losses.append(model(x, y)[1].item())
    return sum(losses) / len(losses)


def _dropout_gpt():
    """The course's reference GPT, rebuilt with dropout 0.1 (the weights are the
    same; dropout only acts in training mode), in training mode."""
    from course_lib.artefacts import load_reference_gpt
    from course_lib.gpt import GPT

    reference, _, _ = load_reference_gpt()
    model = GPT(dataclasses.replace(reference.config, dropout=0.1))
    model.load_state_dict(reference.state_dict())
    return model.train()


@exercise(
    "training.eval_mode",
    "buggy_estimate_loss: a validation loss that changes from call to call; find "
    "and fix its one bug",
    kind="find-the-bug",
    hints=(
        "Call it twice on the same model and data: the batches are the same (the "
        "generator is seeded), yet the numbers differ. What else is random?",
        "Dropout zeroes a random tenth of the activations, but only while the "
        "model is in training mode.",
        "Call model.eval() before the loop and model.train() after it (restore "
        "the mode it had: training continues after an evaluation).",
    ),
    buggy=buggy_estimate_loss,
)
def check_eval_mode(estimate_loss) -> str:
    _, val_data, _ = _corpus_splits()
    val_data = val_data[:20_000]
    model = _dropout_gpt()
    first = estimate_loss(model, val_data, 2)
    left_in_eval = not model.training
    second = estimate_loss(model.train(), val_data, 2)
    first, second = _number(first, "the loss"), _number(second, "the loss")
    model.eval()
    want = buggy_estimate_loss(model, val_data, 2)  # in eval mode it is right
    if not math.isclose(first, second, rel_tol=1e-5):
        raise Fail(
            f"two calls on the same model and batches gave {first:.3f} and "
            f"{second:.3f}: dropout is still on during the evaluation. torch.no_grad "
            "does not turn it off; model.eval() does."
        )
    if not math.isclose(first, want, rel_tol=1e-4):
        raise Fail(
            f"your loss is {first:.3f}, expected {want:.3f} (the mean over the same "
            "batches with the model in eval mode). Keep the batches as they were."
        )
    if left_in_eval:
        raise Fail(
            "the number is right, but the model comes back in eval mode: the training "
            "that follows would run without dropout. Call model.train() at the end."
        )
    return (
        f"{first:.3f} at every call (in training mode it was about 0.6 higher and "
        "random); the model goes back to training mode."
    )


# --- implement: AdamW's decay groups
class _Tiny(nn.Module):
    """A model with a tied weight, a bias-free Linear and a LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.linear = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.out = nn.Linear(4, 5, bias=False)
        self.out.weight = self.emb.weight  # tied


@exercise(
    "training.decay_groups",
    "decay_groups(model): (decay, no_decay) lists of parameters: matrices are decayed, "
    "biases and LayerNorm gains are not",
    kind="implement",
    hints=(
        "Which parameters have two or more dimensions? Those are the matrices "
        "(Linear weights, embedding tables).",
        "Walk model.parameters(): it lists a tied tensor once. Walking the modules "
        "would meet the shared embedding / read-out weight twice.",
        "decay = [p for p in model.parameters() if p.dim() >= 2]; no_decay = the "
        "others (p.dim() < 2); return decay, no_decay.",
    ),
)
def check_decay_groups(decay_groups) -> str:
    model = _Tiny()
    got = decay_groups(model)
    if (
        not isinstance(got, (list, tuple))
        or len(got) != 2
        or not all(isinstance(g, (list, tuple)) for g in got)
    ):
        raise Fail("return two lists of parameters: (decay, no_decay).")
    decay, no_decay = (list(g) for g in got)
    ids = {id(p) for p in decay}, {id(p) for p in no_decay}
    want = (
        {id(model.emb.weight), id(model.linear.weight)},
        {id(model.linear.bias), id(model.norm.weight), id(model.norm.bias)},
    )
    if len(decay) != len(ids[0]) or len(no_decay) != len(ids[1]):
        raise Fail(
            "a parameter appears twice: the tied embedding / output weight is one "
            "tensor; iterate over model.parameters(), which lists it once."
        )
    if ids == want:
        return "matrices decayed, biases and LayerNorm parameters not; tied once."
    if ids == (want[1], want[0]):
        raise Fail("the two lists are swapped: decay the matrices (p.dim() >= 2).")
    if id(model.norm.weight) in ids[0] or id(model.linear.bias) in ids[0]:
        raise Fail(
            "a bias or a LayerNorm gain is in the decay group: decay only "
            "parameters with p.dim() >= 2."
        )
    raise Fail(
        "some parameters are missing: every parameter must be in exactly one group."
    )


# --- predict: the loss at initialisation
_INIT_V = 1000


def _init_loss() -> float:
    from course_lib.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=_INIT_V, block_size=32, num_layers=2, num_heads=2, d_model=32
    )
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(_INIT_V, (8, 33), generator=g)
    with torch.no_grad():
        return GPT(config)(ids[:, :-1], ids[:, 1:])[1].item()


@exercise(
    "training.init_loss",
    "predict the loss of a freshly initialised GPT over a vocabulary of 1,000 "
    "tokens, on random token ids",
    kind="predict",
    hints=(
        "At initialisation the logits are all small, so the softmax is nearly "
        "uniform: every token gets about the same probability.",
        "The loss is -ln(probability of the right token), in nats (natural log).",
        "About ln 1000 = 6.91: each of the 1,000 tokens gets about 1/1000.",
    ),
)
def check_init_loss(prediction) -> str:
    guess = _number(prediction, "your prediction")
    measured = _init_loss()
    if abs(guess - measured) <= 0.1:
        return (
            f"measured {measured:.2f}, ln 1000 = {math.log(_INIT_V):.2f}: small "
            "logits give a near-uniform guess, -ln(1/V) = ln V."
        )
    wrong = [  # (value, tolerance, what it is)
        (
            0.0,
            1e-6,
            "a loss of 0 means certainty about every next token; an "
            "untrained model knows nothing",
        ),
        (
            1 / _INIT_V,
            5e-4,
            "that is the probability of the right token; the loss is -ln of it",
        ),
        (
            math.log2(_INIT_V),
            0.1,
            "that is log2(1000), in bits; the loss uses the natural log (nats)",
        ),
        (
            math.log10(_INIT_V),
            0.05,
            "that is log10(1000); the loss uses the natural log",
        ),
        (
            math.log(103),
            0.1,
            "that is ln 103, for the chapter's 103 characters; here V is 1,000",
        ),
    ]
    for value, tolerance, why in wrong:
        if abs(guess - value) <= tolerance:
            raise Fail(f"{why}. Measured: {measured:.2f}.")
    raise Fail(
        f"measured {measured:.2f} (you said {guess:g}). A near-uniform guess over V "
        "tokens gives each 1/V: loss -ln(1/V) = ln V."
    )


# --- predict: the schedule's midpoint
_RUN = TrainConfig(max_steps=400, lr=3e-3, min_lr=3e-4, warmup_steps=50)
_MID = 225


@exercise(
    "training.lr_midpoint",
    "predict the learning rate at step 225 of the chapter's run (lr 3e-3, min_lr "
    "3e-4, warmup 50 of 400 steps)",
    kind="predict",
    hints=(
        "Where is step 225 in the cosine part? progress = (step - warmup) / "
        "(max_steps - warmup).",
        "progress = 175 / 350 = 0.5, and cos(pi / 2) = 0.",
        "min_lr + 0.5 * (lr - min_lr) = (lr + min_lr) / 2 = 1.65e-3.",
    ),
)
def check_lr_midpoint(prediction) -> str:
    guess = _number(prediction, "your prediction")
    want = lr_at(_MID, _RUN)
    lr, min_lr = _RUN.lr, _RUN.min_lr
    if math.isclose(guess, want, rel_tol=0.01):
        return (
            f"lr_at gives {want:.3g}: halfway through the cosine the rate is halfway "
            "between lr and min_lr."
        )
    if math.isclose(guess, lr / 2, rel_tol=0.01):
        raise Fail(
            "half the peak, as if the cosine fell to 0; it falls to min_lr, so the "
            f"midpoint is (lr + min_lr) / 2. lr_at says {want:.3g}."
        )
    if math.isclose(guess, lr, rel_tol=0.01):
        raise Fail(
            f"that is the peak, reached at the end of the warmup (step 49); the "
            f"cosine has been decaying since. lr_at says {want:.3g}."
        )
    if math.isclose(guess, min_lr, rel_tol=0.01):
        raise Fail(f"that is the floor, reached at step 400. lr_at says {want:.3g}.")
    raise Fail(
        f"lr_at({_MID}) is {want:.3g} (you said {guess:g}). progress = (225 - 50) / "
        "(400 - 50) = 0.5 of the cosine."
    )


# --- modify: the bigram's learning rate
_BIGRAM_LR = 0.01


@functools.cache
def bigram_run(lr: float) -> float:
    """The chapter's modify cell: the bigram trained for 100 steps at ``lr``; its
    validation loss."""
    from course_lib.baselines import BigramLanguageModel
    from course_lib.training import train

    train_data, val_data, V = _corpus_splits()
    config = TrainConfig(
        max_steps=100,
        batch_size=16,
        block_size=32,
        lr=lr,
        min_lr=lr / 10,
        warmup_steps=10,
        eval_interval=100,
        eval_steps=4,
        progress=False,
    )
    torch.manual_seed(0)
    history = train(BigramLanguageModel(V), train_data, val_data, config)
    return history["val_loss"][-1]


@exercise(
    "training.bigram_lr",
    "modify: train the bigram at lr 0.01 instead of 0.1 and report its validation "
    "loss after 100 steps",
    kind="modify",
    hints=(
        "Change only `lr = 0.1` to `lr = 0.01` in the cell, run it, and copy the "
        "validation loss it prints.",
        "Adam moves each weight by about lr per step, whatever the gradient's size. "
        "The table starts at random logits of size about 1.",
        "At lr 0.01, 100 steps move each logit by at most about 1: the loss is still "
        "far above the one at lr 0.1.",
    ),
)
def check_bigram_lr(reported) -> str:
    got = _number(reported, "the validation loss the cell printed")
    want = bigram_run(_BIGRAM_LR)
    if abs(got - want) <= 0.02:
        return (
            f"{want:.2f}: at lr 0.01 Adam moves each logit by at most about 1 in 100 "
            "steps, too little to undo its random start."
        )
    if abs(got - bigram_run(0.1)) <= 0.02:
        raise Fail(
            "that is the number of the cell as shipped (lr 0.1): change lr to 0.01 "
            "and run it again."
        )
    raise Fail(
        f"the run at lr 0.01 gives {want:.2f}, not {got:g}: change only lr in the "
        "cell (keep the seed, the steps and the batch) and report the printed loss."
    )
