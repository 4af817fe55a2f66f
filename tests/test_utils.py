import random

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.utils import count_parameters, environment_report, get_device, set_seed


def test_set_seed_repeats_python_numpy_and_torch():
    g = set_seed(123)
    first = (
        random.random(),
        np.random.rand(),
        torch.rand(3),
        torch.rand(2, generator=g),
    )
    g = set_seed(123)
    second = (
        random.random(),
        np.random.rand(),
        torch.rand(3),
        torch.rand(2, generator=g),
    )
    assert first[0] == second[0] and first[1] == second[1]
    torch.testing.assert_close(first[2], second[2], rtol=0, atol=0)
    torch.testing.assert_close(first[3], second[3], rtol=0, atol=0)
    set_seed(124)
    assert torch.rand(3).tolist() != first[2].tolist()


def test_set_seed_generator_matches_torch_manual_seed():
    g = set_seed(7)
    reference = torch.Generator().manual_seed(7)
    torch.testing.assert_close(
        torch.randn(5, generator=g), torch.randn(5, generator=reference)
    )


@pytest.mark.parametrize("bad", ["x", 1.5, None, True])
def test_set_seed_rejects_non_int(bad):
    with pytest.raises(ValueError, match="a seed must be an int"):
        set_seed(bad)


def test_set_seed_rejects_negative():
    with pytest.raises(ValueError, match=">= 0"):
        set_seed(-1)


def test_get_device_default_is_cpu_here(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and torch.backends.mps.is_available():
        expected = "mps"
    assert get_device().type == expected


def test_get_device_honours_course_device(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_get_device_rejects_unknown_name(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError) as info:
        get_device()
    message = str(info.value)
    assert "'tpu'" in message and "cpu, cuda, mps" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_get_device_rejects_missing_cuda():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        get_device("cuda")


def test_count_parameters_matches_numel_and_trainable_flag():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2, bias=False))
    assert count_parameters(model) == 4 * 3 + 3 + 3 * 2
    model[0].weight.requires_grad_(False)
    assert count_parameters(model) == 3 + 3 * 2
    assert count_parameters(model, trainable_only=False) == 4 * 3 + 3 + 3 * 2


def test_count_parameters_counts_tied_weights_once_and_breaks_down():
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight  # tied, as in GPT-2
    model = nn.ModuleDict({"emb": emb, "head": head})
    assert count_parameters(model) == 40
    assert dict(count_parameters(model, by="child")) == {"emb": 40, "head": 0}


def test_count_parameters_rejects_non_module():
    with pytest.raises(ValueError, match="torch.nn.Module"):
        count_parameters(torch.zeros(3))


def test_environment_report_names_what_the_course_needs():
    report = environment_report()
    for key in ("python", "torch", "transformers", "ipywidgets", "device"):
        assert report[key] and report[key] != "missing", key
    assert report["torch"].startswith(torch.__version__.split("+")[0])
