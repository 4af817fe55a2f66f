"""Chapter 12: a small GPT training script with one bug planted at a time.

The script is cut into small pieces (the batch, the mask, the forward pass, the loss,
the training step, the evaluation, the sampler, the decoder); the chapter shows each
piece, then a version of one piece with one bug, runs it, and shows the symptom. The
reference pieces below are the chapter's, character for character
(tests/test_exercises_ch12.py checks it); each ``buggy_*`` function is the version the
chapter runs. Every checker calls the learner's fixed piece the way the script does,
on a tiny model (a direct check, well under a second) and says what the symptom would
be if the bug were still there.

Like the chapter, the pieces read the script's globals (``BLOCK``, ``forward``,
``loss_fn``, ``tok``, ``val_text``); here ``tok`` and ``val_text`` are filled in by
:func:`_corpus` the first time a checker needs them, never at import.
"""

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from course_lib.batching import train_val_split
from course_lib.corpora import load_corpus
from course_lib.exercises import Fail, exercise
from course_lib.gpt import GPT, GPTConfig
from course_lib.tokenizers import CharTokenizer

tok = val_text = None  # the chapter's tokenizer and validation text, see _corpus()

# ------------------------------------------------------------ the script, as shipped
BATCH, BLOCK = 16, 32  # B sequences of T = BLOCK characters per step


def get_batch(data, generator):
    """B random windows of ``data``: inputs x and targets y, both (B, T)."""
    starts = torch.randint(len(data) - BLOCK, (BATCH,), generator=generator).tolist()
    x = torch.stack([data[i : i + BLOCK] for i in starts])
    y = torch.stack([data[i + 1 : i + BLOCK + 1] for i in starts])  # the next ones
    return x, y


def causal_mask(T):
    """(T, T) bool, True = may attend: position t sees positions 0 .. t."""
    return torch.ones(T, T, dtype=torch.bool).tril()


def forward(model, idx, mask_fn=causal_mask):
    """The GPT's own layers, run one by one so each piece can be swapped:
    ids (B, T) -> logits (B, T, V)."""
    T = idx.shape[1]
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(T))  # (B, T, C)
    x = model.drop(x)
    for block in model.blocks:
        x, _ = block(x, mask_fn(T))  # masked self-attention, then feed-forward
    return model.lm_head(model.norm_f(x))  # (B, T, C) -> (B, T, V)


def loss_fn(logits, y):
    """Mean cross-entropy of logits (B, T, V) against the targets y (B, T)."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), y.reshape(B * T))


def train_step(optimizer, loss_of):
    """One update; ``loss_of()`` runs the model on this step's batch."""
    optimizer.zero_grad()
    loss = loss_of()
    loss.backward()
    optimizer.step()
    return loss.item()


def evaluate(model, data, batches=4):
    """Mean loss on the same ``batches`` batches of ``data`` at every call."""
    generator = torch.Generator().manual_seed(1234)
    model.eval()  # dropout off
    total = 0.0
    with torch.no_grad():
        for _ in range(batches):
            x, y = get_batch(data, generator)
            total += loss_fn(forward(model, x), y).item()
    model.train()
    return total / batches


def sample(model, prompt, n, generator, temperature=1.0):
    """Continue the ids ``prompt`` (1, t) by n ids drawn one at a time."""
    model.eval()
    idx = prompt
    with torch.no_grad():
        for _ in range(n):
            logits = forward(model, idx[:, -BLOCK:])[:, -1, :]  # (1, V): last position
            scaled = logits / temperature
            probs = torch.softmax(scaled, dim=-1)
            next_id = torch.multinomial(probs, 1, generator=generator)  # (1, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (1, t + 1)
    return idx


# --------------------------------------------------- the same pieces, one bug each
def buggy_get_batch(data, generator):
    """B random windows of ``data``: inputs x and targets y, both (B, T)."""
    starts = torch.randint(len(data) - BLOCK, (BATCH,), generator=generator).tolist()
    x = torch.stack([data[i : i + BLOCK] for i in starts])
    y = torch.stack([data[i : i + BLOCK] for i in starts])  # the next ones
    return x, y


