"""Checkpoints: safetensors tensors + a JSON sidecar, written crash-safe, verified.

A checkpoint ``NAME`` is two files. ``NAME.json``, the sidecar (:class:`Sidecar`),
holds the step, model config, optimizer class and hyper-parameters, history, and the
name, size and sha256 of the weights file it names, ``NAME.<step>.safetensors``: the
model's tensors (``model.<name>``; a tied weight once, its other names in
``aliases``), the optimizer's (``optim.<param index>.<key>``) and the RNG states
(``rng.torch``, ``rng.generator``), plain tensors: nothing is ever unpickled.

A save writes the weights, then the sidecar (a temporary file renamed over
``NAME.json``), then deletes the old weights file, each file and rename flushed to
disk (fsync) first: a crash leaves the old checkpoint whole, or the new one. Weights
are named by step, not hash (float32 results differ in their last bits between CPUs);
a second save at the step on disk writes ``NAME.<step>-2.safetensors``. Older
sidecars name ``NAME.safetensors`` (``data/gpt_pydocs`` does) and load the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

FORMAT = "course-checkpoint-1"
_KINDS = {"model": nn.Module, "optimizer": torch.optim.Optimizer}
_KINDS["generator"] = torch.Generator  # what an argument of each name must be


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupted or made for another model."""


def _check_args(where: str, path, **objects) -> None:
    """``path`` is a path; each object a model, an optimizer or a generator, or None."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{where}: path must be a str or Path, got {path!r}.")
    for name, value in objects.items():
        if value is not None and not isinstance(value, _KINDS[name]):
            raise ValueError(
                f"{where}: {name} must be a {_KINDS[name].__name__} or None, got "
                f"{type(value).__name__}."
            )


def _is(kind, test=lambda v: True):
    """A check: an instance of ``kind`` (a bool is no int) for which ``test`` holds."""
    return lambda v: isinstance(v, kind) and not isinstance(v, bool) and bool(test(v))


def _field(must_be: str, check, default=dataclasses.MISSING):
    """A sidecar field: what it must be, in words (for errors), and its check."""
    return dataclasses.field(default=default, metadata={"is": must_be, "ok": check})


def _is_optimizer(v: dict) -> bool:
    return (
        isinstance(v.get("class"), str)
        and isinstance(v.get("param_groups"), list)
        and all(isinstance(g, dict) for g in v["param_groups"])
        and isinstance(v.get("scalars"), dict)
    )


@dataclasses.dataclass(kw_only=True)
class Sidecar:
    """``NAME.json``, field by field: what each must be, and its check. The fields with
    a default may be absent: ``model_config``, ``model_class`` and ``optimizer``."""

    format: str = _field(f"the string {FORMAT!r}", lambda v: v == FORMAT, FORMAT)
    step: int = _field("an integer", _is(int))
    aliases: dict = _field(
        "an object of tied tensor names",
        _is(dict, lambda v: all(isinstance(s, str) for s in [*v, *v.values()])),
    )
    model_config: dict | None = _field(
        "an object (the model's config)", _is(dict), None
    )
    model_class: str | None = _field("a string (the model's class)", _is(str), None)
    optimizer: dict | None = _field(
        'an object {"class": str, "param_groups": [...], "scalars": {...}}',
        _is(dict, _is_optimizer),
        None,
    )
    history: dict = _field("an object", _is(dict))
    extra: dict = _field("an object", _is(dict))
    weights_file: str = _field(
        "a file name ending in .safetensors, in the sidecar's folder",
        _is(str, lambda v: re.fullmatch(r"[^/\\]+\.safetensors", v)),
    )
    weights_bytes: int = _field("an integer >= 0", _is(int, lambda v: v >= 0))
    weights_sha256: str = _field(
        "64 lowercase hex digits", _is(str, lambda v: re.fullmatch("[0-9a-f]{64}", v))
    )

    @classmethod
    def from_json(cls, data, where: Path) -> Sidecar:
        """Validate ``data`` (the parsed JSON of ``where``) field by field."""
        fix = (
            f"{where.name} was not written by course_lib.checkpoints.save_checkpoint, "
            "or was edited or cut short: restore it from where the checkpoint came "
            "from, or save the checkpoint again."
        )
        if not isinstance(data, dict):
            raise CheckpointError(f"{where} is not a JSON object. {fix}")
        if data.get("format") != FORMAT:
            raise CheckpointError(
                f"{where} is not a {FORMAT} checkpoint (its format is "
                f"{data.get('format')!r}). {fix}"
            )
        fields = [f for f in dataclasses.fields(cls) if f.name in data]
        for f in dataclasses.fields(cls):
            must_be, shown = f.metadata["is"], repr(data.get(f.name))
            if f not in fields and f.default is dataclasses.MISSING:
                problem = f"({must_be}) is missing"
            elif f in fields and not f.metadata["ok"](data[f.name]):
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                problem = f"should be {must_be}, got {shown}"
            else:
                continue
            raise CheckpointError(f"{where}: the field {f.name!r} {problem}. {fix}")
        return cls(**{f.name: data[f.name] for f in fields})

    def to_json(self) -> dict:
        """The JSON object, without the optional fields that are None."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def _json_path(path: str | os.PathLike, existing: bool = False) -> Path:
    """``NAME``, ``NAME.json``, ``NAME.safetensors`` -> ``NAME.json``; ``existing``: a
    weights file ``NAME.<step>.safetensors`` too, unless ``NAME.<step>.json`` exists."""
    p = Path(path)
    weights_file = p.suffix == ".safetensors"
    p = p.with_suffix("") if p.suffix in (".json", ".safetensors") else p
    json_path, owner = p.with_name(p.name + ".json"), p.with_suffix(".json")
    if existing and weights_file and re.fullmatch(r"\.-?\d+(-2)?", p.suffix):
        return owner if owner.exists() and not json_path.exists() else json_path
    return json_path


