"""Data-parallel training with PyTorch's own machinery (chapter 11).

Started as ``torchrun --nproc_per_node=N ...``, the same script runs in N processes
(*ranks*). Each holds a whole copy of the model, trains on its own slice of every
batch, and ``DistributedDataParallel`` (DDP) averages the gradients over the ranks
(an all-reduce) during ``backward``; so every rank takes the same optimizer step and
the copies stay equal. torchrun tells each process who it is through environment
variables: ``RANK`` (0 .. N-1), ``LOCAL_RANK`` (its index on this machine, which
picks its GPU), ``WORLD_SIZE`` (N), ``MASTER_ADDR`` / ``MASTER_PORT`` (where the
ranks meet).

- :class:`Context`: this process's rank, the world size, the backend.
- :func:`setup`: start the process group when torchrun started us (gloo on the CPU,
  NCCL on CUDA); a single process gets ``Context()`` and nothing changes.
- :func:`wrap`: the model in DDP, or the model itself in a single process.
- :func:`all_reduce_mean`, :func:`barrier`, :func:`is_main`, :func:`cleanup`.

How each rank takes its slice of a batch is ``course_lib.batching.rank_batches``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Context:
    """Who this process is in a data-parallel run (one process: the defaults)."""

    rank: int = 0  # this process's index among all processes, 0 .. world_size - 1
    world_size: int = 1  # number of processes training the one model
    local_rank: int = 0  # index on this machine: which GPU this process uses
    backend: str | None = None  # "gloo" (CPU) or "nccl" (CUDA); None: one process

    def __post_init__(self) -> None:
        for name in ("rank", "world_size", "local_rank"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Context.{name} must be an int >= 0, got {value!r}.")
        if not self.rank < self.world_size:
            raise ValueError(
                f"Context: need 0 <= rank < world_size, got rank={self.rank}, "
                f"world_size={self.world_size}."
            )

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, draws the progress bar and saves."""
        return self.rank == 0


def _check_context(context, where: str) -> None:
    if not isinstance(context, Context):
        raise ValueError(
            f"{where}: context must be a distributed.Context (from setup()), got "
            f"{type(context).__name__}."
        )


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"environment variable {name}={value!r} must be an int; torchrun sets it, "
            "do not set it by hand."
        ) from None


def setup(device: torch.device | str = "cpu") -> Context:
    """The :class:`Context` of this process, starting the process group if torchrun
    launched several processes and nobody started it yet. ``device``: where the model
    lives (``cpu``: gloo; ``cuda:LOCAL_RANK``: NCCL).

    Raises ``ValueError`` for a torchrun environment with variables missing, more
    ranks on this machine than GPUs, a model on the wrong GPU, or MPS (no DDP there).
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"setup: device must be a torch.device or a name like 'cpu' or 'cuda:0', "
            f"got {device!r}."
        ) from None
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = _env_int("LOCAL_RANK") if "LOCAL_RANK" in os.environ else rank
        return Context(rank, world, local, dist.get_backend())
    if "WORLD_SIZE" not in os.environ or _env_int("WORLD_SIZE") == 1:
        return Context()
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} says this is one of several "
            f"processes, but {', '.join(missing)} not set: start the script with "
            "`torchrun --standalone --nproc_per_node=N script.py`, or unset WORLD_SIZE."
        )
    rank, world, local = (_env_int(n) for n in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if device.type == "mps":
        raise ValueError(
            "device='mps': PyTorch has no DDP backend for Apple GPUs; train with "
            "several processes on the CPU (COURSE_DEVICE=cpu) or with one process."
        )
    backend = "gloo"
    if device.type == "cuda":
        backend = "nccl"
        if local >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} "
                "GPU(s): ask torchrun for at most one process per GPU "
                "(--nproc_per_node)."
            )
        if device.index != local:
            raise ValueError(
                f"the model is on {device}, but rank {rank} (LOCAL_RANK={local}) must "
                f"use cuda:{local}: move it with model.to(f'cuda:{{LOCAL_RANK}}')."
            )
        torch.cuda.set_device(local)
    dist.init_process_group(backend)  # reads MASTER_ADDR, MASTER_PORT, RANK, ...
    return Context(rank, world, local, backend)


def is_main() -> bool:
    """True in rank 0 or in a single process (for printing and saving)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def wrap(model: nn.Module, context: Context) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` for several ranks, else ``model``.

    DDP copies rank 0's weights to every rank when it is built, then averages the
    gradients during ``backward``, bucket by bucket while the backward pass is still
    running, so communication overlaps with computation."""
    _check_context(context, "wrap")
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"wrap: model must be a torch.nn.Module, got {type(model).__name__}."
        )
    if context.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [context.local_rank] if context.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=ids)


def all_reduce_mean(tensor: torch.Tensor, context: Context) -> torch.Tensor:
    """The mean of ``tensor`` over all ranks (in place; returned). This is what DDP
    does to every gradient: a sum over the ranks, then a division by their number."""
    _check_context(context, "all_reduce_mean")
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(
            f"all_reduce_mean: tensor must be a torch.Tensor, got {type(tensor)}."
        )
    if context.world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)  # gloo has no AVG
        tensor /= context.world_size
    return tensor


def barrier(context: Context) -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a file)."""
    _check_context(context, "barrier")
    if context.world_size > 1:
        dist.barrier()


def cleanup() -> None:
    """End the process group, if one was started (call once, at the end)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
