"""The course's training loop (chapter 07), generic enough for any model with
``model(x, y) -> (logits, loss)``: a language model on a token tensor, or a sequence
classifier fed by a batch function (chapters 09-10).

- :class:`TrainConfig`: every knob of a run, with its meaning.
- :func:`lr_at`: linear warmup then cosine decay to ``min_lr``.
- :func:`configure_optimizer`: AdamW with decoupled weight decay on matrices only.
- :func:`evaluate`, :func:`train`: the loop itself, returning a history;
  :func:`validation_loss`: the one validation figure the chapters report.

Batches come from ``course_lib.batching``, checkpoints from ``course_lib.checkpoints``.
Under ``torchrun`` the same ``train`` runs data-parallel (chapter 11): DDP lives in
``course_lib.distributed``, the split of each batch over the ranks in ``batching``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from course_lib import distributed
from course_lib.batching import batch_source, rank_batches
from course_lib.checkpoints import load_checkpoint, save_checkpoint
from course_lib.checks import (
    check_module,
    check_token_ids,
    check_train_fields,
    is_int,
)


@dataclass
class TrainConfig:
    """Everything that defines a training run (the model has its own config)."""

    max_steps: int = 1000  # optimizer steps to take in total
    batch_size: int = 32  # B: sequences per micro-batch, on each rank
    grad_accum_steps: int = 1  # k: micro-batches summed into one optimizer step
    block_size: int = 128  # T: tokens per sequence (token-tensor data only)
    lr: float = 1e-3  # peak learning rate, reached at the end of the warmup
    min_lr: float = 1e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 100  # steps of linear warmup from 0 to lr
    decay_steps: int | None = None  # step where the cosine reaches min_lr (None: max)
    weight_decay: float = 0.1  # AdamW's decoupled decay, on matrices only
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW's moment decay rates
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    eval_interval: int = 100  # evaluate every this many steps (and at the last one)
    eval_steps: int = 20  # batches per evaluation (the same batches every time)
    eval_batch_size: int = 32  # windows per evaluation batch (token tensors), any run
    seed: int = 0  # seeds the batch sampler; evaluation uses seed + 1
    fused: bool = True  # AdamW's fused kernel where this PyTorch has one
    save_best: bool = True  # checkpoint only on a new best val loss (else every eval)
    progress: bool = True  # draw a tqdm progress bar

    compile: bool = False  # run the model's forward and backward torch.compile'd
    autocast: str | None = None  # "bfloat16": forward and loss under torch.autocast

    def __post_init__(self) -> None:
        self.betas = check_train_fields(self)  # a list from JSON becomes a tuple again


def _check_train_config(config, where: str) -> None:
    if not isinstance(config, TrainConfig):
        raise ValueError(
            f"{where}: config must be a TrainConfig, got {type(config).__name__}."
        )


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): a straight line from
    ``lr / warmup_steps`` up to ``lr``, then half a cosine down to ``min_lr`` at
    ``decay_steps`` (default ``max_steps``), then ``min_lr``. Raises ``ValueError``
    for a step that is not an int >= 0."""
    _check_train_config(config, "lr_at")
    if not is_int(step) or step < 0:
        raise ValueError(f"lr_at: step must be an int >= 0, got {step!r}.")
    c = config
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    end = c.decay_steps or c.max_steps
    if step >= end:
        return c.min_lr
    progress = (step - c.warmup_steps) / max(1, end - c.warmup_steps)  # 0 -> 1
    return c.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (c.lr - c.min_lr)


def configure_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with two groups: weight decay on every parameter with 2+ dimensions
    (Linear weights and embedding tables), none on biases and LayerNorm gains.

    Why: decay pulls weights toward 0. A matrix mixes features, and shrinking it is
    the regularisation we want. A bias or a LayerNorm gain is one number per feature
    that sets an offset or a scale: pulling a gain toward 0 would just shrink the
    signal. The embedding is decayed because GPT ties it to the output layer, a matrix
    like the others. Tied weights appear once (``parameters()`` de-duplicates)."""
    check_module(model, "configure_optimizer")
    _check_train_config(config, "configure_optimizer")
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    kwargs = dict(lr=config.lr, betas=config.betas)
    if config.fused:
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # no fused kernel for this device
            pass
    return torch.optim.AdamW(groups, foreach=True, **kwargs)


def _draw(data, config: TrainConfig, context: distributed.Context, name: str):
    """This rank's micro-batches of each optimizer step (``batching.rank_batches``)."""
    c = config
    args = (c.block_size, c.batch_size, c.grad_accum_steps)
    return rank_batches(data, *args, context.rank, context.world_size, name)


