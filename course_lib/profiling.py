"""How long a call takes and how much memory it needs: the measurements behind the
course's cost plots (chapter 04's O(T²) attention, and later the KV cache).

Time is wall-clock, measured by PyTorch's own benchmark timer,
``torch.utils.benchmark.Timer``: the mean of several back-to-back runs after warm-up
runs, so one-off costs (allocating, loading kernels) stay out. The timer waits for a
GPU to finish before it reads the clock (GPU kernels run asynchronously), and it runs
with the number of threads PyTorch is set to.

Memory is the *peak* number of bytes PyTorch's allocator held during the call, above
what was held when it started. On a GPU ``torch.cuda.max_memory_allocated`` gives it
directly. On the CPU PyTorch keeps no such counter, and Python's ``tracemalloc`` does
not see tensors, so we ask PyTorch's profiler to record every allocation and free
(``profile_memory=True``), put them in time order and take the largest running sum.
This counts what a kernel allocates and frees *inside* itself too (its scratch
buffers), which is exactly what distinguishes a fused attention kernel from the
step-by-step one. The profiler's public summaries (``prof.events()``, whose
``cpu_memory_usage`` is each operation's *net* allocation) cannot show such a peak:
a buffer allocated and freed inside one operation nets to zero there. So we read the
allocations one by one from the trace the profiler exports
(``prof.export_chrome_trace``), where each is a ``[memory]`` event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.attention import scaled_dot_product_attention
from course_lib.checks import is_int


def _check_callable(fn, where: str) -> None:
    if not callable(fn):
        raise ValueError(
            f"{where}: fn must be a function of no arguments, got {fn!r:.60}; wrap a "
            "call as lambda: f(x)."
        )


def _benchmark_timer():
    """``torch.utils.benchmark.Timer``. Importing it on a CUDA build of torch without a
    GPU (Colab's CPU runtime) logs "No CUDA runtime is found": noise when timing on the
    CPU, so that one logger is quieted for the import."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils.benchmark import Timer
    finally:
        logger.setLevel(level)
    return Timer


def time_call(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Seconds one call of ``fn()`` takes: the mean of ``repeat`` back-to-back calls.

    ``warmup`` calls run first, untimed; then ``torch.utils.benchmark.Timer.timeit``
    makes two more warm-up calls of its own and times ``repeat`` calls as one block.
    The number returned is that block's time over ``repeat`` (Timer's
    ``Measurement.median``, which for one block is this mean; not the fastest call).
    Timer waits for the GPU before reading the clock and runs with PyTorch's current
    number of threads.
    """
    _check_callable(fn, "time_call")
    if not (is_int(repeat) and is_int(warmup)) or repeat < 1 or warmup < 0:
        raise ValueError(
            f"time_call: need repeat >= 1 and warmup >= 0, got repeat={repeat}, "
            f"warmup={warmup}."
        )
    for _ in range(warmup):
        fn()
    # Timer's default is 1 thread; measure with the threads the caller set
    Timer = _benchmark_timer()

    timer = Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.timeit(number=repeat).median


@contextlib.contextmanager
def _quiet_c_stderr():
    """Send the C-level stderr to /dev/null for a moment: the profiler's backend
    (kineto) writes a 'profiler_start/stop' log line there on every run, which would
    clutter a notebook's output. Python errors are exceptions and still come through."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory(fn: Callable[[], object], device: str = "cpu") -> int:
    """Peak bytes PyTorch allocated while ``fn()`` ran, above what was held before.

    On ``"cuda"`` this reads ``torch.cuda.max_memory_allocated``; on ``"cpu"`` it
    replays the allocations and frees recorded by ``torch.profiler`` (see the module
    docstring). A tensor ``fn`` returns counts: it is alive when the call ends.
    """
    _check_callable(fn, "peak_memory")
    if device not in ("cpu", "cuda"):
        raise ValueError(
            f"peak_memory: device must be 'cpu' or 'cuda', got {device!r}."
        )
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    from torch.profiler import DeviceType, ProfilerActivity, profile

    with _quiet_c_stderr():
        # acc_events: one cycle anyway; without it torch 2.11 warns that cycles clear
        with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True, acc_events=True
        ) as prof:
            fn()
    with tempfile.TemporaryDirectory() as folder:
        trace = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(trace)
        with open(trace, encoding="utf-8") as f:
            events = json.load(f)["traceEvents"]
    # every allocation (+bytes) and free (-bytes) in CPU memory (the devices PyTorch's
    # own cpu_memory_usage counts), as the allocator saw them, in time order
    cpu = {int(DeviceType.CPU), int(DeviceType.MKLDNN), int(DeviceType.IDEEP)}
    changes = sorted(
        (e["ts"], e["args"]["Bytes"])
        for e in events
        if e.get("name") == "[memory]" and e["args"]["Device Type"] in cpu
    )
    held = peak = 0
    for _, nbytes in changes:
        held += nbytes
        peak = max(peak, held)
    return peak


