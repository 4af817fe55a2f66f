"""course_lib.profiling: the memory it reports against sizes we know, the slope fit."""

import time

import pytest
import torch

from course_lib.profiling import (
    attention_scaling,
    loglog_slope,
    peak_memory,
    time_call,
)


def test_peak_memory_sees_tensors_and_their_temporaries():
    n = 256 * 1024  # float32: 1 MiB a tensor
    assert peak_memory(lambda: torch.ones(n)) == 4 * n

    def temporaries():
        a = torch.ones(n)
        b = a + a  # 2 MiB held here
        del a, b
        return torch.zeros(n)  # 1 MiB at the end, after a peak of 2

    assert peak_memory(temporaries) == 2 * 4 * n


def test_peak_memory_rejects_unknown_device():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        peak_memory(lambda: None, device="tpu")


def test_peak_memory_counts_a_buffer_freed_inside_one_operation():
    # an operation that allocates 4 MiB and frees it before it ends nets to zero in
    # the profiler's per-operation summary (prof.events()); its peak must still count
    n = 256 * 1024

    def one_operation():
        with torch.profiler.record_function("scratch"):
            scratch = torch.ones(4 * n)
            del scratch
        return torch.ones(n)

    assert peak_memory(one_operation) == 4 * 4 * n


def test_time_call_is_the_mean_of_the_timed_calls():
    # 1 warm-up call of ours and 2 of Timer's sleep 0.3 s each; then the 3 timed
    # calls sleep 0.01, 0.05 and 0.09 s: their mean is 0.05 (a sleep never ends early)
    sleeps = iter([0.3, 0.3, 0.3, 0.01, 0.05, 0.09])
    seconds = time_call(lambda: time.sleep(next(sleeps)), repeat=3, warmup=1)
    assert 0.05 <= seconds < 0.08
    assert next(sleeps, None) is None  # exactly 6 calls


def test_time_call_keeps_the_callers_threads():
    saved = torch.get_num_threads()
    seen = []
    try:
        torch.set_num_threads(2)  # Timer alone would run with 1
        time_call(lambda: seen.append(torch.get_num_threads()), repeat=2, warmup=0)
    finally:
        torch.set_num_threads(saved)
    assert seen == [2, 2, 2, 2]  # Timer's 2 warm-up calls, then the 2 timed ones


def test_time_call_validates():
    with pytest.raises(ValueError, match="repeat=0"):
        time_call(lambda: None, repeat=0)


def test_teaching_path_holds_the_weights_and_fused_does_not():
    rows = attention_scaling([256], heads=2, head_dim=16, repeat=1)
    by_path = {r["path"]: r for r in rows}
    weights = 2 * 256 * 256 * 4
    assert by_path["teaching"]["weights_bytes"] == weights
    # scores and their softmax are both (H, T, T) at the same moment
    assert by_path["teaching"]["peak_bytes"] >= 2 * weights
    assert by_path["fused"]["peak_bytes"] < weights / 2


def test_loglog_slope():
    xs = [64, 128, 256, 512]
    assert loglog_slope(xs, [3 * x**2 for x in xs]) == pytest.approx(2.0)
    assert loglog_slope(xs, [x + 0.0 for x in xs]) == pytest.approx(1.0)
    # points off a line: the least-squares slope, as fitted by hand
    ys = [1.0, 3.0, 2.0, 8.0]
    lx, ly = torch.tensor(xs).double().log(), torch.tensor(ys).double().log()
    dx, dy = lx - lx.mean(), ly - ly.mean()
    by_hand = ((dx * dy).sum() / (dx * dx).sum()).item()  # 0.84..., not the ends' 1.0
    assert loglog_slope(xs, ys) == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="two or more"):
        loglog_slope([1], [1])
