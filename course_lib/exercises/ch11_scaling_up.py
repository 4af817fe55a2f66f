"""Chapter 11: memory per parameter of training with Adam and an all-reduce-mean by
hand (implement); ranks that share rows and an accumulation that scales the gradient
(find the bug); bfloat16's rounding and AdamW's state (predict); FSDP over more GPUs
(modify)."""

import functools
import numbers

import torch

from course_lib.exercises import Fail, exercise
from course_lib.exercises.ch05_transformer_block import _close, _tensor


def _scalar(x) -> bool:
    return isinstance(x, torch.Tensor) and x.numel() == 1


@exercise(
    "scaling.training_memory",
    "training_memory(n_params, bytes_per_value): bytes of (weights, gradients, "
    "Adam state)",
    kind="implement",
    hints=(
        "Three tensors per parameter kind: the weight, its gradient, and what Adam "
        "keeps for it.",
        "Adam keeps two running moments per weight, m and v, each the size of the "
        "weight.",
        "return n_params * bytes_per_value, n_params * bytes_per_value, "
        "2 * n_params * bytes_per_value",
    ),
)
def check_training_memory(training_memory) -> str:
    for n, b in ((1000, 4), (124_000_000, 4), (7, 2)):
        out = training_memory(n, b)
        if (
            not isinstance(out, (tuple, list))
            or len(out) != 3
            or not all(isinstance(x, numbers.Real) or _scalar(x) for x in out)
        ):
            raise Fail(f"return three numbers (weights, gradients, adam), got {out!r}.")
        weights, grads, adam = out
        if weights == n * b * 8 or grads == n * b * 8:
            raise Fail("that is bits: bytes_per_value already counts bytes.")
        if weights != n * b:
            raise Fail(
                f"weights of {n} values of {b} bytes are {n * b} bytes, got {weights}."
            )
        if grads != n * b:
            raise Fail(
                "one gradient per weight, of the same size: "
                f"{n * b} bytes, got {grads}."
            )
        if adam == n * b:
            raise Fail("Adam keeps two moments per weight (m and v), not one.")
        if adam == 2 * n * 4 and b != 4:
            raise Fail(
                "use bytes_per_value for the moments too (this exercise "
                "keeps every tensor at the same precision)."
            )
        if adam != 2 * n * b:
            raise Fail(f"Adam's state is 2 x {n} x {b} bytes, got {adam}.")
    return "16 bytes per parameter in float32: 4 weights + 4 gradients + 8 Adam."


def _grads(seed: int, ranks: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 5, generator=g) for _ in range(ranks)]


@exercise(
    "scaling.all_reduce_mean",
    "all_reduce_mean(grads): one gradient per rank in, every rank's copy of the mean "
    "out",
    kind="implement",
    hints=(
        "The chapter averaged two ranks by hand, (a + b) / 2; write it for any "
        "number of ranks, and give every rank its own copy of the result.",
        "torch.stack(grads) is (R, 4, 5); the mean over dim 0 is the all-reduce-mean.",
        "mean = torch.stack(grads).mean(0); return [mean.clone() for _ in grads]",
    ),
)
def check_all_reduce_mean(all_reduce_mean) -> str:
    grads = _grads(0)
    before = [t.clone() for t in grads]
    out = all_reduce_mean([t.clone() for t in grads])
    if isinstance(out, torch.Tensor):
        raise Fail(
            "return a list with one tensor per rank: after an all-reduce "
            "every rank holds the result."
        )
    if not isinstance(out, (list, tuple)) or len(out) != len(grads):
        raise Fail(f"return a list of {len(grads)} tensors, one per rank.")
    mean = torch.stack(before).mean(0)
    total = torch.stack(before).sum(0)
    outs = [_tensor(t, mean.shape) for t in out]
    if all(_close(t, total) for t in outs):
        raise Fail("that is the sum: divide by the number of ranks (DDP averages).")
    if all(_close(t, before[0]) for t in outs):
        raise Fail("every rank got rank 0's gradient: a broadcast, not a reduce.")
    if all(
        _close(t, b.mean()) or _close(t, b.mean().expand_as(b))
        for t, b in zip(outs, before, strict=True)
    ):
        raise Fail("you averaged inside each tensor: average across the ranks.")
    if not all(_close(t, mean) for t in outs):
        raise Fail("some rank's result differs from the mean over the ranks.")
    two = _grads(1, ranks=2)
    if not all(
        _close(t, torch.stack(two).mean(0))
        for t in all_reduce_mean([t.clone() for t in two])
    ):
        raise Fail("with 2 ranks the result is wrong: do not hard-code 3 ranks.")
    return "every rank holds the mean gradient, as DDP leaves it after backward."