def buggy_causal_mask(T):
    """(T, T) bool, True = may attend: position t sees positions 0 .. t."""
    return torch.ones(T, T, dtype=torch.bool).triu()


def buggy_loss_fn(logits, y):
    """Mean cross-entropy of logits (B, T, V) against the targets y (B, T)."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), y.transpose(0, 1).reshape(B * T))


def buggy_step_order(optimizer, loss_of):
    """One update; ``loss_of()`` runs the model on this step's batch."""
    loss = loss_of()
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def buggy_zero_grad(optimizer, loss_of):
    """One update; ``loss_of()`` runs the model on this step's batch."""
    loss = loss_of()
    loss.backward()
    optimizer.step()
    return loss.item()


def buggy_evaluate(model, data, batches=4):
    """Mean loss on the same ``batches`` batches of ``data`` at every call."""
    generator = torch.Generator().manual_seed(1234)
    total = 0.0
    with torch.no_grad():
        for _ in range(batches):
            x, y = get_batch(data, generator)
            total += loss_fn(forward(model, x), y).item()
    model.train()
    return total / batches


def buggy_sample_argmax(model, prompt, n, generator, temperature=1.0):
    """Continue the ids ``prompt`` (1, t) by n ids drawn one at a time."""
    model.eval()
    idx = prompt
    with torch.no_grad():
        for _ in range(n):
            logits = forward(model, idx[:, -BLOCK:])[:, -1, :]  # (1, V): last position
            scaled = logits / temperature
            probs = torch.softmax(scaled, dim=-1)
            next_id = probs.argmax(dim=-1, keepdim=True)  # (1, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (1, t + 1)
    return idx


def buggy_sample_overflow(model, prompt, n, generator, temperature=1.0):
    """Continue the ids ``prompt`` (1, t) by n ids drawn one at a time."""
    model.eval()
    idx = prompt
    with torch.no_grad():
        for _ in range(n):
            logits = forward(model, idx[:, -BLOCK:])[:, -1, :]  # (1, V): last position
            scaled = logits / temperature
            probs = scaled.exp() / scaled.exp().sum(dim=-1, keepdim=True)
            next_id = torch.multinomial(probs, 1, generator=generator)  # (1, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (1, t + 1)
    return idx


def buggy_sample_crop(model, prompt, n, generator, temperature=1.0):
    """Continue the ids ``prompt`` (1, t) by n ids drawn one at a time."""
    model.eval()
    idx = prompt
    with torch.no_grad():
        for _ in range(n):
            logits = forward(model, idx)[:, -1, :]  # (1, V): last position
            scaled = logits / temperature
            probs = torch.softmax(scaled, dim=-1)
            next_id = torch.multinomial(probs, 1, generator=generator)  # (1, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (1, t + 1)
    return idx


def buggy_decode(ids):
    """Token ids -> text."""
    chars = sorted(set(val_text))  # the vocabulary: the sorted characters
    return "".join(chars[i] for i in ids)


# ------------------------------------------------------------------------ helpers
@lru_cache(maxsize=1)
def _corpus():
    """(tokenizer, training ids, validation ids) of the chapter; sets ``tok`` and
    ``val_text`` for the pieces above."""
    global tok, val_text
    text = load_corpus().text
    tok = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(torch.tensor(tok.encode(text)))
    val_text = text[len(train_ids) :]
    return tok, train_ids, val_ids


