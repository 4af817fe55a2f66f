"""Chapter 06: the Transformer's input embedding, teacher forcing's shift, label
smoothing, and the paper's warmup learning-rate schedule."""

import math

import torch
import torch.nn.functional as F

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor


@exercise(
    "transformer.embed",
    "embed(ids, table, positions): table[ids] · √C + positions[:T], as in paper 3.4",
)
def check_embed(embed) -> str:
    g = torch.Generator().manual_seed(8)
    V, C, L = 10, 16, 12
    ids = torch.randint(0, V, (2, 5), generator=g)
    table = torch.randn(V, C, generator=g)
    positions = torch.randn(L, C, generator=g)
    out = _tensor(embed(ids, table, positions), (2, 5, C))
    expected = table[ids] * math.sqrt(C) + positions[:5]
    if _close(out, expected):
        return "embedding · √C + position: equal to Transformer.embed's formula."
    if _close(out, table[ids] + positions[:5]):
        raise Fail(
            "the √C factor is missing: the paper multiplies the embeddings by "
            "√d_model before adding the positions."
        )
    if _close(out, (table[ids] + positions[:5]) * math.sqrt(C)):
        raise Fail("scale the embedding only, then add the positions unscaled.")
    if _close(out, table[ids] / math.sqrt(C) + positions[:5]):
        raise Fail("multiply by √C, do not divide.")
    if _close(out, table[ids] * C + positions[:5]):
        raise Fail("the factor is √C (math.sqrt(C)), not C.")
    if _close(out, table[ids] * math.sqrt(C)):
        raise Fail("the positions are missing: add positions[:T] (T = ids.shape[1]).")
    raise Fail("your output differs from table[ids] * sqrt(C) + positions[:T].")


@exercise(
    "transformer.shift",
    "teacher_forcing(tgt): (decoder input, labels) from <bos> ... <eos> rows",
)
def check_shift(teacher_forcing) -> str:
    tgt = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])  # <bos>=1, <eos>=2, <pad>=0
    answer = teacher_forcing(tgt)
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise Fail("return a pair (decoder_input, labels).")
    inputs, labels = answer
    for name, t in (("decoder_input", inputs), ("labels", labels)):
        if not isinstance(t, torch.Tensor):
            raise Fail(f"{name} must be a tensor, got {type(t).__name__}.")
    if torch.equal(inputs, tgt[:, :-1]) and torch.equal(labels, tgt[:, 1:]):
        return "input = tgt[:, :-1], labels = tgt[:, 1:]: position t predicts t+1."
    if torch.equal(inputs, tgt) and torch.equal(labels, tgt):
        raise Fail(
            "input and labels are the same sequence: the model would learn to copy "
            "its input. Shift by one: the input drops the last token, the labels drop "
            "<bos>."
        )
    if torch.equal(inputs, tgt[:, 1:]) and torch.equal(labels, tgt[:, :-1]):
        raise Fail("input and labels are swapped: the input starts with <bos>.")
    if inputs.shape != labels.shape:
        raise Fail(
            f"decoder_input {tuple(inputs.shape)} and labels {tuple(labels.shape)} "
            "must have the same shape: one label per input position."
        )
    raise Fail("expected (tgt[:, :-1], tgt[:, 1:]).")


@exercise(
    "transformer.label_smoothing",
    "smoothed_loss(logits, targets, eps, pad_id): equal to F.cross_entropy's",
)
def check_label_smoothing(smoothed_loss) -> str:
    g = torch.Generator().manual_seed(9)
    N, V, eps, pad = 12, 7, 0.1, 0
    logits = torch.randn(N, V, generator=g, dtype=torch.float64) * 2
    targets = torch.randint(1, V, (N,), generator=g)
    targets[-3:] = pad
    out = smoothed_loss(logits, targets, eps, pad)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise Fail("return the mean loss as a one-number tensor.")
    expected = F.cross_entropy(logits, targets, ignore_index=pad, label_smoothing=eps)
    if _close(out.reshape(()), expected, atol=1e-6):
        return "equal to F.cross_entropy(..., label_smoothing=eps, ignore_index=pad)."
    logp = logits.log_softmax(-1)
    keep = targets != pad

    def smoothed(off, on, mask=keep):
        q = torch.full_like(logp, off)
        q[torch.arange(N), targets] = on
        per_token = -(q * logp).sum(-1)
        return per_token[mask].mean()

    all_rows = torch.ones(N, dtype=torch.bool)
    if _close(out.reshape(()), smoothed(eps / (V - 1), 1 - eps), atol=1e-6):
        raise Fail(
            "you spread eps over the V-1 wrong classes. PyTorch (and the course) "
            "mixes the one-hot target with a uniform over all V classes: "
            "q = (1 - eps)·onehot + eps / V."
        )
    if _close(out.reshape(()), smoothed(eps / V, 1 - eps + eps / V, all_rows), 1e-6):
        raise Fail(
            "padding positions are counted: drop the rows whose target is pad_id "
            "before averaging."
        )
    if _close(out.reshape(()), F.cross_entropy(logits, targets, ignore_index=pad)):
        raise Fail("that is the plain cross-entropy: there is no smoothing in it.")
    raise Fail(
        "your loss differs. Hint: q = (1 - eps)·onehot + eps/V; loss = -(q · "
        "log_softmax(logits)).sum(-1), averaged over the non-pad rows."
    )


@exercise(
    "transformer.warmup_lr",
    "warmup_lr(step, d_model, warmup): the learning rate of the paper's eq. (3)",
)
def check_warmup(warmup_lr) -> str:
    d_model, warmup = 512, 4000
    steps = [1, 100, 1000, 3999, 4000, 4001, 10000, 100000]

    def paper(s, d=d_model, w=warmup):
        return d**-0.5 * min(s**-0.5, s * w**-1.5)

    try:
        got = [warmup_lr(s, d_model, warmup) for s in steps]
    except ZeroDivisionError:
        raise Fail("your function divides by zero; steps count from 1.") from None
    if any(g is None for g in got):
        raise Fail("your function returned None; return the learning rate.")
    try:
        got = [float(g) for g in got]
    except (TypeError, ValueError):
        kinds = sorted({type(g).__name__ for g in got})
        raise Fail(f"return the learning rate as one number, got {kinds}.") from None

    def same(xs, ys) -> bool:
        return all(
            math.isclose(a, b, rel_tol=1e-6) for a, b in zip(xs, ys, strict=True)
        )

    expected = [paper(s) for s in steps]
    if same(got, expected):
        return "linear warm-up to step 4000, then decay as 1/√step: peak ≈ 7.0e-4."
    ratios = [a / b for a, b in zip(got, expected, strict=True)]
    if all(math.isclose(r, ratios[0], rel_tol=1e-6) for r in ratios):
        raise Fail(
            f"the shape is right but every value is {ratios[0]:.3g}× too big: the "
            "factor d_model ** -0.5 is missing or wrong."
        )
    with_max = [d_model**-0.5 * max(s**-0.5, s * warmup**-1.5) for s in steps]
    if same(got, with_max):
        raise Fail("use min(...), not max(...): the smaller of the two branches rules.")
    if math.isclose(got[-1], paper(steps[-1]), rel_tol=1e-6):
        raise Fail(
            "the decay is right but the warm-up is not: during warm-up the rate is "
            "d_model^-0.5 · step · warmup^-1.5."
        )
    raise Fail(
        "your schedule differs: lr = d_model**-0.5 * min(step**-0.5, "
        "step * warmup**-1.5)."
    )