def buggy_rank_slice(x, rank, world_size):  # (N, ...) -> (N // world_size, ...)
    B = len(x) // world_size
    return x[rank : rank + B]


@exercise(
    "scaling.rank_slice",
    "fix buggy_rank_slice: the ranks train on overlapping rows and skip others",
    kind="find-the-bug",
    hints=(
        "List the rows each rank gets for a batch of 8 and 4 ranks: which rows are "
        "taken twice, which never?",
        "Rank r must start where rank r - 1 stopped: after r slices of B rows.",
        "return x[rank * B : (rank + 1) * B]",
    ),
    buggy=buggy_rank_slice,
)
def check_rank_slice(rank_slice) -> str:
    x = torch.arange(12 * 3).reshape(12, 3)
    for world in (2, 3, 4):
        parts = [rank_slice(x, r, world) for r in range(world)]
        B = len(x) // world
        for r, part in enumerate(parts):
            part = _tensor(part, (B, 3))
            if torch.equal(part, x[r::world]):
                raise Fail(
                    "you take every world_size-th row: a valid split, but "
                    "not the one course_lib uses; take rows r*B .. r*B+B-1."
                )
            if r and torch.equal(part, x[:B]):
                raise Fail(
                    "every rank gets the first rows: they all compute the same "
                    "gradient. Offset by rank * B."
                )
            if r and torch.equal(part, x[r : r + B]):
                used = torch.cat([p[:, 0] for p in parts]).unique().numel()
                raise Fail(
                    f"rank {r} starts at row {r}, inside rank 0's slice: with "
                    f"{world} ranks only {used} of {len(x)} rows are used and some "
                    "are used twice. Offset by rank * B."
                )
            if not torch.equal(part, x[r * B : (r + 1) * B]):
                raise Fail(
                    f"rank {r} of {world} should get rows {r * B} to "
                    f"{(r + 1) * B - 1} (B = N // world_size = {B})."
                )
    return "the ranks' slices, put back together, are the global batch."


def buggy_accumulate(model, x, y, steps):  # x, y (B, T): one batch in `steps` pieces
    model.zero_grad()
    for xs, ys in zip(x.chunk(steps), y.chunk(steps), strict=True):
        _, loss = model(xs, ys)
        loss.backward()  # .grad adds up over the pieces


def _tiny_gpt_and_batch():
    from course_lib.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=11, block_size=8, num_layers=1, num_heads=2, d_model=16
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 11, (8, 8), generator=g)
    y = torch.randint(0, 11, (8, 8), generator=g)
    return GPT(config), x, y


