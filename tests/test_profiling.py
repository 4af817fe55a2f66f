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


def test_time_call_is_the_fastest_run_after_the_warmup():
    # the warm-up call is instant, then the runs sleep 0.2, 0.03 and 0.2 seconds:
    # the fastest counted run is the 0.03 one (a sleep never ends early)
    sleeps = iter([0.0, 0.2, 0.03, 0.2])
    seconds = time_call(lambda: time.sleep(next(sleeps)), repeat=3, warmup=1)
    assert 0.03 <= seconds < 0.2


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
    with pytest.raises(ValueError, match="two or more"):
        loglog_slope([1], [1])