def _check_vocabulary(model: nn.Module, data, name: str) -> None:
    """Token ids within the model's vocabulary, checked once where the data enters
    (the forward pass does not read them: that would cost a host sync per step)."""
    vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
    if isinstance(data, torch.Tensor) and is_int(vocab_size):
        check_token_ids(data, vocab_size, name)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data,
    config: TrainConfig,
    context: distributed.Context | None = None,
) -> float:
    """Mean loss of ``model`` over ``config.eval_steps`` batches of ``data`` drawn
    with a generator seeded ``config.seed + 1``: the same batches at every call.

    The course's one protocol for a token tensor: batches of ``eval_batch_size``
    windows (:func:`validation_loss`), whatever the run's batch, accumulation or
    ranks; each rank scores its share and the sums add up. A batch function's batches
    have a training step's size, fed in micro-batches. Every rank must call it."""
    check_module(model, "evaluate")
    _check_train_config(config, "evaluate")
    context = context or distributed.Context()
    if isinstance(data, torch.Tensor):
        c = config
        every = batch_source(data, c.block_size, c.eval_batch_size, "val_data")
        rows = slice(context.rank, None, context.world_size)  # this rank's windows

        def draw(generator):
            x, y = every(generator)
            return [(x[rows], y[rows])] if len(x[rows]) else []

    else:
        draw = _draw(data, config, context, "val_data")
    generator = torch.Generator().manual_seed(config.seed + 1)
    was_training = model.training
    model.eval()
    device = _device(model)
    total, count = 0.0, 0  # summed loss and weight: windows, or micro-batches
    for _ in range(config.eval_steps):
        for x, y in draw(generator):  # this rank's micro-batches
            weight = len(x) if isinstance(data, torch.Tensor) else 1
            total += model(x.to(device), y.to(device))[1].item() * weight
            count += weight
    model.train(was_training)
    sums = torch.tensor([total, count], dtype=torch.float64, device=device)
    total, count = distributed.all_reduce_mean(sums, context).tolist()
    return total / count


def validation_loss(model: nn.Module, val_data, block_size: int = 64) -> float:
    """The validation loss every chapter reports for a language model: :func:`evaluate`
    on 20 fixed batches of 32 windows of ``block_size`` (64) tokens, drawn with seed
    1. The same windows for every model, so chapters' figures compare."""
    return evaluate(model, val_data, TrainConfig(block_size=block_size, progress=False))


