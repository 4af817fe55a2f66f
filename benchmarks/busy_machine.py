"""A training step on a busy machine: OpenMP threads that spin vs threads that sleep.

Times one training step of chapter 07's GPT (4 layers, width 128, batch 16, context 64)
at 2 threads, alone and with ``--jobs`` CPU-bound jobs beside it (each a process doing
matrix products on 2 threads, as another notebook or test run would): with OpenMP's
default wait (``OMP_WAIT_POLICY`` unset: a waiting thread spins for a while first),
with ``OMP_WAIT_POLICY=PASSIVE`` (it sleeps at once), and at 1 thread.
Each measurement runs in its own process, since OpenMP reads the variable at start.
``tools/nb.py``'s TEST_ENV sets PASSIVE for nbval and ``make notebooks`` because of
what this prints. The last line is one JSON object.

    python benchmarks/busy_machine.py [--jobs 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

STEP = r"""
import json, sys, time, torch
from course_lib.gpt import GPT, GPTConfig
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
config = GPTConfig(103, 64, num_layers=4, num_heads=4, d_model=128)
model = GPT(config)
opt = torch.optim.AdamW(model.parameters(), 1e-3)
x = torch.randint(0, 103, (16, 64)); y = torch.randint(0, 103, (16, 64))
def step():
    _, loss = model(x, y); opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3):
    step()
start = time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
print(json.dumps((time.perf_counter() - start) / int(sys.argv[2]) * 1000))
"""

BURN = r"""
import time, torch
torch.set_num_threads(2)
a = torch.randn(256, 256)
end = time.time() + float(__import__("sys").argv[1])
while time.time() < end:
    a = (a @ a).tanh()
"""


def ms_per_step(threads: int, policy: str | None, steps: int) -> float:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run(
        [sys.executable, "-c", STEP, str(threads), str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="CPU-bound jobs beside")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    cases = [
        ("2 threads, default wait", 2, None),
        ("2 threads, OMP_WAIT_POLICY=PASSIVE", 2, "PASSIVE"),
        ("1 thread", 1, None),
    ]
    results = {}
    for busy in (False, True):
        burners = []
        if busy:
            burners = [
                subprocess.Popen([sys.executable, "-c", BURN, "3600"])
                for _ in range(args.jobs)
            ]
            time.sleep(2)
        try:
            for name, threads, policy in cases:
                key = f"{name}, {'busy' if busy else 'alone'}"
                results[key] = round(ms_per_step(threads, policy, args.steps), 1)
                print(f"{key:48s} {results[key]:9.1f} ms/step", flush=True)
        finally:
            for p in burners:
                p.kill()
    print(json.dumps({"jobs_beside": args.jobs, "ms_per_step": results}))


if __name__ == "__main__":
    main()
