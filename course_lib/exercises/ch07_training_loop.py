"""Chapter 07: the pieces of a training step: the learning-rate schedule, gradient
clipping, AdamW's decay groups and one AdamW update written by hand."""

import math

import torch
from torch import nn

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _tensor
from course_lib.training import TrainConfig, lr_at

# (lr, min_lr, warmup_steps, max_steps) the schedule is checked on
_SCHEDULE = (1e-3, 1e-4, 10, 100)


def _schedule_reference(step: int) -> float:
    lr, min_lr, warmup, max_steps = _SCHEDULE
    config = TrainConfig(max_steps=max_steps, lr=lr, min_lr=min_lr, warmup_steps=warmup)
    return lr_at(step, config)


@exercise(
    "training.lr_schedule",
    "lr_schedule(step, lr, min_lr, warmup_steps, max_steps): linear warmup, then "
    "cosine decay to min_lr",
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


def _grads(seed: int, scale: float) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) * scale for shape in [(4, 3), (3,), (2, 2)]]


@exercise(
    "training.clip_grads",
    "clip_grads(grads, max_norm): scale every gradient by one factor so that their "
    "global norm is at most max_norm",
)
def check_clip_grads(clip_grads) -> str:
    for scale, max_norm in [(3.0, 1.0), (0.1, 1.0)]:
        grads = _grads(0, scale)
        params = [nn.Parameter(torch.zeros_like(t)) for t in grads]
        for p, t in zip(params, grads, strict=True):
            p.grad = t.clone()
        nn.utils.clip_grad_norm_(params, max_norm)
        want = [p.grad for p in params]
        got = clip_grads([t.clone() for t in grads], max_norm)
        if not isinstance(got, (list, tuple)) or len(got) != len(grads):
            raise Fail(
                f"return a list of {len(grads)} tensors, one per gradient; got "
                f"{type(got).__name__}."
            )
        got = [_tensor(a, b.shape).to(b.dtype) for a, b in zip(got, grads, strict=True)]
        if all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got, want, strict=True)):
            continue
        total = torch.linalg.vector_norm(torch.stack([t.norm() for t in grads]))
        if total < max_norm:
            raise Fail(
                f"the gradients' norm {total:.3f} is already below max_norm={max_norm}"
                ": leave them unchanged (the factor is min(1, max_norm / norm))."
            )
        if all(
            torch.allclose(a.norm(), torch.tensor(max_norm), atol=1e-5) for a in got
        ):
            raise Fail(
                "each tensor was clipped to max_norm on its own: use one global norm, "
                "the norm of all gradients together (sqrt of the sum of squares)."
            )
        raise Fail(
            "not what torch.nn.utils.clip_grad_norm_ gives: compute the global norm "
            "of all gradients and multiply each by min(1, max_norm / norm)."
        )
    return "equal to torch.nn.utils.clip_grad_norm_, above and below max_norm."


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


@exercise(
    "training.adamw_step",
    "adamw_step(p, grad, m, v, step, lr, betas, eps, weight_decay): one AdamW update, "
    "returns (p, m, v)",
)
def check_adamw_step(adamw_step) -> str:
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 4, generator=g)
    grads = [torch.randn(3, 4, generator=g) for _ in range(3)]
    lr, betas, eps, wd = 0.1, (0.9, 0.99), 1e-8, 0.5
    ref = nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([ref], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for step, grad in enumerate(grads, start=1):
        ref.grad = grad.clone()
        opt.step()
        out = adamw_step(p, grad.clone(), m, v, step, lr, betas, eps, wd)
        if not isinstance(out, tuple) or len(out) != 3:
            raise Fail("return the tuple (p, m, v): the new parameter and moments.")
        p, m, v = (_tensor(t, p0.shape).to(p0.dtype) for t in out)
        if torch.allclose(p, ref.detach(), atol=1e-6):
            continue
        first = p0 - lr * wd * p0 - lr * torch.sign(grads[0])  # bias-corrected step 1
        if step == 1 and torch.allclose(p, p0 - lr * torch.sign(grads[0]), atol=1e-5):
            raise Fail(
                "no weight decay: AdamW also shrinks the weights, p -= lr * "
                "weight_decay * p, apart from the gradient step."
            )
        if step == 1 and not torch.allclose(p, first, atol=1e-5):
            l2 = grads[0] + wd * p0  # decay folded into the gradient (Adam + L2)
            m1, v1 = (1 - betas[0]) * l2, (1 - betas[1]) * l2**2
            adam_l2 = p0 - lr * (m1 / (1 - betas[0])) / (
                (v1 / (1 - betas[1])).sqrt() + eps
            )
            if torch.allclose(p, adam_l2, atol=1e-5):
                raise Fail(
                    "the decay is added to the gradient (Adam with L2): AdamW's "
                    "decay is decoupled, p -= lr * weight_decay * p, outside m and v."
                )
            raise Fail(
                "step 1 is off: with bias correction m_hat = m / (1 - beta1**step) "
                "and v_hat = v / (1 - beta2**step), the first step moves each "
                "weight by about lr."
            )
        raise Fail(
            f"step {step} differs from torch.optim.AdamW (max diff "
            f"{(p - ref.detach()).abs().max():.2e}): did you carry m and v over "
            "and use the bias corrections with the step number?"
        )
    return "three steps equal to torch.optim.AdamW, decay decoupled."
