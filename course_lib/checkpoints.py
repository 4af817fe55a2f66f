"""Checkpoints: safetensors tensors + a JSON sidecar, written crash-safe, verified.

Kept apart from ``training.py`` so the training loop stays readable: this is file
I/O, not learning. A checkpoint ``NAME`` is two files in one folder:

- ``NAME.json``, the sidecar (:class:`Sidecar`): the model config
  (``dataclasses.asdict``), the step, the optimizer's class and hyper-parameters, the
  history, anything in ``extra``, and the name, size and sha256 of the weights file,
  so that a truncated or swapped weights file is an error on load.
- the weights file the sidecar names, ``NAME.<step>.safetensors``: the model's
  weights (``model.<name>``), every tensor of the optimizer's state
  (``optim.<param index>.<key>``) and the random-number states (``rng.torch``,
  ``rng.generator``), as plain tensors: nothing is ever unpickled.

A save writes the new weights first, under a name no sidecar on disk refers to; then
the sidecar, last and atomically (a temporary file renamed over ``NAME.json``); only
then does it delete the weights file the previous sidecar named. Replacing the sidecar
is the moment the new checkpoint takes over: a crash before it leaves the previous
checkpoint whole (its sidecar and the weights it names are untouched; at worst an
unreferenced ``NAME.<step>.safetensors`` is left, safe to delete), a crash after it
leaves the new one whole (at worst the old weights file is left). Both files are
flushed to disk (fsync) before the next step, so a power cut cannot reorder them.

Why ``NAME.<step>.safetensors``: the name says which step it holds, and it is the
same on every machine (a hash of the bytes would not be: float32 results differ in
their last bits between CPUs). The one name that must never be reused is the one the
sidecar on disk names; a second save at the same step would hit it, so that save is
``NAME.<step>-2.safetensors`` (and the next one at that step ``NAME.<step>`` again).
As the step part holds no dot, two checkpoints of different names never share a
weights file of this layout.

Sidecars written before this layout named ``NAME.safetensors`` (the course's
reference, ``data/gpt_pydocs``, still does); they load unchanged, since every sidecar
of this format names its weights file (``weights_file``). Saving again over such a
checkpoint writes ``NAME.<step>.safetensors`` and removes ``NAME.safetensors``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
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


def _check_path(where: str, path) -> None:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{where}: path must be a str or Path, got {path!r}.")


# ------------------------------------------------------------------------- sidecar


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_dict(v) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()
    )


def _is_optimizer(v) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("class"), str)
        and isinstance(v.get("param_groups"), list)
        and all(isinstance(g, dict) for g in v["param_groups"])
        and isinstance(v.get("scalars"), dict)
    )


def _is_plain_name(v) -> bool:
    """A ``.safetensors`` file name in the sidecar's own folder: no folder part."""
    return (
        isinstance(v, str)
        and v.endswith(".safetensors")
        and "/" not in v
        and "\\" not in v
    )


def _field(kind: str, check, default=dataclasses.MISSING):
    """A sidecar field: ``kind`` says in words what it must be (error messages),
    ``check(value)`` says whether it is; a field with a default may be absent."""
    return dataclasses.field(default=default, metadata={"kind": kind, "check": check})