@exercise(
    "scaling.grad_accum",
    "fix buggy_accumulate: two half-batches give twice the full batch's gradient",
    kind="find-the-bug",
    hints=(
        "Each piece's loss is already a mean over its own tokens. What does adding "
        "`steps` such means give?",
        "backward() adds into .grad: after the loop .grad is the sum of `steps` "
        "mean-gradients, `steps` times the gradient of the whole batch.",
        "(loss / steps).backward(), with zero_grad() once, before the loop.",
    ),
    buggy=buggy_accumulate,
)
def check_grad_accum(accumulate) -> str:
    model, x, y = _tiny_gpt_and_batch()
    model(x, y)[1].backward()
    full = [p.grad.clone() for p in model.parameters()]
    for steps in (2, 4):
        for p in model.parameters():
            p.grad = torch.full_like(p, 7.0)  # left over from an earlier step
        accumulate(model, x, y, steps)
        grads = [p.grad for p in model.parameters()]
        if any(g is None for g in grads):
            raise Fail("some .grad is None after your function: call backward().")
        if all(_close(g, f) for g, f in zip(grads, full, strict=True)):
            continue
        norm = torch.cat([g.flatten() for g in grads]).norm()
        ratio = (norm / torch.cat([f.flatten() for f in full]).norm()).item()
        if abs(ratio - steps) < 0.01:
            raise Fail(
                f"with {steps} pieces the gradient is {ratio:.2f} times the full "
                "batch's: each piece's loss is a mean, so divide it by steps."
            )
        grads = [g.clone() for g in grads]
        model.zero_grad()
        model(x.chunk(steps)[-1], y.chunk(steps)[-1])[1].backward()
        last = [p.grad / steps for p in model.parameters()]
        if all(_close(g, f) for g, f in zip(grads, last, strict=True)):
            raise Fail(
                "only the last piece's gradient is left: zeroing .grad inside the "
                "loop throws the other pieces away. Zero it once, before the loop."
            )
        if torch.allclose(
            grads[0], torch.full_like(grads[0], 7.0) + full[0], atol=1e-4
        ):
            raise Fail("the old .grad is still added in: zero it before the loop.")
        raise Fail(
            f"with {steps} pieces the accumulated gradient differs from the full "
            f"batch's (norm ratio {ratio:.2f})."
        )
    return (
        "the mean of the pieces' mean losses is the whole batch's loss: the same "
        "gradient, in less memory, for grad_accum_steps as for DDP's ranks."
    )


# ---------------------------------------------------------------- predict


def _number(answer, what: str) -> float:
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        raise Fail(f"write your prediction as a number ({what}), got {answer!r}.")
    return float(answer)


@exercise(
    "scaling.bf16_round",
    "predict: float(torch.tensor(1 + 2**-9).to(torch.bfloat16))",
    kind="predict",
    hints=(
        "bfloat16 keeps 8 bits of precision (7 stored + the implicit 1). What is "
        "the gap between 1 and the next bfloat16 number?",
        "That gap is torch.finfo(torch.bfloat16).eps = 2**-7 = 0.0078. 2**-9 is a "
        "quarter of it: round to the nearest.",
        "1.0: the 2**-9 is lost (float16, eps 2**-10, would keep it: 1.001953125).",
    ),
)
def check_bf16_round(prediction) -> str:
    guess = _number(prediction, "the float it prints")
    value = float(torch.tensor(1 + 2**-9).to(torch.bfloat16))
    eps = torch.finfo(torch.bfloat16).eps
    why = (
        f"{value}: the bfloat16 numbers next to 1 are 1 and 1 + eps = {1 + eps}; "
        f"1 + 2**-9 is a quarter of the way, so it rounds to {value}."
    )
    if guess == value:
        return why
    if guess == 1 + 2**-9:
        raise Fail(f"that is float32's (and float16's) answer, not bfloat16's. {why}")
    if guess == 1 + eps:
        raise Fail(f"it rounds to the nearest, not up. {why}")
    raise Fail(f"you predicted {guess!r}. {why}")