def read_sidecar(path: str | os.PathLike) -> Sidecar:
    """The sidecar of the checkpoint at ``path``, validated: :class:`CheckpointError`
    for a missing file, invalid JSON, or a field missing or of the wrong type."""
    json_path = _json_path(path, existing=True)
    if not json_path.is_file():
        raise CheckpointError(f"checkpoint file {json_path} does not exist.")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{json_path} is not valid JSON ({error}).") from None
    return Sidecar.from_json(data, json_path)


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights file, NAME.json)`` of the checkpoint at ``path``, the weights file
    being the one ``NAME.json`` names (e.g. ``NAME.400.safetensors``)."""
    _check_args("checkpoint_paths", path)
    json_path = _json_path(path, existing=True)
    return json_path.with_name(read_sidecar(json_path).weights_file), json_path


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, rename it
    to ``path``, flush the folder: ``path`` holds its old content or the whole new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # on the same disk
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points there
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the rename too (Windows cannot open a folder)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _model_tensors(model: nn.Module) -> tuple[dict, dict]:
    """The state dict with each tensor once: a tied weight (GPT's ``lm_head.weight``
    is ``tok_emb.weight``) is stored under its first name, its others are aliases."""
    tensors, aliases, first = {}, {}, {}
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), t.shape)
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
            tensors[f"model.{name}"] = t.detach().contiguous().cpu()
    return tensors, aliases


def save_checkpoint(
    path, model, optimizer=None, step=0, generator=None, history=None, extra=None
) -> Path:
    """Write ``model`` (and optionally the optimizer, the batch ``generator`` and the
    global torch RNG state) to ``path.<step>.safetensors`` + ``path.json``, crash-safe
    (see the module's docstring); returns the JSON path. ``history`` and ``extra``
    must be JSON-serialisable (e.g. ``asdict(train_config)``)."""
    _check_args("save_checkpoint", path, optimizer=optimizer, generator=generator)
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"save_checkpoint: model must be a torch.nn.Module, got "
            f"{type(model).__name__}."
        )
    if not _is(int, lambda s: s >= 0)(step):
        raise ValueError(f"save_checkpoint: step must be an int >= 0, got {step!r}.")
    json_path = _json_path(path)
    tensors, aliases = _model_tensors(model)
    config = getattr(model, "config", None)
    config = config if dataclasses.is_dataclass(config) else None
    opt = None
    if optimizer is not None:  # its tensors go to the weights file, the rest to JSON
        state = optimizer.state_dict()
        flat = {f"{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()}
        for key, value in flat.items():
            if torch.is_tensor(value):
                tensors[f"optim.{key}"] = value.detach().contiguous().cpu()
        opt = {"class": type(optimizer).__name__, "param_groups": state["param_groups"]}
        opt["scalars"] = {k: v for k, v in flat.items() if not torch.is_tensor(v)}
    tensors["rng.torch"] = torch.get_rng_state()
    if generator is not None:
        tensors["rng.generator"] = generator.get_state()
    weights = safetensors.torch.save(tensors)
    previous = None  # the weights file in use, if a save of NAME wrote it: it goes last
    with contextlib.suppress(CheckpointError):
        previous = read_sidecar(json_path).weights_file
    ours = re.escape(json_path.stem) + r"(\.-?\d+(-2)?)?\.safetensors"
    previous = previous if previous and re.fullmatch(ours, previous) else None
    name = f"{json_path.stem}.{step}.safetensors"
    if name == previous:  # a second save at this step: never the file in use
        name = f"{json_path.stem}.{step}-2.safetensors"
    sidecar = Sidecar(
        step=step,
        aliases=aliases,
        model_config=dataclasses.asdict(config) if config else None,
        model_class=type(model).__name__ if config else None,
        optimizer=opt,
        history=history or {},
        extra=extra or {},
        weights_file=name,
        weights_bytes=len(weights),
        weights_sha256=hashlib.sha256(weights).hexdigest(),
    )
    text = json.dumps(sidecar.to_json(), indent=1)  # fails before any file is written
    _atomic_write(json_path.with_name(name), weights)  # 1. the new weights
    _atomic_write(json_path, text.encode())  # 2. the new checkpoint takes over here
    if previous is not None and previous != name:  # 3. the old weights go
        json_path.with_name(previous).unlink(missing_ok=True)
    return json_path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(meta, tensors)``: the sidecar as a dict, checked field by field, and the
    tensors, parsed from the very bytes whose size and sha256 were checked (else a
    :class:`CheckpointError` naming the file)."""
    json_path = _json_path(path, existing=True)
    sidecar = read_sidecar(json_path)
    weights_path = json_path.with_name(sidecar.weights_file)
    if not weights_path.is_file():
        raise CheckpointError(
            f"checkpoint file {weights_path} does not exist ({json_path.name} "
            "names it)."
        )
    weights = weights_path.read_bytes()
    if len(weights) != sidecar.weights_bytes:
        raise CheckpointError(
            f"{weights_path} has {len(weights)} bytes, {json_path.name} expects "
            f"{sidecar.weights_bytes}: truncated or replaced file."
        )
    if hashlib.sha256(weights).hexdigest() != sidecar.weights_sha256:
        raise CheckpointError(
            f"{weights_path}: sha256 differs from the one in {json_path.name}; the "
            "file is corrupted or belongs to another checkpoint."
        )
    return dataclasses.asdict(sidecar), safetensors.torch.load(weights)


def load_checkpoint(
    path, model=None, optimizer=None, generator=None, restore_rng=True
) -> dict:
    """Verify the checkpoint, load it into whatever is given, return its metadata
    (``step``, ``model_config``, ``history``, ...). A missing, extra or misshapen
    tensor, an optimizer of another class (AdamW's state in an SGD) or a state that
    does not fit is a :class:`CheckpointError` before anything is loaded.
    ``restore_rng``: the global torch RNG state (dropout) too, for an exact resume."""
    _check_args(
        "load_checkpoint", path, model=model, optimizer=optimizer, generator=generator
    )
    meta, tensors = read_checkpoint(path)
    json_path, opt = _json_path(path, existing=True), meta["optimizer"]
    if optimizer is not None and opt is None:
        raise CheckpointError(
            f"{json_path} holds no optimizer state; pass optimizer=None to load "
            "the weights only."
        )
    if optimizer is not None and opt["class"] != type(optimizer).__name__:
        raise CheckpointError(
            f"{json_path}: this checkpoint's optimizer state is {opt['class']}'s; "
            f"you passed {type(optimizer).__name__}. Build a {opt['class']} for the "
            "same parameters to resume, or pass optimizer=None to load the weights "
            "only."
        )
    if model is not None:  # every name (a tied weight's aliases too) and shape
        state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        state |= {a: state[n] for a, n in meta["aliases"].items() if n in state}
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in state.items()}
        if shapes != theirs:
            diff = sorted(set(shapes.items()) ^ set(theirs.items()))[:4]
            raise CheckpointError(
                f"{json_path}: the model's tensors do not match the checkpoint's "
                f"(first differences, name and shape: {diff})."
            )
    if optimizer is not None:  # torch checks that the state fits before it loads it
        per_param: dict = {}
        flat = {k[6:]: v for k, v in tensors.items() if k.startswith("optim.")}
        try:
            for key, value in (flat | opt["scalars"]).items():  # "<index>.<name>"
                index, name = key.split(".", 1)
                per_param.setdefault(int(index), {})[name] = value
            groups = [  # JSON made the betas a list
                {**g, "betas": tuple(g["betas"])} if "betas" in g else g
                for g in opt["param_groups"]
            ]
            optimizer.load_state_dict({"state": per_param, "param_groups": groups})
        except (ValueError, KeyError) as error:
            raise CheckpointError(
                f"{json_path}: optimizer state does not fit this optimizer ({error})."
            ) from None
    if model is not None:
        model.load_state_dict(state, strict=True)
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
    if generator is not None and "rng.generator" in tensors:
        generator.set_state(tensors["rng.generator"])
    return meta
