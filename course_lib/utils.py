"""Small utilities every chapter uses: seeding, device choice, parameter counts, and the
environment report of chapter 00."""

from __future__ import annotations

import os
import platform
import random
import sys
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

VALID_DEVICES = ("cpu", "cuda", "mps")


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``.

    Returns a ``torch.Generator`` seeded the same way, for code that wants its own
    stream of random numbers (batch sampling, text generation) untouched by other cells.

    Raises ``ValueError`` if ``seed`` is not a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"set_seed: a seed must be an int, got {seed!r} of type "
            f"{type(seed).__name__}; try set_seed(0)."
        )
    if seed < 0:
        raise ValueError(f"set_seed: a seed must be >= 0, got {seed}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def get_device(preferred: str | None = None) -> torch.device:
    """The device to run on: ``cuda`` if available, else ``mps``, else ``cpu``.

    ``preferred`` (or, if it is None, the environment variable ``COURSE_DEVICE``)
    overrides the choice. Raises ``ValueError`` for a name that is not one of ``cpu``,
    ``cuda``, ``mps``, or for a device this machine does not have.
    """
    source = "preferred"
    if preferred is None:
        preferred = os.environ.get("COURSE_DEVICE") or None
        source = "COURSE_DEVICE"
    if preferred is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    name = str(preferred).strip().lower()
    kind = name.split(":")[0]
    if kind not in VALID_DEVICES:
        raise ValueError(
            f"get_device: {source}={preferred!r} is not a device the course supports; "
            f"valid devices are {', '.join(VALID_DEVICES)} (e.g. COURSE_DEVICE=cpu)."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"get_device: {source}={preferred!r} but PyTorch sees no CUDA GPU here; "
            "use cpu, or install a CUDA build of PyTorch."
        )
    if kind == "mps" and not _mps_available():
        raise ValueError(
            f"get_device: {source}={preferred!r} but Apple's MPS backend is not "
            "available here; use cpu."
        )
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def count_parameters(
    module: nn.Module, trainable_only: bool = True, by: str | None = None
) -> int | OrderedDict[str, int]:
    """Number of parameters in ``module``.

    With ``by=None`` returns one int. With ``by="child"`` returns an ordered dict from
    each direct child's name to its count (parameters held by ``module`` itself appear
    under ``"(self)"``), so a chapter can print where the parameters live. Parameters
    shared by two children (tied embeddings) are counted once, under the first child
    that holds them.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(
            "count_parameters: expected a torch.nn.Module, "
            f"got {type(module).__name__}."
        )
    if by not in (None, "child"):
        raise ValueError(f"count_parameters: by must be None or 'child', got {by!r}.")

    seen: set[int] = set()

    def total(params) -> int:
        n = 0
        for p in params:
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            n += p.numel()
        return n

    if by is None:
        return total(module.parameters())
    counts: OrderedDict[str, int] = OrderedDict()
    for name, child in module.named_children():
        counts[name] = total(child.parameters())
    own = total(module.parameters(recurse=False))
    if own:
        counts["(self)"] = own
    return counts


def environment_report() -> dict[str, str]:
    """Versions of what the course relies on, and the device it will use.

    Returns a dict of name -> version string ("missing" when a package is not
    installed); chapter 00 prints it, and bug reports should include it.
    """
    from importlib import metadata

    report = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    for package in (
        "torch",
        "transformers",
        "tokenizers",
        "safetensors",
        "ipywidgets",
        "matplotlib",
        "numpy",
        "tqdm",
        "course_lib",
    ):
        try:
            report[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            report[package] = "missing"
    report["device"] = str(get_device())
    report["torch threads"] = str(torch.get_num_threads())
    report["in Colab"] = str("google.colab" in sys.modules)
    return report