@dataclasses.dataclass(kw_only=True)
class Sidecar:
    """The JSON file ``NAME.json`` of a checkpoint, field for field (in file order).

    :func:`read_sidecar` validates it: ``format`` and every field without a default
    must be there, and every field present must have the right type, else
    :class:`CheckpointError` names the field. ``model_config`` and ``model_class``
    are absent for a model without a dataclass ``config``, ``optimizer`` when none
    was saved."""

    format: str = _field(f"the string {FORMAT!r}", lambda v: v == FORMAT, FORMAT)
    step: int = _field("an integer", _is_int)
    aliases: dict = _field("an object of tied tensor names", _is_str_dict)
    model_config: dict | None = _field(
        "an object (the model's config)", lambda v: isinstance(v, dict), None
    )
    model_class: str | None = _field(
        "a string (the model's class)", lambda v: isinstance(v, str), None
    )
    optimizer: dict | None = _field(
        'an object {"class": str, "param_groups": [...], "scalars": {...}}',
        _is_optimizer,
        None,
    )
    history: dict = _field("an object", lambda v: isinstance(v, dict))
    extra: dict = _field("an object", lambda v: isinstance(v, dict))
    weights_file: str = _field(
        "a file name ending in .safetensors, in the sidecar's folder", _is_plain_name
    )
    weights_bytes: int = _field("an integer >= 0", lambda v: _is_int(v) and v >= 0)
    weights_sha256: str = _field(
        "64 lowercase hex digits",
        lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None,
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
        values = {}
        for f in dataclasses.fields(cls):
            kind = f.metadata["kind"]
            if f.name not in data:
                if f.default is dataclasses.MISSING:
                    raise CheckpointError(
                        f"{where}: the field {f.name!r} ({kind}) is missing. {fix}"
                    )
                continue
            value = data[f.name]
            if not f.metadata["check"](value):
                shown = repr(value)
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                raise CheckpointError(
                    f"{where}: the field {f.name!r} should be {kind}, got {shown}. "
                    + fix
                )
            values[f.name] = value
        return cls(**values)

    def to_json(self) -> dict:
        """The JSON object, without the optional fields that are None."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


def _json_path(path: str | os.PathLike) -> Path:
    """``NAME``, ``NAME.json`` or ``NAME.safetensors`` -> ``NAME.json``."""
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".json")


def _sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar of an existing checkpoint: as :func:`_json_path`, and a weights
    file ``NAME.<step>.safetensors`` -> ``NAME.json`` too."""
    json_path = _json_path(path)
    stem, _, step = json_path.stem.rpartition(".")
    if not json_path.exists() and stem and re.fullmatch(r"-?\d+(-2)?", step):
        owner = json_path.with_name(stem + ".json")  # NAME.<step> -> NAME
        if owner.exists():
            return owner
    return json_path


def read_sidecar(path: str | os.PathLike) -> Sidecar:
    """The validated sidecar of the checkpoint at ``path`` (``NAME``, ``NAME.json``
    or one of its weights files). Raises :class:`CheckpointError` for a missing file,
    invalid JSON, or a field that is missing or of the wrong type (named)."""
    return _read_sidecar_at(_sidecar_path(path))


def _read_sidecar_at(json_path: Path) -> Sidecar:
    if not json_path.is_file():
        raise CheckpointError(f"checkpoint file {json_path} does not exist.")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{json_path} is not valid JSON ({error}).") from None
    return Sidecar.from_json(data, json_path)


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``NAME``, ``NAME.json`` or ``NAME.safetensors`` -> ``(weights file, NAME.json)``,
    the weights file being the one ``NAME.json`` names (for example
    ``NAME.400.safetensors``). Raises :class:`CheckpointError` when ``NAME.json`` is
    missing or invalid."""
    _check_path("checkpoint_paths", path)
    json_path = _sidecar_path(path)
    return json_path.with_name(_read_sidecar_at(json_path).weights_file), json_path


# ------------------------------------------------------------------------- writing


def _fsync(path: Path | str, directory: bool = False) -> None:
    """Flush ``path`` to the disk. A folder is flushed where the system allows it
    (POSIX; Windows cannot open one)."""
    try:
        fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, flush it, rename it to
    ``path``: ``path`` is either its old content or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is not
        _fsync(tmp)
        os.replace(tmp, path)  # atomic on POSIX and Windows
        _fsync(path.parent, directory=True)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_sidecar(json_path: Path, sidecar: Sidecar) -> None:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(sidecar.to_json(), f, indent=1)

    _atomic_write(json_path, write)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _weights_names(json_path: Path) -> re.Pattern:
    """The names a save of ``NAME.json`` gives its weights (and the old layout's)."""
    return re.compile(re.escape(json_path.stem) + r"(\.-?\d+(-2)?)?\.safetensors")


def _current_weights(json_path: Path) -> str | None:
    """The weights file the sidecar on disk names, if it is one of ours; None when
    there is no readable sidecar (nothing will then be deleted)."""
    try:
        name = _read_sidecar_at(json_path).weights_file
    except CheckpointError:
        return None
    return name if _weights_names(json_path).fullmatch(name) else None


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
    global torch RNG state) to ``path.<step>.safetensors`` + ``path.json``; returns
    the JSON path. ``extra`` must be JSON-serialisable (e.g. ``asdict(train_config)``).

    Crash-safe (see the module's docstring): the weights are written first, the
    sidecar last, and the previous weights file is deleted only after that."""
    _check_path("save_checkpoint", path)
    _check_objects("save_checkpoint", optimizer=optimizer, generator=generator)
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"save_checkpoint: model must be a torch.nn.Module, got "
            f"{type(model).__name__}."
        )
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"save_checkpoint: step must be an int >= 0, got {step!r}.")
    json_path = _json_path(path)
    tensors, aliases = _model_tensors(model)
    config = getattr(model, "config", None)
    model_config = model_class = optimizer_meta = None
    if dataclasses.is_dataclass(config):
        model_config = dataclasses.asdict(config)
        model_class = type(model).__name__
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict = {}
        for index, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{index}.{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars[f"{index}.{key}"] = value
        optimizer_meta = {
            "class": type(optimizer).__name__,
            "param_groups": state["param_groups"],
            "scalars": scalars,
        }
    tensors["rng.torch"] = torch.get_rng_state()
    if generator is not None:
        tensors["rng.generator"] = generator.get_state()

    previous = _current_weights(json_path)
    weights_name = f"{json_path.stem}.{int(step)}.safetensors"
    if weights_name == previous:  # a second save at this step: keep the last one
        weights_name = f"{json_path.stem}.{int(step)}-2.safetensors"
    weights_path = json_path.with_name(weights_name)
    _atomic_write(weights_path, lambda tmp: save_file(tensors, tmp))  # 1. weights
    sidecar = Sidecar(
        step=int(step),
        aliases=aliases,
        model_config=model_config,
        model_class=model_class,
        optimizer=optimizer_meta,
        history=history or {},
        extra=extra or {},
        weights_file=weights_name,
        weights_bytes=weights_path.stat().st_size,
        weights_sha256=_sha256(weights_path),
    )
    _write_sidecar(json_path, sidecar)  # 2. the new checkpoint takes over here
    if previous is not None and previous != weights_name:  # 3. the old weights go
        json_path.with_name(previous).unlink(missing_ok=True)
    return json_path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(meta, tensors)`` of a checkpoint after checking its sidecar (every field,
    see :class:`Sidecar`) and its weights file's size and sha256. ``meta`` is the
    sidecar as a dict.

    Raises :class:`CheckpointError` naming the file for a missing, truncated or
    mismatched checkpoint."""
    json_path = _sidecar_path(path)
    sidecar = _read_sidecar_at(json_path)
    weights_path = json_path.with_name(sidecar.weights_file)
    if not weights_path.is_file():
        raise CheckpointError(
            f"checkpoint file {weights_path} does not exist ({json_path.name} "
            "names it)."
        )
    size = weights_path.stat().st_size
    if size != sidecar.weights_bytes:
        raise CheckpointError(
            f"{weights_path} has {size} bytes, {json_path.name} expects "
            f"{sidecar.weights_bytes}: truncated or replaced file."
        )
    if _sha256(weights_path) != sidecar.weights_sha256:
        raise CheckpointError(
            f"{weights_path}: sha256 differs from the one in {json_path.name}; the "
            "file is corrupted or belongs to another checkpoint."
        )
    return dataclasses.asdict(sidecar), load_file(weights_path)


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
    :class:`CheckpointError`, never a partial load. So is an optimizer of another
    class than the one saved (AdamW's state in an SGD). Everything is checked before
    anything is loaded. ``restore_rng`` also restores the global torch RNG state
    (dropout), needed for an exact resume."""
    _check_path("load_checkpoint", path)
    _check_objects(
        "load_checkpoint", model=model, optimizer=optimizer, generator=generator
    )
    meta, tensors = read_checkpoint(path)
    json_path = _sidecar_path(path)
    if optimizer is not None:
        if meta["optimizer"] is None:
            raise CheckpointError(
                f"{json_path} holds no optimizer state; pass optimizer=None to load "
                "the weights only."
            )
        saved, given = meta["optimizer"]["class"], type(optimizer).__name__
        if saved != given:
            raise CheckpointError(
                f"{json_path}: this checkpoint's optimizer state is {saved}'s; you "
                f"passed {given}. Build a {saved} for the same parameters to resume, "
                "or pass optimizer=None to load the weights only."
            )
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
