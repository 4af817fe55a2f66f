"""Checkpoints: safetensors tensors + a JSON sidecar, written atomically, verified.

Kept apart from ``training.py`` so the training loop stays readable: this is file
I/O, not learning. A checkpoint ``run`` is two files:

- ``run.safetensors``: the model's weights (``model.<name>``), every tensor of the
  optimizer's state (``optim.<param index>.<key>``) and the random-number states
  (``rng.torch``, ``rng.generator``), as plain tensors: nothing is ever unpickled.
- ``run.json``: the model config (``dataclasses.asdict``), the step, the optimizer's
  hyper-parameters, the history, anything in ``extra``, and the size and sha256 of
  ``run.safetensors``, so a truncated or swapped weights file is an error on load.

Each file is written to a temporary name in the same folder and renamed, so a crash
mid-write never leaves a half-written checkpoint under the real name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = "course-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupted or made for another model."""


def _check_objects(where: str, **objects) -> None:
    """What a checkpoint is written from or read into: each a model, an optimizer or
    a generator, or None where that part is left out."""
    kinds = {
        "model": nn.Module,
        "optimizer": torch.optim.Optimizer,
        "generator": torch.Generator,
    }
    for name, value in objects.items():
        if value is not None and not isinstance(value, kinds[name]):
            raise ValueError(
                f"{where}: {name} must be a {kinds[name].__name__} or None, got "
                f"{type(value).__name__}."
            )


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``run``, ``run.json`` or ``run.safetensors`` ->
    ``(run.safetensors, run.json)``."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"checkpoint_paths: path must be a str or Path, got {path!r}.")
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is not
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _model_tensors(model: nn.Module) -> tuple[dict, dict]:
    """State dict without duplicates: tied weights (GPT's ``lm_head.weight`` is
    ``tok_emb.weight``) are stored once and recorded as aliases."""
    tensors, aliases, seen = {}, {}, {}
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), t.shape)
        if key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[f"model.{name}"] = t.detach().contiguous().cpu()
    return tensors, aliases


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    generator: torch.Generator | None = None,
    history: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` (and optionally the optimizer, the batch ``generator`` and the
    global torch RNG state) to ``path.safetensors`` + ``path.json``; returns the JSON
    path. ``extra`` must be JSON-serialisable (e.g. ``asdict(train_config)``)."""
    _check_objects("save_checkpoint", optimizer=optimizer, generator=generator)
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"save_checkpoint: model must be a torch.nn.Module, got "
            f"{type(model).__name__}."
        )
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"save_checkpoint: step must be an int >= 0, got {step!r}.")
    weights_path, json_path = checkpoint_paths(path)
    tensors, aliases = _model_tensors(model)
    meta: dict = {"format": FORMAT, "step": int(step), "aliases": aliases}
    config = getattr(model, "config", None)
    if dataclasses.is_dataclass(config):
        meta["model_config"] = dataclasses.asdict(config)
        meta["model_class"] = type(model).__name__
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict = {}
        for index, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{index}.{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars[f"{index}.{key}"] = value
        meta["optimizer"] = {
            "class": type(optimizer).__name__,
            "param_groups": state["param_groups"],
            "scalars": scalars,
        }
    tensors["rng.torch"] = torch.get_rng_state()
    if generator is not None:
        tensors["rng.generator"] = generator.get_state()
    meta["history"] = history or {}
    meta["extra"] = extra or {}
    _atomic_write(weights_path, lambda tmp: save_file(tensors, tmp))
    meta["weights_file"] = weights_path.name
    meta["weights_bytes"] = weights_path.stat().st_size
    meta["weights_sha256"] = _sha256(weights_path)

    def write_json(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)

    _atomic_write(json_path, write_json)
    return json_path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(meta, tensors)`` of a checkpoint after checking its size and sha256.

    Raises :class:`CheckpointError` naming the file for a missing, truncated or
    mismatched checkpoint."""
    weights_path, json_path = checkpoint_paths(path)
    for p in (json_path, weights_path):
        if not p.is_file():
            raise CheckpointError(f"checkpoint file {p} does not exist.")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{json_path} is not valid JSON ({error}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{json_path} is not a {FORMAT} checkpoint.")
    size = weights_path.stat().st_size
    if size != meta["weights_bytes"]:
        raise CheckpointError(
            f"{weights_path} has {size} bytes, {json_path.name} expects "
            f"{meta['weights_bytes']}: truncated or replaced file."
        )
    if _sha256(weights_path) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights_path}: sha256 differs from the one in {json_path.name}; the "
            "file is corrupted or belongs to another checkpoint."
        )
    return meta, load_file(weights_path)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    restore_rng: bool = True,
) -> dict:
    """Verify the checkpoint, load it into whatever is given, return its metadata
    (``step``, ``model_config``, ``history``, ``extra``, ...).

    The model is loaded strictly: a missing, unexpected or wrongly shaped tensor is a
    :class:`CheckpointError`, never a partial load. ``restore_rng`` also restores the
    global torch RNG state (dropout), needed for an exact resume."""
    _check_objects(
        "load_checkpoint", model=model, optimizer=optimizer, generator=generator
    )
    meta, tensors = read_checkpoint(path)
    _, json_path = checkpoint_paths(path)
    if model is not None:
        state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        for alias, target in meta["aliases"].items():
            state[alias] = state[target]
        own = model.state_dict()
        shapes = {k: tuple(v.shape) for k, v in own.items()}
        theirs = {k: tuple(v.shape) for k, v in state.items()}
        if shapes != theirs:
            diff = sorted(set(shapes.items()) ^ set(theirs.items()))[:4]
            raise CheckpointError(
                f"{json_path}: the model's tensors do not match the checkpoint's "
                f"(first differences, name and shape: {diff})."
            )
        model.load_state_dict(state, strict=True)
    if optimizer is not None:
        if "optimizer" not in meta:
            raise CheckpointError(f"{json_path} holds no optimizer state.")
        opt = meta["optimizer"]
        state: dict = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        for key, value in opt["scalars"].items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        groups = [
            {**g, "betas": tuple(g["betas"])} if "betas" in g else g
            for g in opt["param_groups"]
        ]
        try:
            optimizer.load_state_dict({"state": state, "param_groups": groups})
        except (ValueError, KeyError) as error:
            raise CheckpointError(
                f"{json_path}: optimizer state does not fit this optimizer ({error})."
            ) from None
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
    if generator is not None and "rng.generator" in tensors:
        generator.set_state(tensors["rng.generator"])
    return meta




def load_gpt(path: str | os.PathLike):
    """``(GPT, meta)`` rebuilt from a checkpoint's ``model_config``, verified."""
    from course_lib.models import GPT, GPTConfig

    meta, _ = read_checkpoint(path)
    if meta.get("model_class") != "GPT":
        raise CheckpointError(f"{path} holds a {meta.get('model_class')}, not a GPT.")
    model = GPT(GPTConfig(**meta["model_config"]))
    load_checkpoint(path, model, restore_rng=False)
    return model.eval(), meta


def load_reference_gpt():
    """The course's trained character-level GPT (``data/gpt_pydocs``, see
    ``data/README.md``): ``(model in eval mode, CharTokenizer, meta)``."""
    from course_lib.data import course_file
    from course_lib.tokenizers import CharTokenizer

    reference = course_file("gpt_pydocs.json").with_suffix("")  # data/gpt_pydocs
    model, meta = load_gpt(reference)
    tokenizer = CharTokenizer.load(course_file("gpt_pydocs.tokenizer.json"))
    if tokenizer.vocab_size != model.config.vocab_size:
        raise CheckpointError(
            f"{reference}.tokenizer.json has {tokenizer.vocab_size} characters, the "
            f"model expects {model.config.vocab_size}."
        )
    return model, tokenizer, meta