def _model(vocab=20, seed=0, dropout=0.0, layers=1, width=16, heads=2):
    """A small GPT, seeded, without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = GPTConfig(
            vocab_size=vocab,
            block_size=BLOCK,
            num_layers=layers,
            num_heads=heads,
            d_model=width,
            dropout=dropout,
        )
        return GPT(config)


def _ids(seed, shape, vocab=20):
    return torch.randint(vocab, shape, generator=torch.Generator().manual_seed(seed))


def _number(answer, what: str) -> float:
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise Fail(
            f"write your prediction as a number ({what}), e.g. `prediction = 3`; "
            f"got {type(answer).__name__}."
        )
    if not math.isfinite(answer):
        raise Fail(f"your prediction is {answer}: give a finite number.")
    return float(answer)


def _float(value, what: str) -> float:
    if (
        isinstance(value, torch.Tensor)
        and value.numel() == 1
        and value.is_floating_point()
    ):
        raise Fail(
            f"{what} returns a tensor; return a Python float, as the script does "
            "(loss.item())."
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Fail(f"{what} must return a float, got {type(value).__name__}.")
    return float(value)


def _tensor(value, shape, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Fail(f"{what} must return a tensor, got {type(value).__name__}.")
    if tuple(value.shape) != tuple(shape):
        raise Fail(
            f"{what} returned shape {tuple(value.shape)}, expected {tuple(shape)}."
        )
    return value


def _future_change(mask_fn, t=3, T=6) -> list[float]:
    """Change the token at position t of a (1, T) input; the largest change of the
    logits at each position 0 .. T-1, with ``mask_fn`` as the mask."""
    model = _model(seed=3)
    idx = _ids(4, (1, T))
    other = idx.clone()
    other[0, t] = (other[0, t] + 1) % 20
    with torch.no_grad():
        a, b = forward(model, idx, mask_fn), forward(model, other, mask_fn)
    return (a - b).abs().amax(-1)[0].tolist()


# ---------------------------------------------------------------- the exercises
@exercise(
    "debugging.init_loss",
    "predict: the loss of the untrained model at step 0, for V = 103 characters",
    kind="predict",
    hints=(
        "An untrained model knows nothing yet: what probability does it give each of "
        "the V characters?",
        "The loss is -ln(probability of the right character), averaged.",
        "-ln(1 / V) = ln V; for V = 103 that is about 4.63.",
    ),
)
def check_init_loss(prediction) -> str:
    guess = _number(prediction, "a loss in nats")
    tok_, train_ids, _ = _corpus()
    V = tok_.vocab_size
    model = _model(vocab=V, layers=2, width=64, heads=4)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x, y = get_batch(train_ids, generator)
        measured = loss_fn(forward(model, x), y).item()
    why = (
        f"the measured loss at step 0 is {measured:.2f} and ln V = ln {V} = "
        f"{math.log(V):.2f}: a model that spreads its probability evenly pays "
        "-ln(1/V) per character."
    )
    if abs(guess - math.log(V)) <= 0.15 or abs(guess - measured) <= 0.15:
        return f"{why} A first loss far from it means a bug before any training."
    if abs(guess - math.log2(V)) < 0.1:
        raise Fail(f"{guess:g} is log2(V), in bits; cross_entropy uses ln. {why}")
    if abs(guess - V) < 1 or abs(guess - 1 / V) < 1e-3:
        raise Fail(f"{guess:g} is V or 1/V, not a loss; take -ln of a probability.")
    if guess < measured:
        raise Fail(
            f"{guess:g} is too low: an untrained model cannot be that sure of the "
            "right character. What does it give each of the V characters?"
        )
    raise Fail(f"{guess:g} is too high. Think of a uniform guess over V characters.")


@exercise(
    "debugging.batch_targets",
    "fix get_batch: the model learns to copy, its loss falls to almost 0",
    kind="find-the-bug",
    hints=(
        "Print x[0, :10] and y[0, :10] side by side. What should y[0, t] be?",
        "The target at position t is the character that comes after x[0, t].",
        "y = torch.stack([data[i + 1 : i + BLOCK + 1] for i in starts])",
    ),
    buggy=buggy_get_batch,
)
def check_batch_targets(get_batch_fn) -> str:
    data = torch.arange(1000)  # the id of each character is its position
    out = get_batch_fn(data, torch.Generator().manual_seed(0))
    if not isinstance(out, tuple) or len(out) != 2:
        raise Fail(f"get_batch must return (x, y), got {type(out).__name__}.")
    x = _tensor(out[0], (BATCH, BLOCK), "get_batch's x")
    y = _tensor(out[1], (BATCH, BLOCK), "get_batch's y")
    if not bool((x[:, 1:] - x[:, :-1] == 1).all()):
        raise Fail("each row of x must be a window of consecutive characters.")
    if torch.equal(x, y):
        raise Fail(
            "y is x itself: the model is asked for the character it is reading, "
            "so the loss falls to almost 0 and the samples repeat the last "
            "character. The target is the next character."
        )
    shift = (y - x).unique().tolist()
    if shift == [1]:
        return "y[b, t] is the character after x[b, t]: next-token prediction."
    if len(shift) == 1:
        raise Fail(f"y is x shifted by {shift[0]}; the target is x shifted by +1.")
    raise Fail("y must be x shifted by one: y[b, t] = data[start + t + 1].")


@exercise(
    "debugging.mask_future",
    "fix causal_mask: the validation loss is too good to be true",
    kind="find-the-bug",
    hints=(
        "Perturb a later token and look at the earlier logits, as the chapter does.",
        "Print causal_mask(4): which positions may position 0 attend to?",
        "The lower triangle: torch.ones(T, T, dtype=torch.bool).tril()",
    ),
    buggy=buggy_causal_mask,
)
def check_mask_future(mask_fn) -> str:
    T = 6
    mask = _tensor(mask_fn(T), (T, T), "causal_mask(6)")
    if mask.dtype != torch.bool:
        raise Fail(f"the mask must be bool (True = may attend), got {mask.dtype}.")
    right = torch.ones(T, T, dtype=torch.bool).tril()
    change = _future_change(mask_fn)
    if (mask & ~right).any():
        raise Fail(
            "changing the token at position 3 changes the logits at positions 0-2 "
            f"(by up to {max(change[:3]):.2g}): each position sees later characters, "
            "the one it must predict included, so the loss falls far below what an "
            "honest model reaches. Position t may attend to 0 .. t only."
        )
    if torch.equal(mask, right.tril(-1)):
        raise Fail(
            "no position may attend to itself, and position 0 attends to nothing: "
            "keep the diagonal (position t sees 0 .. t)."
        )
    if not torch.equal(mask, right):
        raise Fail("position t must see every position 0 .. t: the lower triangle.")
    return (
        "changing the token at position 3 leaves the logits at positions 0-2 "
        f"unchanged (largest change {max(change[:3]):.1g}): no peeking."
    )


@exercise(
    "debugging.perturb_count",
    "predict: how many of 32 positions' logits change when the token at 20 does",
    kind="predict",
    hints=(
        "With a causal mask, which positions can see position 20?",
        "Positions 20, 21, ..., 31 all attend to position 20; 0 .. 19 do not.",
        "From 20 to 31 inclusive: 12 positions.",
    ),
)
def check_perturb_count(prediction) -> str:
    guess = _number(prediction, "a count of positions")
    change = _future_change(causal_mask, t=20, T=BLOCK)
    changed = [i for i, c in enumerate(change) if c > 1e-6]
    count = len(changed)
    why = (
        f"{count} positions change ({changed[0]} to {changed[-1]}): position 20 "
        "itself and every later one, which may attend to it; 0 .. 19 cannot see it."
    )
    if guess == count:
        return why
    if guess == BLOCK:
        raise Fail(f"{guess:g} would mean no mask: every position sees all. {why}")
    if guess == count - 1:
        raise Fail(f"{guess:g}: off by one; does position 20 see itself? {why}")
    if guess == 1:
        raise Fail(f"{guess:g}: only position 20? Later positions attend to it. {why}")
    raise Fail(f"{guess:g} is not it. {why}")


@exercise(
    "debugging.loss_reshape",
    "fix loss_fn: the loss stalls near 3.3 while the model should go lower",
    kind="find-the-bug",
    hints=(
        "Both logits and targets are flattened to B * T rows: is row k of one the "
        "same (b, t) as row k of the other?",
        "logits.reshape(B * T, V) walks b then t; does the targets' reshape?",
        "Flatten y as it is: y.reshape(B * T).",
    ),
    buggy=buggy_loss_fn,
)
def check_loss_reshape(loss_fn_) -> str:
    B, T, V = 2, 3, 5
    logits = torch.randn(B, T, V, generator=torch.Generator().manual_seed(5))
    y = _ids(6, (B, T), vocab=V)
    out = loss_fn_(logits, y)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise Fail(f"loss_fn must return a one-number tensor, got {out!r:.60}.")
    flat = logits.reshape(B * T, V)
    right = F.cross_entropy(flat, y.reshape(-1))
    if torch.allclose(out, right, atol=1e-5):
        return "each row of logits is scored against its own (b, t) target."
    if torch.allclose(out, F.cross_entropy(flat, y.transpose(0, 1).reshape(-1))):
        raise Fail(
            "the targets are flattened in another order than the logits, so each "
            "prediction is scored against another position's character. The model "
            "can only learn how common each character is, and the loss stalls at "
            "the entropy of the character frequencies (3.25 nats on this corpus)."
        )
    if torch.allclose(out, right * B * T, atol=1e-4):
        raise Fail("you sum the loss over positions; the script averages (mean).")
    if torch.allclose(out, F.cross_entropy(flat.softmax(-1), y.reshape(-1))):
        raise Fail("cross_entropy takes logits; you apply softmax first.")
    raise Fail("your loss differs from F.cross_entropy on (B * T, V) and (B * T,).")


def _steps(step_fn, steps=3):
    """Three steps of ``step_fn`` on a small GPT (AdamW without weight decay):
    (the model, the losses it returned)."""
    model = _model(seed=7)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.0)
    losses = []
    for s in range(steps):
        x, y = _ids(10 + s, (4, 8)), _ids(20 + s, (4, 8))
        losses.append(
            step_fn(optimizer, lambda x=x, y=y: loss_fn(forward(model, x), y))
        )
    return model, losses


def _same_weights(a, b) -> bool:
    return all(
        torch.allclose(p, q, atol=1e-6)
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


def _check_train_step(step_fn) -> str:
    model, losses = _steps(step_fn)
    for loss in losses:
        _float(loss, "train_step")
    right, right_losses = _steps(train_step)
    if _same_weights(model, right):
        if not all(
            math.isclose(a, b, rel_tol=1e-5)
            for a, b in zip(losses, right_losses, strict=True)
        ):
            raise Fail(
                "return this step's loss (loss.item()), computed before the update."
            )
        return "zero, backward, step: each update uses this batch's gradient only."
    if _same_weights(model, _model(seed=7)):
        raise Fail(
            "after 3 steps every weight is where it started, so the loss stays at "
            "ln V (it moves only with the batch): the gradients are gone by the time "
            "optimizer.step() runs. Clear them before backward(), not after."
        )
    if _same_weights(model, _steps(buggy_zero_grad)[0]):
        raise Fail(
            "each step adds its gradient to the ones of all earlier steps, so the "
            "update points where the model was, not where it is: the loss falls at "
            "first, then climbs. Clear the gradients at the start of every step."
        )
    raise Fail("after 3 steps your weights differ from zero_grad, backward, step.")


_STEP_HINTS = (
    "Put print(next(model.parameters()).grad.norm()) around each line: when does "
    "the gradient exist, and when is it cleared?",
    "optimizer.step() reads p.grad; optimizer.zero_grad() sets it to None.",
)


@exercise(
    "debugging.step_order",
    "fix train_step: the loss does not fall at all",
    kind="find-the-bug",
    hints=(*_STEP_HINTS, "The order is zero_grad(), backward(), step()."),
    buggy=buggy_step_order,
)
def check_step_order(step_fn) -> str:
    return _check_train_step(step_fn)


@exercise(
    "debugging.zero_grad",
    "fix train_step: the loss falls, then climbs",
    kind="find-the-bug",
    hints=(
        *_STEP_HINTS,
        "backward() adds to p.grad: call optimizer.zero_grad() first.",
    ),
    buggy=buggy_zero_grad,
)
def check_zero_grad(step_fn) -> str:
    return _check_train_step(step_fn)


@exercise(
    "debugging.grad_norm",
    "grad_norm(model): the length of all gradients together, as one vector",
    kind="implement",
    hints=(
        "Loop over model.parameters(); skip those whose .grad is None.",
        "The norm of everything together: the square root of the sum of every "
        "gradient's squared entries.",
        "math.sqrt(sum(p.grad.pow(2).sum().item() for p in model.parameters() "
        "if p.grad is not None))",
    ),
)
def check_grad_norm(grad_norm) -> str:
    model = _model(seed=8)
    model.pos_emb.weight.requires_grad_(False)  # a frozen parameter: grad None
    loss_fn(forward(model, _ids(30, (2, 8))), _ids(31, (2, 8))).backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    out = grad_norm(model)
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.item()
    got = _float(out, "grad_norm")
    if any(
        not torch.equal(g, p.grad)
        for g, p in zip(
            grads, (p for p in model.parameters() if p.grad is not None), strict=True
        )
    ):
        raise Fail("grad_norm changed the gradients: measure them, do not clip.")
    norms = [g.norm().item() for g in grads]
    want = math.sqrt(sum(n * n for n in norms))
    if math.isclose(got, want, rel_tol=1e-4):
        return f"{got:.4f}, as torch.nn.utils.clip_grad_norm_ reports it."
    if math.isclose(got, sum(norms), rel_tol=1e-4):
        raise Fail("you add the norms of the parameters; add their squares, then sqrt.")
    if math.isclose(got, want * want, rel_tol=1e-4):
        raise Fail("that is the squared norm: take the square root.")
    if math.isclose(got, max(norms), rel_tol=1e-4):
        raise Fail("that is the largest parameter's norm; take all of them together.")
    raise Fail(f"got {got:.4g}, expected {want:.4g}: sqrt of the sum of all squares.")


@exercise(
    "debugging.eval_mode",
    "fix evaluate: the same model on the same batches scores differently each call",
    kind="find-the-bug",
    hints=(
        "The batches are the same at every call (a seeded generator). What else in "
        "the model is random?",
        "Dropout is on in training mode; model.eval() turns it off.",
        "Add model.eval() before the loop (model.train() after it is already there).",
    ),
    buggy=buggy_evaluate,
)
def check_eval_mode(evaluate_fn) -> str:
    model = _model(seed=9, dropout=0.3)
    data = _ids(40, (600,))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        first = _float(evaluate_fn(model, data), "evaluate")
        second = _float(evaluate_fn(model, data), "evaluate")
        if not model.training:
            raise Fail(
                "evaluate leaves the model in eval mode, so training would go on "
                "without dropout: call model.train() before returning."
            )
        want = evaluate(model, data)
    if not math.isclose(first, second, rel_tol=1e-6):
        raise Fail(
            f"two calls on the same model and the same batches gave {first:.3f} and "
            f"{second:.3f}: dropout is still switching units off at random while "
            "evaluating, which also makes the loss worse than the model's."
        )
    if math.isclose(first, want, rel_tol=1e-5):
        return f"{first:.3f} at every call, dropout off: the model's own loss."
    raise Fail(f"your evaluate gives {first:.4f}, the script's {want:.4f}.")


def _check_sample(sample_fn) -> str:
    model = _model(seed=11)
    prompt = _ids(50, (1, 3))

    def draw(seed, n=40, temperature=1.0, m=model):
        out = sample_fn(
            m, prompt.clone(), n, torch.Generator().manual_seed(seed), temperature
        )
        return _tensor(out, (1, 3 + n), f"sample(model, prompt (1, 3), n={n}, ...)")

    try:
        first = draw(5)
    except IndexError:
        raise Fail(
            f"sampling 40 characters after a 3-character prompt fails once the "
            f"context passes {BLOCK} (index out of range): the model has no position "
            f"embedding beyond {BLOCK}. Feed it only the last BLOCK ids."
        ) from None
    if not torch.equal(first[:, :3], prompt):
        raise Fail("the output must start with the prompt, then the new ids.")
    if torch.equal(first, draw(6)) and torch.equal(first, draw(7)):
        raise Fail(
            "three generators with different seeds give the same continuation: you "
            "take the most likely id every time (argmax), so the text falls into a "
            "loop. Draw from probs with torch.multinomial."
        )
    sharp = _model(seed=11)
    with torch.no_grad():
        sharp.norm_f.weight.mul_(300.0)  # logits of a confident model
    try:
        draw(5, n=5, temperature=0.05, m=sharp)
    except RuntimeError as error:
        if "probability tensor" not in str(error):
            raise
        raise Fail(
            "at temperature 0.05 a confident model's logits / T pass 88, exp() "
            "overflows float32 to inf, and inf / inf is NaN: the probabilities are "
            "NaN and multinomial refuses them. Use torch.softmax (it subtracts the "
            "largest logit first)."
        ) from None
    if torch.equal(
        first, sample(model, prompt.clone(), 40, torch.Generator().manual_seed(5))
    ):
        return "the same draws as the script's sampler, at every context length."
    raise Fail("your samples differ from softmax(logits / T) then torch.multinomial.")


@exercise(
    "debugging.sample_argmax",
    "fix sample: every seed gives the same text, and it loops",
    kind="find-the-bug",
    hints=(
        "Run sample with two generators seeded differently: do you get two texts?",
        "Which line uses the generator? Which line should?",
        "next_id = torch.multinomial(probs, 1, generator=generator)",
    ),
    buggy=buggy_sample_argmax,
)
def check_sample_argmax(sample_fn) -> str:
    return _check_sample(sample_fn)


@exercise(
    "debugging.sample_overflow",
    "fix sample: NaN probabilities at a low temperature",
    kind="find-the-bug",
    hints=(
        "Print scaled.max() at temperature 0.02: what is exp() of it in float32?",
        "exp(89) is inf in float32; softmax subtracts the largest logit first.",
        "probs = torch.softmax(scaled, dim=-1)",
    ),
    buggy=buggy_sample_overflow,
)
def check_sample_overflow(sample_fn) -> str:
    return _check_sample(sample_fn)


@exercise(
    "debugging.sample_crop",
    "fix sample: it works for 20 characters and fails for 40",
    kind="find-the-bug",
    hints=(
        "The model was built with block_size = BLOCK: how many positions has it?",
        "How long is idx after 30 new characters from a 5-character prompt?",
        "logits = forward(model, idx[:, -BLOCK:])[:, -1, :]",
    ),
    buggy=buggy_sample_crop,
)
def check_sample_crop(sample_fn) -> str:
    return _check_sample(sample_fn)


@exercise(
    "debugging.decode_vocab",
    "fix decode: a well-trained model writes nonsense",
    kind="find-the-bug",
    hints=(
        "Check the round trip: decode(tok.encode('hello')).",
        "Which text was decode's vocabulary built from? Does it hold every character "
        "the tokenizer knows?",
        "Use the tokenizer the model was trained with: tok.decode(ids).",
    ),
    buggy=buggy_decode,
)
def check_decode_vocab(decode_fn) -> str:
    tok_, *_ = _corpus()
    text = "Return the value of x."
    out = decode_fn(tok_.encode(text))
    if not isinstance(out, str):
        raise Fail(f"decode must return a str, got {type(out).__name__}.")
    if out != text:
        raise Fail(
            f"decode(encode({text!r})) gives {out!r}: decode's vocabulary is not the "
            "tokenizer's, so a model that trained well seems to write nonsense. "
            "Decode with the vocabulary the model was trained with."
        )
    everything = "".join(tok_.chars)
    try:
        back = decode_fn(tok_.encode(everything))
    except IndexError:
        raise Fail(
            f"ids near the end of the {tok_.vocab_size} characters fail (index out "
            "of range): decode's vocabulary is smaller than the tokenizer's."
        ) from None
    if back != everything:
        raise Fail("some characters do not come back: decode(encode(text)) != text.")
    return f"all {tok_.vocab_size} characters come back: decode(encode(text)) == text."
