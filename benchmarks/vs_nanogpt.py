"""The course's training loop against nanoGPT's ``train.py``, side by side (chapter 11).

    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT     # outside this repo
    python benchmarks/vs_nanogpt.py --nanogpt /tmp/nanoGPT --rounds 3 --iters 200
    python benchmarks/vs_nanogpt.py --nanogpt /tmp/nanoGPT --time-to-loss

Both train the same shape, nanoGPT's CPU recipe (4 layers, 4 heads, width 128,
context 64, batch 12, dropout 0), on the same character-level corpus (the course's
built-in one, written into nanoGPT's ``data/course_pydocs/`` in its own format).

Per-iteration mode runs five variants as separate processes, one after another, in
``--rounds`` interleaved rounds (so a busy spell hits every variant alike): nanoGPT
eager and compiled, ours eager, compiled and bfloat16 autocast. nanoGPT's time per
iteration is the mean of the ``time ...ms`` it logs after ``--warmup`` iterations
(compilation and its step-0 evaluation fall in those); ours is
``benchmarks/train_throughput.py``'s ``ms_per_iter`` after the same warm-up, with
``first_call_s`` (which holds the compilation) reported apart. The table gives the
median over rounds and the load average seen around the runs.

``--time-to-loss`` runs nanoGPT's whole CPU recipe (2000 iterations, evaluations
every 250) once, takes its last validation loss, then trains ours with our own recipe
(``train_throughput.py --target-val-loss``) until it reaches that loss, compilation
and evaluations included in both wall times.

The last line is one JSON object. nanoGPT is run, never copied into the course.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.batching import train_val_split
from course_lib.corpora import load_corpus
from course_lib.tokenizers import CharTokenizer

REPO = Path(__file__).resolve().parents[1]
SHAPE = [
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--dropout=0.0",
]
ITER_LINE = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms", re.M)
VAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)", re.M)


def prepare_data(nanogpt: Path) -> Path:
    """The course's corpus as nanoGPT's ``train.bin``/``val.bin``/``meta.pkl``, split
    as ``train_throughput.py`` splits it (first 90 % / last 10 %)."""
    text = load_corpus("pydocs").text
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    train, val = train_val_split(ids, 0.1)
    out = nanogpt / "data" / "course_pydocs"
    out.mkdir(parents=True, exist_ok=True)
    train.numpy().astype(np.uint16).tofile(out / "train.bin")
    val.numpy().astype(np.uint16).tofile(out / "val.bin")
    meta = {"vocab_size": tok.vocab_size, "itos": dict(enumerate(tok.chars))}
    meta["stoi"] = {c: i for i, c in meta["itos"].items()}
    with open(out / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)
    return out


def nanogpt_cmd(iters: int, compile: bool, full_recipe: bool, out_dir: str) -> list:
    cmd = [sys.executable, "train.py", "config/train_shakespeare_char.py"]
    cmd += ["--dataset=course_pydocs", "--device=cpu", "--dtype=float32"]
    cmd += [f"--compile={compile}", "--eval_iters=20", "--log_interval=1", *SHAPE]
    cmd += [f"--out_dir={out_dir}", "--lr_decay_iters=2000"]
    cmd += ["--max_iters=2000" if full_recipe else f"--max_iters={iters}"]
    return cmd


THREADS = {}  # OMP_NUM_THREADS for every run, when --threads is given


def run(cmd: list, cwd: Path) -> tuple[str, float, tuple]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **THREADS)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout, wall, (load_before, os.getloadavg()[0])


def nanogpt_ms(stdout: str, warmup: int) -> float:
    times = [float(t) for i, t in ITER_LINE.findall(stdout) if int(i) > warmup]
    if not times:
        raise SystemExit(f"no iteration times in nanoGPT's output:\n{stdout[-2000:]}")
    return statistics.fmean(times)


def ours(iters: int, warmup: int, extra: list) -> tuple[dict, tuple]:
    cmd = [sys.executable, "benchmarks/train_throughput.py", f"--iters={iters}"]
    cmd += [f"--warmup-iters={warmup}", *extra]
    stdout, _, load = run(cmd, REPO)
    return json.loads(stdout.strip().splitlines()[-1]), load


def per_iteration(args, nanogpt: Path) -> dict:
    variants = {
        "nanoGPT eager": ("nano", False),
        "nanoGPT compiled": ("nano", True),
        "ours eager": ("ours", []),
        "ours compiled": ("ours", ["--compile"]),
        "ours bf16 autocast": ("ours", ["--autocast", "bfloat16"]),
    }
    ms = {name: [] for name in variants}
    first = {name: [] for name in variants}
    loads = []
    for r in range(args.rounds):
        for name, (who, opt) in variants.items():
            if who == "nano":
                cmd = nanogpt_cmd(args.iters + args.warmup, opt, False, "/tmp/nano_out")
                stdout, wall, load = run(cmd, nanogpt)
                ms[name].append(nanogpt_ms(stdout, args.warmup))
                first[name].append(wall)
            else:
                result, load = ours(args.iters, args.warmup, opt)
                ms[name].append(result["ms_per_iter"])
                first[name].append(result["first_call_s"])
            loads.extend(load)
            print(
                f"round {r + 1} {name:>20}: {ms[name][-1]:7.2f} ms/iter "
                f"(load {load[0]:.2f} -> {load[1]:.2f})",
                flush=True,
            )
    table = {n: round(statistics.median(v), 2) for n, v in ms.items()}
    base = table["nanoGPT eager"]
    print(f"\n{'variant':>20} {'median ms/iter':>15} {'vs nanoGPT eager':>17}  rounds")
    for name, value in table.items():
        runs = ", ".join(f"{x:.1f}" for x in ms[name])
        print(f"{name:>20} {value:>15.2f} {base / value:>16.2f}x  {runs}")
    checks = {
        "ours compiled / nanoGPT eager speed-up": base / table["ours compiled"],
        "ours eager / nanoGPT eager speed-up": base / table["ours eager"],
        "ours compiled / nanoGPT compiled speed-up": table["nanoGPT compiled"]
        / table["ours compiled"],
    }
    for name, value in checks.items():
        print(f"{name}: {value:.2f}x")
    print(f"load average: min {min(loads):.2f}, max {max(loads):.2f}")
    return {
        "mode": "per_iteration",
        "iters": args.iters,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "ms_per_iter_median": table,
        "ms_per_iter_runs": ms,
        "ours_first_call_s": {n: v for n, v in first.items() if n.startswith("ours")},
        "speedups": {k: round(v, 2) for k, v in checks.items()},
        "load_average": [round(min(loads), 2), round(max(loads), 2)],
    }


def time_to_loss(args, nanogpt: Path) -> dict:
    cmd = nanogpt_cmd(0, args.compile_nanogpt, True, "/tmp/nano_out_full")
    stdout, nano_wall, load1 = run(cmd, nanogpt)
    vals = VAL_LINE.findall(stdout)
    target = float(vals[-1][2])
    print(
        f"nanoGPT's recipe: val loss {target:.4f} at step {vals[-1][0]}, "
        f"{nano_wall:.1f} s wall (compile={args.compile_nanogpt})",
        flush=True,
    )
    extra = [f"--target-val-loss={target}"] + (["--compile"] if args.compile else [])
    start = time.perf_counter()
    result, load2 = ours(0, 0, extra)
    our_wall = time.perf_counter() - start
    reached = result["reached"]
    print(
        f"ours (compile={args.compile}): reached {reached} ; process wall "
        f"{our_wall:.1f} s; ratio {our_wall / nano_wall:.2f} of nanoGPT's"
    )
    return {
        "mode": "time_to_loss",
        "target_val_loss": target,
        "nanogpt_wall_s": round(nano_wall, 1),
        "nanogpt_compile": args.compile_nanogpt,
        "ours": result,
        "ours_wall_s": round(our_wall, 1),
        "ratio": round(our_wall / nano_wall, 3),
        "load_average": [round(x, 2) for x in load1 + load2],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nanogpt", type=Path, required=True, help="a nanoGPT checkout")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=200, help="timed iterations per run")
    p.add_argument("--warmup", type=int, default=10, help="untimed iterations first")
    p.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for all")
    p.add_argument("--time-to-loss", action="store_true")
    p.add_argument("--compile", action="store_true", help="ours, in --time-to-loss")
    p.add_argument("--compile-nanogpt", action="store_true", help="in --time-to-loss")
    args = p.parse_args()
    if args.threads:
        THREADS["OMP_NUM_THREADS"] = str(args.threads)
    nanogpt = args.nanogpt.resolve()
    if not (nanogpt / "train.py").is_file():
        raise SystemExit(
            f"--nanogpt {nanogpt}: no train.py there; clone nanoGPT first."
        )
    prepare_data(nanogpt)
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, CPU capability {cpu}, {os.cpu_count()} cores")
    result = (
        time_to_loss(args, nanogpt)
        if args.time_to_loss
        else per_iteration(args, nanogpt)
    )
    result.update(torch=torch.__version__, cpu_capability=cpu, cores=os.cpu_count())
    result["threads"] = args.threads or "torch's default"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
