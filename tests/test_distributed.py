"""course_lib.distributed and the data-parallel path of course_lib.training: the
split of a global batch over ranks, gradient accumulation equal to one big batch,
clear errors for a bad torchrun set-up, and (slow) two real gloo processes under
torchrun equal to one process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from course_lib import distributed
from course_lib.batching import rank_batches
from course_lib.checkpoints import load_checkpoint
from course_lib.distributed import Context
from course_lib.gpt import GPT
from course_lib.training import TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import CONFIG, TINY, data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cfg(**overrides):
    return TrainConfig(**{**CONFIG, **overrides})


def test_ranks_slice_the_batch_one_process_would_draw():
    tokens, B, k = data(), 3, 2
    one = rank_batches(tokens, 8, 2 * k * B)(torch.Generator().manual_seed(5))
    assert len(one) == 1
    parts, states = [], []
    for rank in range(2):
        g = torch.Generator().manual_seed(5)
        micro = rank_batches(tokens, 8, B, k, rank=rank, world_size=2)(g)
        assert len(micro) == k and all(x.shape == (B, 8) for x, _ in micro)
        parts += micro
        states.append(g.get_state())
    assert torch.equal(torch.cat([x for x, _ in parts]), one[0][0])
    assert torch.equal(torch.cat([y for _, y in parts]), one[0][1])
    assert torch.equal(states[0], states[1])  # the generators stay in step


def test_callable_batches_are_dealt_out_in_order():
    counter = iter(range(100))

    def batch_fn(g):
        i = next(counter)
        return torch.tensor([i]), torch.tensor([i])

    draw = rank_batches(batch_fn, 8, 4, grad_accum_steps=2, rank=1, world_size=2)
    assert [int(x) for x, _ in draw(None)] == [2, 3]  # calls 0, 1 belong to rank 0
    assert [int(x) for x, _ in draw(None)] == [6, 7]


def test_gradient_accumulation_equals_one_big_batch():
    # one step, no clipping: the gradient left in .grad is the step's gradient
    grads = {}
    for B, k in ((8, 1), (2, 4)):
        torch.manual_seed(0)
        model = GPT(TINY)
        c = cfg(batch_size=B, grad_accum_steps=k, max_steps=1, grad_clip=0.0)
        h = train(model, data(), data(), c)
        grads[k] = ([p.grad.clone() for p in model.parameters()], h)
    (g1, h1), (g4, h4) = grads[1], grads[4]
    for a, b in zip(g1, g4, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)  # not 4x: loss / k
    torch.testing.assert_close(h4["train_loss"], h1["train_loss"])
    torch.testing.assert_close(h4["val_loss"], h1["val_loss"])


def test_gradient_accumulation_trains_like_one_big_batch():
    runs = []
    for B, k in ((8, 1), (4, 2)):
        torch.manual_seed(0)
        model = GPT(TINY)
        runs.append(
            (model, train(model, data(), data(), cfg(batch_size=B, grad_accum_steps=k)))
        )
    (a, ha), (b, hb) = runs
    torch.testing.assert_close(hb["train_loss"], ha["train_loss"])
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)


def test_single_process_context_changes_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup("cpu")
    assert ctx == Context() and ctx.is_main and distributed.is_main()
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, ctx) is model
    t = torch.tensor([3.0])
    assert distributed.all_reduce_mean(t, ctx) is t and t.item() == 3.0


TORCHRUN_ENV = dict(
    RANK="0",
    LOCAL_RANK="0",
    WORLD_SIZE="2",
    MASTER_ADDR="127.0.0.1",
    MASTER_PORT="29500",
)


@pytest.mark.parametrize(
    "env, device, words",
    [
        ({"WORLD_SIZE": "2"}, "cpu", "RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not"),
        ({"WORLD_SIZE": "two"}, "cpu", "WORLD_SIZE='two' must be an int"),
        (TORCHRUN_ENV, "mps", "no DDP backend for Apple GPUs"),
        ({**TORCHRUN_ENV, "LOCAL_RANK": "7"}, "cuda:7", "LOCAL_RANK=7 but this"),
    ],
)
def test_bad_torchrun_settings_are_clear_errors(monkeypatch, env, device, words):
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(ValueError, match=words):
        distributed.setup(device)


def test_bad_accumulation_is_a_value_error():
    with pytest.raises(ValueError, match="grad_accum_steps must be an int >= 1"):
        TrainConfig(grad_accum_steps=0)


def _torchrun(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for name in distributed.TORCHRUN_VARIABLES:
        env.pop(name, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        *args,
    ]
    done = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process_of_twice_the_batch(tmp_path):
    _torchrun([str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)], tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["backend"] == "gloo"
    w0, w1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    for name in w0:
        assert torch.equal(w0[name], w1[name]), name  # the replicas never drift
    h0, h1 = ({k: v for k, v in r["history"].items() if k != "time"} for r in ranks)
    assert h0 == h1  # the same losses on both ranks (only the clock differs)
    # one process, the same global batch of 8, no accumulation
    torch.manual_seed(0)
    single = GPT(TINY)
    h = train(single, data(), data(), cfg(batch_size=8))
    ddp = ranks[0]["history"]
    torch.testing.assert_close(ddp["train_loss"], h["train_loss"])
    torch.testing.assert_close(ddp["val_loss"], h["val_loss"])
    for name, value in single.state_dict().items():
        torch.testing.assert_close(w0[name], value, rtol=1e-4, atol=1e-5, msg=name)
    # rank 0 alone wrote the checkpoint, and it holds the trained weights
    restored = GPT(TINY)
    assert load_checkpoint(tmp_path / "ckpt", restored)["step"] == 6
    for name, value in restored.state_dict().items():
        assert torch.equal(value, w0[name]), name


@pytest.mark.slow
def test_cli_under_torchrun_prints_once_and_matches_one_process(tmp_path):
    from course_lib.train_gpt import main

    text = tmp_path / "t.txt"
    text.write_text("abcabcabd" * 200, encoding="utf-8")
    flags = [
        "--text-file",
        str(text),
        "--num-layers",
        "1",
        "--num-heads",
        "2",
        "--d-model",
        "16",
        "--block-size",
        "8",
        "--eval-interval",
        "4",
        "--eval-steps",
        "2",
        "--warmup-steps",
        "2",
        "--max-steps",
        "8",
        "--no-progress",
        "--device",
        "cpu",
    ]
    done = _torchrun(
        [
            "-m",
            "course_lib.train_gpt",
            "--out",
            str(tmp_path / "ddp"),
            "--batch-size",
            "4",
            *flags,
        ],
        tmp_path,
    )
    summaries = [
        json.loads(ln) for ln in done.stderr.splitlines() if ln.startswith("{")
    ]
    assert len(summaries) == 1, done.stderr  # rank 0 alone reports
    assert summaries[0]["world_size"] == 2
    one = main(["--out", str(tmp_path / "one"), "--batch-size", "8", *flags])
    for key in ("final_train_loss", "final_val_loss"):
        assert abs(summaries[0][key] - one[key]) <= 2e-4, (key, summaries[0], one)
