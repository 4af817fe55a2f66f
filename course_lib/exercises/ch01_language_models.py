"""Chapter 01: cross-entropy, perplexity, an SGD step and bigram probabilities."""

import math

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
                f"{tuple(value.shape)}. Hint: average over the N positions (.mean())."
            )
        return value.item()
    if isinstance(value, (int, float)):
        return float(value)
    raise Fail(
        f"{what} should be a number or a 0-d tensor, got {type(value).__name__}."
    )


def _lm_case(seed: int = 0, N: int = 6, V: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, V, generator=g), torch.randint(V, (N,), generator=g)


@exercise("lm.cross_entropy", "cross_entropy(logits (N, V), targets (N,)) by hand")
def check_cross_entropy(fn) -> str:
    logits, targets = _lm_case()
    N = len(targets)
    got = _scalar(fn(logits, targets), "cross_entropy(logits, targets)")
    ref = F.cross_entropy(logits, targets).item()
    probs = logits.softmax(-1)[torch.arange(N), targets]
    if _close(got, -ref):
        raise Fail(
            f"you got {got:.4f}, expected {ref:.4f}: the sign is flipped. "
            "Hint: the loss is MINUS the mean log-probability of the targets."
        )
    if _close(got, ref * N):
        raise Fail(
            f"you got {got:.4f} = {N} x {ref:.4f}: you summed over the {N} "
            "positions. Hint: take the mean, so the loss does not grow with N."
        )
    if _close(got, -probs.mean()) or _close(got, 1 - probs.mean()):
        raise Fail(
            "you averaged probabilities, not log-probabilities. Hint: take "
            "the log of the target's probability before averaging."
        )
    wrong_dim = -logits.log_softmax(0)[torch.arange(N), targets].mean()
    if _close(got, wrong_dim):
        raise Fail(
            "your softmax normalises over the N positions (dim 0). Hint: "
            "normalise over the vocabulary, dim=-1."
        )
    if not _close(got, ref):
        raise Fail(
            f"you got {got:.4f}, F.cross_entropy gives {ref:.4f}. Hint: "
            "-(log_softmax(logits, dim=-1)[range(N), targets]).mean()."
        )
    big = fn(logits * 1000, targets)
    if not math.isfinite(_scalar(big, "cross_entropy")):
        raise Fail(
            "right on small logits, but logits of size ~1000 give inf or nan: "
            "exp overflows. Hint: subtract each row's max before exp, or use "
            "torch.log_softmax, which does."
        )
    if not _close(
        _scalar(big, "cross_entropy"), F.cross_entropy(logits * 1000, targets)
    ):
        raise Fail("right on small logits, wrong on large ones. Hint: log_softmax.")
    return f"equals F.cross_entropy ({ref:.4f}), and stays finite for huge logits."


@exercise("lm.perplexity", "perplexity(logits (N, V), targets (N,)) = exp(mean loss)")
def check_perplexity(fn) -> str:
    logits, targets = _lm_case(1)
    loss = F.cross_entropy(logits, targets).item()
    got = _scalar(fn(logits, targets), "perplexity(logits, targets)")
    ref = math.exp(loss)
    if _close(got, loss):
        raise Fail(
            f"you returned the loss ({loss:.4f}) itself. Hint: perplexity is exp(loss)."
        )
    if _close(got, 2**loss):
        raise Fail(
            "you used 2**loss. The course's losses are in nats (natural log), "
            "so perplexity is exp(loss), not 2**loss."
        )
    if _close(got, math.exp(loss * len(targets))):
        raise Fail("you exponentiated the SUM of the losses. Hint: exp of the MEAN.")
    if not _close(got, ref):
        raise Fail(f"you got {got:.4f}, expected exp(cross-entropy) = {ref:.4f}.")
    uniform = _scalar(fn(torch.zeros(4, 7), torch.arange(4)), "perplexity")
    if not _close(uniform, 7.0):
        raise Fail(f"for uniform logits over V=7 you got {uniform:.3f}, expected 7.")
    return (
        f"exp(loss) = {ref:.3f}; a uniform guess over V tokens has perplexity V: "
        "the model is 'as unsure as' a choice among that many."
    )


