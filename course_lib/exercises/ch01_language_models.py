"""Chapter 01: a loss that skips padding, SGD with momentum, two bugs of a training
script (targets not shifted, probabilities fed to cross_entropy), a parameter count to
predict and a smoothing constant to change."""

import functools
import math
import numbers

import torch
import torch.nn.functional as F

from course_lib.exercises import Fail, exercise


def _close(a, b, tol=1e-4) -> bool:
    return torch.allclose(
        torch.as_tensor(a, dtype=torch.float64),
        torch.as_tensor(b, dtype=torch.float64),
        atol=tol,
        rtol=tol,
    )


def _scalar(value, what: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise Fail(
                f"{what} should be one number, got a tensor of shape "
                f"{tuple(value.shape)}. Hint: average over the positions (.mean())."
            )
        if not value.is_floating_point():
            raise Fail(f"{what} should be a float, got a {value.dtype} tensor.")
        return value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise Fail(
        f"{what} should be a number or a 0-d tensor, got {type(value).__name__}."
    )


def _number(answer, what: str) -> float:
    """A predicted or reported number: an int, a float or a 0-d tensor."""
    if callable(answer) or isinstance(answer, (str, bytes)):
        raise Fail(f"write {what} as a number, got {type(answer).__name__}.")
    return _scalar(answer, what)


# --- implement: cross-entropy that skips padding ------------------------------------


def _padded_case(seed: int = 0, N: int = 8, V: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, V, generator=g)
    targets = torch.randint(V - 1, (N,), generator=g)  # never V - 1: see below
    targets[[2, 5]] = -1  # two positions with no target (padding)
    return logits, targets


@exercise(
    "lm.cross_entropy_ignore",
    "cross-entropy of (N, V) logits that skips the targets equal to -1",
    kind="implement",
    hints=(
        "Only the positions whose target is not -1 count, in the sum AND in the count "
        "you divide by.",
        "Make a mask keep = targets != -1, then work on logits[keep] and "
        "targets[keep] only; a target of -1 used as an index would pick the LAST "
        "logit.",
        "keep = targets != -1; log_p = logits[keep].log_softmax(dim=-1); return "
        "-log_p[torch.arange(len(log_p)), targets[keep]].mean()",
    ),
)
def check_cross_entropy_ignore(fn) -> str:
    logits, targets = _padded_case()
    keep = targets != -1
    N, n_kept = len(targets), int(keep.sum())
    ref = F.cross_entropy(logits, targets, ignore_index=-1).item()
    got = _scalar(fn(logits.clone(), targets.clone()), "your loss")
    log_p = logits.log_softmax(-1)
    last_column = -log_p[torch.arange(N), targets].mean()  # -1 read as an index
    if _close(got, ref):
        big = _scalar(fn(logits * 1000, targets.clone()), "your loss")
        if not math.isfinite(big):
            raise Fail(
                "right on small logits, but logits of size ~1000 give inf or nan: "
                "exp overflows. Hint: use log_softmax, which subtracts the max first."
            )
        if not _close(big, F.cross_entropy(logits * 1000, targets, ignore_index=-1)):
            raise Fail("right on small logits, wrong on large ones. Hint: log_softmax.")
        return (
            f"equals F.cross_entropy(..., ignore_index=-1) ({ref:.4f}): the mean over "
            f"the {n_kept} positions that have a target, as lm_loss does for padding."
        )
    if _close(got, ref * n_kept / N):
        raise Fail(
            f"you got {got:.4f} = {ref:.4f} x {n_kept}/{N}: you divided by all {N} "
            f"positions, counting the {N - n_kept} skipped ones as a loss of 0. "
            "Padding must not dilute the mean: divide by the positions kept."
        )
    if _close(got, last_column):
        raise Fail(
            "a target of -1 was used as an index, and Python's -1 picks the LAST "
            "logit: the padded positions were scored as if token V-1 came next. "
            "Hint: select the kept positions with a mask first."
        )
    if _close(got, -ref):
        raise Fail("the sign is flipped: the loss is MINUS the mean log-probability.")
    if _close(got, ref * n_kept):
        raise Fail(f"you summed over the {n_kept} kept positions; take the mean.")
    wrong_dim = -logits[keep].log_softmax(0)[torch.arange(n_kept), targets[keep]]
    if _close(got, wrong_dim.mean()):
        raise Fail("your softmax normalises over the positions (dim 0); use dim=-1.")
    raise Fail(
        f"you got {got:.4f}, F.cross_entropy(logits, targets, ignore_index=-1) gives "
        f"{ref:.4f}."
    )


# --- implement: SGD with momentum -----------------------------------------------------


def _momentum_run(step_fn, steps: int = 3, lr: float = 0.1, mu: float = 0.9):
    """Parameters of a small model after ``steps`` calls of ``step_fn``, and whether the
    gradients were cleared after the first call."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 3, generator=g).requires_grad_()
    bias = torch.randn(2, generator=g).requires_grad_()
    params = [weight, bias]
    velocities = [torch.zeros_like(p) for p in params]
    cleared = True
    for step in range(steps):
        x = torch.randn(4, 3, generator=g)
        (x @ weight.T + bias).pow(2).mean().backward()
        step_fn(params, velocities, lr, mu)
        if step == 0:
            cleared = all(p.grad is None or not p.grad.any() for p in params)
    return [p.detach().clone() for p in params], cleared


def _torch_momentum(steps: int = 3, lr: float = 0.1, mu: float = 0.9):
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(2, 3, generator=g).requires_grad_()
    bias = torch.randn(2, generator=g).requires_grad_()
    optimizer = torch.optim.SGD([weight, bias], lr=lr, momentum=mu)
    for _ in range(steps):
        x = torch.randn(4, 3, generator=g)
        (x @ weight.T + bias).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    return [weight.detach().clone(), bias.detach().clone()]


def _variant(kind: str):
    def step(params, velocities, lr, mu):
        with torch.no_grad():
            for p, v in zip(params, velocities, strict=True):
                if kind == "plain":
                    p -= lr * p.grad
                elif kind == "dampened":  # v as an average: (1 - mu) g
                    v.mul_(mu).add_((1 - mu) * p.grad)
                    p -= lr * v
                elif kind == "ascent":
                    v.mul_(mu).add_(p.grad)
                    p += lr * v
                p.grad = None

    return step


@exercise(
    "lm.momentum_step",
    "SGD with momentum by hand, equal to torch.optim.SGD(momentum=0.9) over 3 steps",
    kind="implement",
    hints=(
        "Each parameter has a velocity v, kept between calls: it grows with every "
        "gradient and decays by the factor momentum. The step moves p along -v.",
        "PyTorch's rule: v ← momentum · v + ∇L, then p ← p − lr · v. Change v IN "
        "PLACE (v.mul_(...).add_(...)), or the next call will not see it.",
        "with torch.no_grad(): for p, v in zip(params, velocities): "
        "v.mul_(momentum).add_(p.grad); p -= lr * v; p.grad = None",
    ),
)
def check_momentum_step(fn) -> str:
    try:
        got, cleared = _momentum_run(fn)
    except RuntimeError as error:
        if "leaf Variable" in str(error):
            raise Fail(
                "autograd refuses to change a parameter in place while it records. "
                "Hint: wrap the update in `with torch.no_grad():`."
            ) from None
        raise
    ref = _torch_momentum()
    start, _ = _momentum_run(lambda *args: None, steps=0)
    if all(torch.equal(a, b) for a, b in zip(got, start, strict=True)):
        raise Fail(
            "the parameters did not change. `p = p - lr * v` makes a new tensor and "
            "leaves the model's alone. Hint: p -= lr * v (in place)."
        )
    if all(_close(a, b, 1e-6) for a, b in zip(got, ref, strict=True)):
        return (
            "equals torch.optim.SGD(lr=0.1, momentum=0.9) over 3 steps: the velocity "
            "adds up past gradients, so a steady slope speeds the steps up to 10x."
        )
    if not cleared:
        raise Fail(
            "after your step the gradients are still there: the next backward() ADDS "
            "to them, so each step uses the sum of all past gradients. Hint: "
            "p.grad = None after the update."
        )
    names = {
        "plain": (
            "your steps equal plain SGD (p -= lr * grad): the velocity never carried "
            "over from one call to the next. Update it in place, "
            "v.mul_(momentum).add_(p.grad), and step along v."
        ),
        "dampened": (
            "you averaged the gradients, v = momentum·v + (1 − momentum)·grad. "
            "PyTorch's SGD adds the whole gradient: v = momentum·v + grad."
        ),
        "ascent": "you stepped UP the slope: p -= lr * v, a minus.",
    }
    for kind, message in names.items():
        variant, _ = _momentum_run(_variant(kind))
        if all(_close(a, b, 1e-6) for a, b in zip(got, variant, strict=True)):
            raise Fail(message)
    raise Fail(
        "after 3 steps your parameters differ from torch.optim.SGD(lr=0.1, "
        "momentum=0.9)'s. Check the order: update v first, then step p along v."
    )


# --- find-the-bug: targets not shifted ------------------------------------------------


def buggy_get_batch(data, block_size, batch_size, generator):
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block_size] for s in starts])  # (B, T)
    y = torch.stack([data[s : s + block_size] for s in starts])  # (B, T)
    return x, y


def _pair_of_tensors(value, shape, what: str):
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise Fail(f"{what} should return a pair (x, y), got {type(value).__name__}.")
    for name, t in zip("xy", value, strict=True):
        if not isinstance(t, torch.Tensor):
            raise Fail(f"{what}: {name} should be a tensor, got {type(t).__name__}.")
        if tuple(t.shape) != shape:
            raise Fail(
                f"{what}: {name} should be (B, T) = {shape}, got {tuple(t.shape)}."
            )
    return value


@exercise(
    "lm.shifted_batch",
    "find the bug: a get_batch whose model reaches a loss no bigram can",
    kind="find-the-bug",
    hints=(
        "The loss fell far below 2.48, the best ANY bigram can do on this text. So "
        "the task the model was given must be easier than predicting the next token.",
        "Compare x and y of one batch, position by position.",
        "y must hold, at position t, the token AFTER x[:, t]: the window starting one "
        "later, data[s + 1 : s + 1 + block_size].",
    ),
    buggy=buggy_get_batch,
)
def check_shifted_batch(fn) -> str:
    data = torch.arange(100, 200)  # data[i] = 100 + i: every window says where it is
    B, T = 16, 8
    x, y = _pair_of_tensors(
        fn(data, T, B, torch.Generator().manual_seed(0)), (B, T), "get_batch"
    )
    if not torch.equal(x[:, 1:] - x[:, :-1], torch.ones(B, T - 1, dtype=x.dtype)):
        raise Fail("each row of x should be a window of consecutive tokens of data.")
    shift = (y - x).unique().tolist()
    if shift == [0]:
        raise Fail(
            "y equals x: the model is asked for the token it is reading, and copying "
            "its input drives the loss towards 0. That is the symptom above. The "
            "target at position t is the NEXT token."
        )
    if shift == [-1]:
        raise Fail(
            "y is the token BEFORE x: the shift goes the wrong way. Shift the targets "
            "one to the right: y = data[s + 1 : s + 1 + block_size]."
        )
    if shift != [1]:
        raise Fail(f"y - x should be 1 everywhere (the next token); yours is {shift}.")
    short = torch.arange(100, 110)  # one window only: it must end at the last token
    x, y = _pair_of_tensors(
        fn(short, 9, 4, torch.Generator().manual_seed(1)), (4, 9), "get_batch"
    )
    if not (torch.equal(x[0], short[:9]) and torch.equal(y[0], short[1:])):
        raise Fail("with len(data) = block_size + 1 there is one window: x, y wrong.")
    return (
        "y is x shifted by one: each position predicts the token after it. With y = x "
        "a model learns to copy, and its loss says nothing about language."
    )


# --- find-the-bug: probabilities fed to cross_entropy ---------------------------------


def buggy_bigram_loss(table, x, y):
    """Mean cross-entropy of a (V, V) table of logits on the pairs x[i] -> y[i]."""
    probs = table[x].softmax(dim=-1)  # (N, V): P(next | x)
    return F.cross_entropy(probs, y)


@exercise(
    "lm.bigram_loss",
    "find the bug: a bigram loss that stalls far above the counts' loss",
    kind="find-the-bug",
    hints=(
        "F.cross_entropy(input, target) expects LOGITS: what does it do to its input "
        "first?",
        "It applies log_softmax itself. Fed probabilities, it takes a softmax of "
        "numbers in (0, 1), which is nearly uniform whatever the table holds.",
        "return F.cross_entropy(table[x], y)",
    ),
    buggy=buggy_bigram_loss,
)
def check_bigram_loss(fn) -> str:
    g = torch.Generator().manual_seed(0)
    V, N = 6, 10
    table = (3 * torch.randn(V, V, generator=g)).requires_grad_()
    x, y = torch.randint(V, (N,), generator=g), torch.randint(V, (N,), generator=g)
    got_t = fn(table, x.clone(), y.clone())
    got = _scalar(got_t, "your loss")
    ref_t = F.cross_entropy(table[x], y)
    ref = ref_t.item()
    probs = table[x].softmax(-1)
    if _close(got, F.cross_entropy(probs, y)):
        floor = math.log(math.e + V - 1) - 1
        raise Fail(
            f"you got {got:.4f}, the loss of the table's logits is {ref:.4f}: the "
            "softmax is applied twice (F.cross_entropy applies its own). Every input "
            f"lies in (0, 1), so the loss cannot fall below ln(e + V - 1) - 1 = "
            f"{floor:.2f} for V = {V}, however good the table."
        )
    if _close(got, -probs[torch.arange(N), y].mean()):
        raise Fail(
            "you averaged probabilities (F.nll_loss of probabilities does that). "
            "Take the log first: the loss is the mean of -log P(y | x)."
        )
    if _close(got, ref * N):
        raise Fail(f"you summed over the {N} pairs; take the mean.")
    if _close(got, -ref):
        raise Fail("the sign is flipped: minus the mean log-probability.")
    if not _close(got, ref):
        raise Fail(f"you got {got:.4f}, F.cross_entropy(table[x], y) gives {ref:.4f}.")
    if not isinstance(got_t, torch.Tensor) or not got_t.requires_grad:
        raise Fail("the value is right, but no gradient reaches the table.")
    (grad,) = torch.autograd.grad(got_t, table)
    (ref_grad,) = torch.autograd.grad(ref_t, table)
    if not _close(grad, ref_grad):
        raise Fail("the value is right, but its gradient differs from cross_entropy's.")
    return (
        f"equals F.cross_entropy(table[x], y) = {ref:.4f}, gradient included: "
        "cross_entropy takes logits, and does the softmax itself."
    )


# --- predict: a parameter count -------------------------------------------------------


def _lstm_count(V, C, H, gates=4, biases=2, head_bias=True, embed=True):
    return (
        V * C * embed + gates * H * (C + H) + biases * gates * H + H * V + V * head_bias
    )


@exercise(
    "lm.lstm_params",
    "predict: parameters of LSTMLanguageModel(V=103, d_model=64, hidden_size=128)",
    kind="predict",
    hints=(
        "Three pieces: the embedding (V, C), the LSTM, the read-out linear (with a "
        "bias). The chapter printed the LSTM's four tensors and their shapes.",
        "The LSTM has weight_ih (4H, C), weight_hh (4H, H) and TWO biases of 4H: "
        "the 4 is the four gates i, f, g, o.",
        "103·64 + 4·128·(64 + 128) + 2·4·128 + 128·103 + 103 = 119,207.",
    ),
)
def check_lstm_params(answer) -> str:
    got = _number(answer, "your prediction (a whole number)")
    V, C, H = 103, 64, 128
    ref = _lstm_count(V, C, H)
    if got == ref:
        return (
            f"{ref:,}. The LSTM holds {_lstm_count(0, C, H, head_bias=False):,} of "
            "them: four gates, each with its own weights for the input and for h."
        )
    wrong = {
        _lstm_count(V, C, H, gates=1): "you counted one set of weights; an LSTM has "
        "four gates (i, f, g, o), each with its own rows: 4·H of them",
        _lstm_count(V, C, H, biases=1): "PyTorch's LSTM keeps TWO bias vectors, "
        "bias_ih and bias_hh, 4·H each",
        _lstm_count(V, C, H, biases=0): "you left out the LSTM's two biases (4·H each)",
        _lstm_count(V, C, H, head_bias=False): "you left out the read-out's bias, V",
        _lstm_count(V, C, H, embed=False): "you left out the embedding table, V·C",
        _lstm_count(V, C, 256): "that is the chapter's model, hidden_size = 256; "
        "this one has 128",
    }
    if got in wrong:
        raise Fail(f"{int(got):,}: {wrong[got]}.")
    raise Fail(
        f"{got:,.0f} is not it. Add up the embedding, the LSTM's four tensors and "
        "the read-out (weight and bias)."
    )


# --- modify: the smoothing constant ---------------------------------------------------


@functools.lru_cache(maxsize=1)
def _char_split():
    from course_lib.batching import train_val_split
    from course_lib.corpora import load_corpus
    from course_lib.tokenizers import CharTokenizer

    text = load_corpus("pydocs").text
    tokenizer = CharTokenizer.from_text(text)
    data = torch.tensor(tokenizer.encode(text))
    return (*train_val_split(data, val_fraction=0.1), tokenizer.vocab_size)


@functools.lru_cache(maxsize=8)
def _smoothed_losses(k: float) -> tuple[float, float]:
    """(validation_loss, full-pass loss) of the add-k bigram counts."""
    from course_lib.baselines import BigramLanguageModel
    from course_lib.training import validation_loss

    train_data, val_data, V = _char_split()
    counts = torch.zeros(V, V)
    ones = torch.ones(len(train_data) - 1)
    counts.index_put_((train_data[:-1], train_data[1:]), ones, accumulate=True)
    probs = (counts + k) / (counts + k).sum(dim=1, keepdim=True)
    model = BigramLanguageModel(V)
    with torch.no_grad():
        model.logits_table.weight.copy_(probs.log())
    full = -probs[val_data[:-1], val_data[1:]].log().mean().item()
    return validation_loss(model, val_data), full


@exercise(
    "lm.smoothing_k",
    "modify: add 0.1 instead of 1 to every count; report the validation loss",
    kind="modify",
    hints=(
        "In the cell above, set K = 0.1, run it, and copy the validation loss it "
        "prints (3 decimals).",
        "The figure wanted is validation_loss(...) of the counts model, the course's "
        "comparable one, not the full pass over every pair.",
        "It prints about 2.260, 0.008 below add-one's 2.268.",
    ),
)
def check_smoothing_k(answer) -> str:
    got = _number(answer, "the validation loss you saw")
    if not 0 < got < 10:
        raise Fail(f"{got} cannot be this model's validation loss (ln V = 4.63).")
    ref, full = _smoothed_losses(0.1)
    if abs(got - ref) <= 0.0015:
        one, _ = _smoothed_losses(1.0)
        return (
            f"{ref:.3f}, {one - ref:.3f} below add-one's {one:.3f}. Adding 1 gives an "
            "unseen pair as much weight as a pair seen once; 0.1 trusts the counts "
            "more and still keeps every probability above 0."
        )
    for k in (1.0, 0.01):
        if abs(got - _smoothed_losses(k)[0]) <= 0.0005:
            raise Fail(f"{got:.3f} is the validation loss for K = {k:g}; set K = 0.1.")
    if abs(got - full) <= 0.0015:
        raise Fail(
            f"{got:.3f} is the full pass over every validation pair; report the "
            "course's figure, validation_loss(...), which the cell prints too."
        )
    raise Fail(f"{got:.3f} is not what the cell prints with K = 0.1. Run it again.")