@functools.cache
def _adam_state_bytes() -> tuple[int, int, int]:
    """(bytes of AdamW's state after one step, parameters, parameter tensors) for
    the chapter's GPT: 4 layers, 4 heads, width 128, context 64, its vocabulary."""
    from course_lib.corpora import load_corpus
    from course_lib.gpt import GPT, GPTConfig
    from course_lib.tokenizers import CharTokenizer

    vocab = CharTokenizer.from_text(load_corpus().text).vocab_size
    model = GPT(
        GPTConfig(
            vocab_size=vocab, block_size=64, num_layers=4, num_heads=4, d_model=128
        )
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    state = sum(
        v.numel() * v.element_size()
        for per_param in opt.state.values()
        for v in per_param.values()
        if isinstance(v, torch.Tensor)
    )
    params = list(model.parameters())
    return state, sum(p.numel() for p in params), len(params)


@exercise(
    "scaling.adam_state",
    "predict: the bytes of AdamW's state for this chapter's GPT, after one step",
    kind="predict",
    hints=(
        "The parameter count is printed at the top of the chapter. What does AdamW "
        "keep per parameter, and in which dtype?",
        "Two float32 moments, m and v, per parameter: 2 x 4 bytes. (Plus a step "
        "counter per tensor, a few hundred bytes in all.)",
        "8 x 814,720 = 6,517,760 bytes, about 6.5 MB.",
    ),
)
def check_adam_state(prediction) -> str:
    guess = _number(prediction, "a number of bytes")
    state, n, tensors = _adam_state_bytes()
    why = (
        f"measured {state:,} bytes: m and v, 2 x 4 bytes for each of the {n:,} "
        f"parameters ({8 * n:,}), plus a 4-byte step counter for each of its "
        f"{tensors} tensors."
    )
    if abs(guess - state) <= 0.01 * state:
        return why
    if abs(guess - 4 * n) <= 0.01 * state:
        raise Fail(f"that is one moment; Adam keeps two. {why}")
    if abs(guess - 16 * n) <= 0.01 * state or abs(guess - 12 * n) <= 0.01 * state:
        raise Fail(f"that counts the weights (and gradients) too. {why}")
    if abs(guess - 8 * 8 * n) <= 0.05 * state:
        raise Fail(f"that is bits, not bytes. {why}")
    if abs(guess - 2 * n) <= 0.01 * state:
        raise Fail(f"that is the number of values, not bytes (4 each). {why}")
    raise Fail(f"you predicted {guess:,.0f} bytes. {why}")


# ---------------------------------------------------------------- modify


def fsdp_gb_per_gpu(n_params: int, gpus: int) -> float:
    """GB of training state per GPU when FSDP shards AdamW's 16 bytes per parameter
    (weights, gradients, m, v in float32) over ``gpus`` GPUs."""
    return 16 * n_params / gpus / 1e9


@exercise(
    "scaling.fsdp_shards",
    "modify: the training state per GPU of the 70B model with 64-way FSDP",
    kind="modify",
    hints=(
        "In the memory table's cell change the 8 of 'total / 8' (and its header) "
        "to 64 and read the 70B row.",
        "FSDP divides weights, gradients and Adam's state evenly: 16 bytes x 70e9 "
        "/ 64.",
        "17.5 GB per GPU: it fits an 80 GB GPU, with room for activations.",
    ),
)
def check_fsdp_shards(answer) -> str:
    guess = _number(answer, "GB per GPU")
    n = 70_000_000_000
    per_gpu = fsdp_gb_per_gpu(n, 64)
    if abs(guess - per_gpu) <= 0.05:
        return (
            f"{per_gpu:.1f} GB per GPU (1120 GB / 64): on 8 GPUs each held "
            f"{fsdp_gb_per_gpu(n, 8):.0f} GB, more than an 80 GB GPU; on 64 it fits."
        )
    if abs(guess - fsdp_gb_per_gpu(n, 8)) <= 0.05:
        raise Fail("that is the 8-way figure the chapter prints: change 8 to 64.")
    if abs(guess - 16 * n / 1e9) <= 1:
        raise Fail("that is the whole state, unsharded: divide by the 64 GPUs.")
    if abs(guess - 16 * n / 64 / 2**30) <= 0.05:
        raise Fail("the table counts 1 GB = 1e9 bytes, not 2**30.")
    if abs(guess - 8 * n / 64 / 1e9) <= 0.05:
        raise Fail("that counts Adam's moments only; FSDP shards all 16 bytes.")
    raise Fail(f"you reported {guess:g} GB; recompute the 70B row with 64 GPUs.")