@exercise("lm.sgd_step", "sgd_step(params, lr): θ ← θ − η∇L in place, then zero grads")
def check_sgd_step(fn) -> str:
    torch.manual_seed(0)
    ours, ref = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    ref.load_state_dict(ours.state_dict())
    before = [p.detach().clone() for p in ours.parameters()]
    x = torch.randn(4, 3)
    for model in (ours, ref):
        model(x).pow(2).mean().backward()
    grads = [p.grad.clone() for p in ours.parameters()]
    lr = 0.1
    try:
        fn(list(ours.parameters()), lr)
    except RuntimeError as error:
        if "leaf Variable" in str(error):
            raise Fail(
                "autograd refuses to change a parameter in place while it "
                "records. Hint: wrap the update in `with torch.no_grad():`."
            ) from None
        raise
    opt = torch.optim.SGD(ref.parameters(), lr=lr)
    opt.step()
    after = [p.detach() for p in ours.parameters()]
    expected = [p.detach() for p in ref.parameters()]
    if all(torch.equal(a, b) for a, b in zip(after, before, strict=True)):
        raise Fail(
            "the parameters did not change. `p = p - lr * p.grad` makes a new "
            "tensor and leaves the model's alone. Hint: p -= lr * p.grad "
            "(in place)."
        )
    diffs = [a - b for a, b in zip(after, before, strict=True)]
    if all(_close(d, lr * g) for d, g in zip(diffs, grads, strict=True)):
        raise Fail(
            "you stepped UP the gradient (gradient ascent): the loss grows. "
            "Hint: θ ← θ − η∇L, a minus."
        )
    if all(_close(d, -g) for d, g in zip(diffs, grads, strict=True)):
        raise Fail(
            "your step ignores the learning rate. Hint: multiply the gradient by lr."
        )
    if not all(_close(a, e, 1e-6) for a, e in zip(after, expected, strict=True)):
        raise Fail(
            "your update differs from torch.optim.SGD's. Hint: "
            "p -= lr * p.grad for every p."
        )
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in ours.parameters()):
        raise Fail(
            "the update equals torch.optim.SGD's, but the gradients are still "
            "there: the next backward() would ADD to them. Hint: p.grad = None "
            "(or p.grad.zero_()) after the update."
        )
    return "equals torch.optim.SGD(lr=0.1).step(), and the gradients are cleared."


@exercise("lm.bigram_probs", "bigram_probs(ids, V): (V, V) P(next | current), add-one")
def check_bigram_probs(fn) -> str:
    ids = torch.tensor([0, 1, 2, 1, 2, 0, 1, 1, 3])
    V = 5  # token 4 never occurs: its row must still be a distribution
    counts = torch.zeros(V, V)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1), accumulate=True)
    ref = (counts + 1) / (counts + 1).sum(1, keepdim=True)
    got = fn(ids, V)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (V, V):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got)
        raise Fail(f"expected a (V, V) = ({V}, {V}) tensor, got {shape}.")
    got = got.double()
    ref = ref.double()
    if _close(got, ref.T):
        raise Fail(
            "your table is transposed: row a must hold P(next | current = a). "
            "Hint: count counts[ids[i], ids[i + 1]] += 1."
        )
    if (got == 0).any():
        raise Fail(
            "some entries are 0, so an unseen pair would get loss = infinity. "
            "Hint: add 1 to every count before normalising (add-one smoothing)."
        )
    if _close(got.sum(0), torch.ones(V)) and not _close(got.sum(1), torch.ones(V)):
        raise Fail(
            "your columns sum to 1; each ROW should (a distribution over the "
            "next token). Hint: divide by counts.sum(dim=1, keepdim=True)."
        )
    if not _close(got.sum(1), torch.ones(V)):
        raise Fail(
            "your rows do not sum to 1. Hint: divide each row of counts by its sum."
        )
    if not _close(got, ref):
        raise Fail(
            "rows sum to 1, but the probabilities differ from add-one smoothed "
            "counts of consecutive pairs (ids[i], ids[i + 1])."
        )
    return "each row is P(next | current) from add-one smoothed counts."