def attention_scaling(
    lengths: list[int],
    heads: int = 4,
    head_dim: int = 64,
    repeat: int = 5,
    device: str = "cpu",
    memory: bool = True,
    threads: int | None = None,
) -> list[dict]:
    """Time and peak memory of self-attention over ``T`` tokens, for each ``T`` in
    ``lengths``, on two paths: ``"teaching"`` (our step-by-step
    :func:`~course_lib.attention.scaled_dot_product_attention`, which builds the
    ``(T, T)`` matrix of weights) and ``"fused"`` (``F.scaled_dot_product_attention``).

    ``threads`` sets PyTorch's CPU threads for the measurement (and restores them
    after): one thread gives steadier times on a busy machine, since no thread waits
    for another that the system has paused.

    Returns one dict per (T, path): ``T``, ``path``, ``seconds``, ``peak_bytes`` (None
    when ``memory`` is False) and ``weights_bytes``, the size of one ``(H, T, T)``
    matrix of float32 weights, the O(T²) term.
    """
    if (
        not isinstance(lengths, (list, tuple))
        or not lengths
        or not all(is_int(T) and T >= 1 for T in lengths)
    ):
        raise ValueError(f"attention_scaling: lengths must be positive, got {lengths}.")
    sizes = dict(heads=heads, head_dim=head_dim, repeat=repeat)
    if threads is not None:
        sizes["threads"] = threads
    for name, value in sizes.items():
        if not is_int(value) or value < 1:
            raise ValueError(
                f"attention_scaling: {name} must be an int >= 1, got {value!r}."
            )
    if threads is not None:
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return attention_scaling(lengths, heads, head_dim, repeat, device, memory)
        finally:
            torch.set_num_threads(saved)
    paths = {
        "teaching": lambda q, k, v: scaled_dot_product_attention(q, k, v)[0],
        "fused": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    }
    rows = []
    generator = torch.Generator().manual_seed(0)
    for T in lengths:
        q, k, v = (
            torch.randn(1, heads, T, head_dim, generator=generator).to(device)
            for _ in range(3)
        )  # (B=1, H, T, D)
        for path, attend in paths.items():
            with torch.no_grad():
                run = lambda attend=attend, q=q, k=k, v=v: attend(q, k, v)  # noqa: E731
                seconds = time_call(run, repeat=repeat)
                peak = peak_memory(run, device) if memory else None
            rows.append(
                dict(
                    T=T,
                    path=path,
                    seconds=seconds,
                    peak_bytes=peak,
                    weights_bytes=heads * T * T * 4,
                )
            )
    return rows


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: 2 means y grows like x²."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(
            f"loglog_slope: need two or more (x, y) pairs, got {len(xs)} and {len(ys)}."
        )
    if min(xs) <= 0 or min(ys) <= 0:
        raise ValueError(
            f"loglog_slope: every x and y must be > 0 to take its log, got xs={xs}, "
            f"ys={ys}."
        )
    if len(set(xs)) < 2:
        raise ValueError(f"loglog_slope: need two different x values, got xs={xs}.")
    slope, _ = np.polyfit(np.log(xs), np.log(ys), deg=1)
    return float(slope)