def _quiet_compiler_notices() -> None:
    """Two notices the compiler prints on some installs that say nothing about the
    run: "No CUDA runtime is found" (a CUDA build of torch on a CPU machine, as on
    Colab) and "Guards may run slower on Python 3.13.0"."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", "Guards may run slower", RuntimeWarning)


def train(
    model: nn.Module,
    train_data,
    val_data,
    config: TrainConfig,
    callbacks: list[Callable[[dict], None]] | None = None,
    checkpoint_path=None,
    resume_from=None,
) -> dict:
    """Train ``model`` for ``config.max_steps`` steps; returns the history.

    ``train_data`` / ``val_data``: 1-D token tensors or ``batch_fn(generator) ->
    (x, y)``; ``model(x, y)`` must return ``(logits, loss)``. Every ``eval_interval``
    steps (and at the last) the validation loss is measured, each callback is called
    with the history, and, with ``checkpoint_path``, a checkpoint is written (on a new
    best val loss only if ``save_best``). ``resume_from`` continues a checkpointed run
    exactly where it stopped: weights, optimizer, step, sampler and RNG state.

    One optimizer step sums the gradients of ``grad_accum_steps`` micro-batches of
    ``batch_size``. Started by ``torchrun`` with several processes, ``train`` wraps the
    model in DDP (``course_lib.distributed``): each rank takes its slice of the global
    batch, gradients and the logged train loss are averaged over the ranks, and only
    rank 0 draws the bar and writes checkpoints; the history is the same on every rank
    (callbacks run on every rank). Batches go to the device the model is on.

    The history: ``step``, ``train_loss``, ``lr`` (one entry per step), ``eval_step``,
    ``val_loss``, ``time`` (seconds since the start, per evaluation), ``best_val``.
    The train losses stay on the device until an evaluation reads them all at once:
    no step waits for the host. ``compile`` and ``autocast``: chapter 11.
    """
    from tqdm.auto import tqdm

    check_module(model, "train")
    _check_train_config(config, "train")
    if callbacks is not None and (
        not isinstance(callbacks, (list, tuple)) or not all(map(callable, callbacks))
    ):
        raise ValueError(
            "train: callbacks must be a list of functions f(history), got "
            f"{callbacks!r}."
        )
    device = _device(model)
    context = distributed.setup(device)
    draw = _draw(train_data, config, context, "train_data")
    _draw(val_data, config, context, "val_data")
    _check_vocabulary(model, train_data, "train_data")  # once, not at every step
    _check_vocabulary(model, val_data, "val_data")
    optimizer = configure_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    history = {
        "step": [],
        "train_loss": [],
        "lr": [],
        "eval_step": [],
        "val_loss": [],
        "time": [],
        "best_val": math.inf,
    }
    start = 0
    if resume_from is not None:
        meta = load_checkpoint(resume_from, model, optimizer, generator)
        start, history = meta["step"], meta["history"]
        history["best_val"] = history.get("best_val") or math.inf
    net = distributed.wrap(model, context)  # DDP, or the model itself
    net.train()
    if config.compile:  # forward and backward as compiled kernels (chapter 11)
        _quiet_compiler_notices()
        net = torch.compile(net)
    autocast = (  # bfloat16 matrix products in the forward; weights stay float32
        torch.autocast(device.type, dtype=torch.bfloat16)
        if config.autocast == "bfloat16"
        else contextlib.nullcontext()
    )
    pending = []  # step losses still on the device: read at the next evaluation
    k = config.grad_accum_steps
    t0 = time.perf_counter() - (history["time"][-1] if history["time"] else 0.0)
    bar = tqdm(
        range(start, config.max_steps),
        disable=not (config.progress and context.is_main),
        initial=start,
        total=config.max_steps,
        desc="train",
    )
    for step in bar:
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        for i, (x, y) in enumerate(draw(generator)):
            # DDP averages gradients at every backward; skip that until the last one
            last = i == k - 1
            quiet = net.no_sync() if context.world_size > 1 and not last else None
            with quiet or contextlib.nullcontext():
                with autocast:
                    _, loss = net(x.to(device), y.to(device))
                (loss / k if k > 1 else loss).backward()  # the mean over k batches
            step_loss += loss.detach()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        pending.append(distributed.all_reduce_mean(step_loss / k, context))
        history["step"].append(step + 1)
        history["lr"].append(lr)
        done = step + 1
        if done % config.eval_interval == 0 or done == config.max_steps:
            # one host sync for all the steps since the last evaluation, not one a step
            history["train_loss"] += torch.stack(pending).float().tolist()
            pending.clear()
            val = evaluate(model, val_data, config, context)  # one figure, all ranks
            history["eval_step"].append(done)
            history["val_loss"].append(val)
            history["time"].append(time.perf_counter() - t0)
            bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}", val=f"{val:.3f}")
            improved = val < history["best_val"]
            history["best_val"] = min(val, history["best_val"])
            save = checkpoint_path is not None and (improved or not config.save_best)
            if save and context.is_main:  # one writer; every rank holds the same
                save_checkpoint(
                    checkpoint_path,
                    model,
                    optimizer,
                    done,
                    generator,
                    history,
                    {"train_config": dataclasses.asdict(config)},
                )
            for callback in callbacks or []:
                callback(history)
    bar.close()
    distributed.barrier(context)  # the last checkpoint is on disk for every rank
    return history
