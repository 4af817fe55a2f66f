"""Run by tests/test_distributed.py under torchrun (not a test itself):

    torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py OUT_DIR

Trains the tiny GPT of the tests with ``course_lib.training.train`` (2 micro-batches
of 2 sequences per rank, so the global batch is 8) and writes, per rank, its final
weights ``OUT_DIR/rank<r>.safetensors`` and ``OUT_DIR/rank<r>.json`` (the history and
what the process saw), so the test can compare the ranks with each other and with one
process of batch 8. Rank 0 alone also writes the checkpoint ``OUT_DIR/ckpt``.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from course_lib import distributed
from course_lib.gpt import GPT, GPTConfig
from course_lib.training import TrainConfig, train

TINY = GPTConfig(vocab_size=13, block_size=16, num_layers=2, num_heads=2, d_model=16)
CONFIG = dict(
    max_steps=6,
    block_size=8,
    lr=3e-3,
    min_lr=3e-4,
    warmup_steps=2,
    eval_interval=3,
    eval_steps=2,
    progress=False,
    save_best=False,
)


def data() -> torch.Tensor:
    return torch.randint(0, 13, (2000,), generator=torch.Generator().manual_seed(0))


def main(out: Path) -> None:
    torch.manual_seed(0)
    model = GPT(TINY)
    config = TrainConfig(batch_size=2, grad_accum_steps=2, **CONFIG)
    history = train(model, data(), data(), config, checkpoint_path=out / "ckpt")
    rank = dist.get_rank()  # fails loudly if train did not start the process group
    save_file(
        {k: v.clone() for k, v in model.state_dict().items()},
        out / f"rank{rank}.safetensors",
    )
    seen = {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
    (out / f"rank{rank}.json").write_text(json.dumps({"history": history, **seen}))
    distributed.cleanup()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
