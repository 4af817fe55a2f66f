"""course_lib.checkpoints: the sidecar is validated field by field, the optimizer's
class is checked, and a save never destroys the last good checkpoint (weights first
under a new name, sidecar last, old weights deleted after). Round trips, corrupted
weights files and resume are in test_training.py."""

import dataclasses
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from course_lib import checkpoints
from course_lib.artefacts import course_file, load_gpt, load_reference_gpt
from course_lib.checkpoints import (
    CheckpointError,
    Sidecar,
    checkpoint_paths,
    load_checkpoint,
    read_sidecar,
    save_checkpoint,
)
from course_lib.gpt import GPT, GPTConfig
from course_lib.training import TrainConfig, configure_optimizer

FIXTURES = Path(__file__).parent / "fixtures"
TINY = GPTConfig(vocab_size=13, block_size=16, num_layers=2, num_heads=2, d_model=16)


def new_model(seed=0):
    torch.manual_seed(seed)
    return GPT(TINY)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_adamw(model):
    """An AdamW with state (moments), as ``train`` builds it."""
    opt = configure_optimizer(model, TrainConfig(max_steps=10, progress=False))
    x = torch.zeros(1, 4, dtype=torch.long)
    model(x, x)[1].backward()
    opt.step()
    return opt


def weights_files(folder):
    return sorted(p.name for p in folder.glob("*.safetensors"))


# ---------------------------------------------------------------- the sidecar


@pytest.mark.parametrize(
    "field",
    [
        "step",
        "aliases",
        "history",
        "extra",
        "weights_file",
        "weights_bytes",
        "weights_sha256",
    ],
)
def test_a_missing_field_is_a_checkpoint_error_naming_it(tmp_path, field):
    json_path = save_checkpoint(tmp_path / "run", new_model(), step=3)
    meta = json.loads(json_path.read_text())
    del meta[field]
    json_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=f"'{field}'.* is missing.*save the"):
        load_checkpoint(json_path, new_model())


@pytest.mark.parametrize(
    "field, value",
    [
        ("step", "3"),
        ("step", True),
        ("aliases", ["lm_head.weight"]),
        ("history", None),
        ("extra", "notes"),
        ("model_config", [16, 2]),
        ("model_class", 7),
        ("weights_file", "../elsewhere.safetensors"),
        ("weights_file", "run.json"),
        ("weights_bytes", 12.5),
        ("weights_sha256", "abc"),
        ("optimizer", {"class": "AdamW"}),
    ],
)
def test_a_field_of_the_wrong_type_is_a_checkpoint_error_naming_it(
    tmp_path, field, value
):
    model = new_model()
    json_path = save_checkpoint(tmp_path / "run", model, trained_adamw(model), step=3)
    meta = json.loads(json_path.read_text())
    meta[field] = value
    json_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=f"'{field}' should be .*save the"):
        load_checkpoint(json_path, new_model())


def test_the_sidecar_is_a_dataclass_and_optional_fields_may_be_absent(tmp_path):
    class Plain(torch.nn.Module):  # no dataclass config: no model_config/model_class
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

    json_path = save_checkpoint(tmp_path / "plain", Plain(), step=5)
    on_disk = json.loads(json_path.read_text())
    assert {"model_config", "model_class", "optimizer"}.isdisjoint(on_disk)
    sidecar = read_sidecar(tmp_path / "plain")
    assert isinstance(sidecar, Sidecar)
    assert sidecar.step == 5 and sidecar.optimizer is None
    assert sidecar.weights_file == "plain.5.safetensors"
    assert sidecar.to_json() == on_disk
    meta = load_checkpoint(tmp_path / "plain", Plain())
    assert meta["step"] == 5 and meta["model_config"] is None


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_checkpoint(tmp_path / "x")
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not a course-checkpoint-1"):
        load_checkpoint(tmp_path / "x")


# -------------------------------------------------------------- the optimizer


def test_the_optimizer_class_is_stored_and_checked(tmp_path):
    model = new_model()
    json_path = save_checkpoint(tmp_path / "run", model, trained_adamw(model), step=1)
    assert json.loads(json_path.read_text())["optimizer"]["class"] == "AdamW"
    other = new_model(seed=9)
    before = weights(other)
    sgd = torch.optim.SGD(other.parameters(), lr=0.1)
    with pytest.raises(
        CheckpointError, match="optimizer state is AdamW's; you passed SGD"
    ):
        load_checkpoint(json_path, other, sgd)
    # checked before anything was loaded: the model is as it was
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    assert sgd.state_dict()["state"] == {}
    adamw = trained_adamw(other)  # the right class loads, hyper-parameters as saved
    saved_groups = adamw.state_dict()["param_groups"]  # trained_adamw's, as saved
    for group in adamw.param_groups:
        group.update(lr=0.5, betas=(0.5, 0.5))
    load_checkpoint(json_path, other, adamw)
    assert adamw.state_dict()["param_groups"] == saved_groups  # betas a tuple again
    no_state = save_checkpoint(tmp_path / "bare", model, step=1)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(no_state, other, adamw)


def test_an_optimizer_state_that_does_not_fit_leaves_the_model_as_it_was(tmp_path):
    model = new_model()
    json_path = save_checkpoint(tmp_path / "run", model, trained_adamw(model), step=1)
    other = new_model(seed=9)
    before = weights(other)
    one_group = torch.optim.AdamW(other.parameters())  # train's AdamW has two groups
    with pytest.raises(CheckpointError, match="does not fit this optimizer"):
        load_checkpoint(json_path, other, one_group)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    assert one_group.state_dict()["state"] == {}


# ------------------------------------------------------------ crash-safe saves


def test_weights_first_sidecar_last_old_weights_deleted_after(tmp_path):
    model = new_model()
    save_checkpoint(tmp_path / "run", model, step=4)
    assert weights_files(tmp_path) == ["run.4.safetensors"]
    assert read_sidecar(tmp_path / "run").weights_file == "run.4.safetensors"
    save_checkpoint(tmp_path / "run", model, step=8)
    assert weights_files(tmp_path) == ["run.8.safetensors"]
    # a second save at the same step must not overwrite the file the sidecar names
    with torch.no_grad():
        model.tok_emb.weight.add_(1.0)
    save_checkpoint(tmp_path / "run", model, step=8)
    assert weights_files(tmp_path) == ["run.8-2.safetensors"]
    save_checkpoint(tmp_path / "run", model, step=8)
    assert weights_files(tmp_path) == ["run.8.safetensors"]
    fresh = new_model(seed=9)
    assert load_checkpoint(tmp_path / "run", fresh)["step"] == 8
    assert torch.equal(fresh.tok_emb.weight, model.tok_emb.weight)
    # another checkpoint in the same folder keeps its own files
    save_checkpoint(tmp_path / "run.best", model, step=8)
    save_checkpoint(tmp_path / "run", model, step=9)
    assert weights_files(tmp_path) == ["run.9.safetensors", "run.best.8.safetensors"]
    assert load_checkpoint(tmp_path / "run.best", fresh)["step"] == 8
    # the weights file itself names the checkpoint too
    assert load_checkpoint(tmp_path / "run.9.safetensors", fresh)["step"] == 9
    assert checkpoint_paths(tmp_path / "run") == (
        tmp_path / "run.9.safetensors",
        tmp_path / "run.json",
    )
    # a checkpoint named like one of those weights files is a checkpoint of its own
    save_checkpoint(tmp_path / "run.9", new_model(seed=3), step=1)
    assert weights_files(tmp_path) == [
        "run.9.1.safetensors",
        "run.9.safetensors",
        "run.best.8.safetensors",
    ]
    assert load_checkpoint(tmp_path / "run", fresh)["step"] == 9
    assert load_checkpoint(tmp_path / "run.9", fresh)["step"] == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_a_crash_before_the_sidecar_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    model = new_model()
    save_checkpoint(tmp_path / "run", model, trained_adamw(model), step=10)
    good = weights(model)
    good_sidecar = (tmp_path / "run.json").read_bytes()
    with torch.no_grad():  # the run goes on; its next save crashes half-way
        for p in model.parameters():
            p.mul_(2.0)
    write = checkpoints._atomic_write
    written = []

    def crash_at_the_sidecar(path, fn):
        if path.suffix == ".json":
            raise OSError("simulated crash: the process died before the sidecar")
        write(path, fn)
        written.append(path.name)

    monkeypatch.setattr(checkpoints, "_atomic_write", crash_at_the_sidecar)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(tmp_path / "run", model, trained_adamw(model), step=20)
    monkeypatch.undo()
    assert written == ["run.20.safetensors"]  # the new weights were on disk
    assert (tmp_path / "run.json").read_bytes() == good_sidecar
    # the last good checkpoint loads, verified (size and sha256) and strict
    fresh = new_model(seed=9)
    meta = load_checkpoint(tmp_path / "run", fresh, trained_adamw(fresh))
    assert meta["step"] == 10
    assert all(torch.equal(good[k], v) for k, v in fresh.state_dict().items())
    # the next save that completes takes over and cleans up after itself
    save_checkpoint(tmp_path / "run", model, step=30)
    assert "run.10.safetensors" not in weights_files(tmp_path)
    assert load_checkpoint(tmp_path / "run", fresh)["step"] == 30


def test_a_save_deletes_only_a_weights_file_of_its_own_checkpoint(tmp_path):
    """A sidecar copied from another checkpoint names that one's weights: saving
    over it must not delete them (only ``NAME[.<step>[-2]].safetensors`` goes)."""
    model = new_model()
    save_checkpoint(tmp_path / "best", model, step=4)
    shutil.copy(tmp_path / "best.json", tmp_path / "run.json")
    save_checkpoint(tmp_path / "run", model, step=5)
    assert weights_files(tmp_path) == ["best.4.safetensors", "run.5.safetensors"]
    assert load_checkpoint(tmp_path / "best", new_model(seed=9))["step"] == 4


@pytest.mark.skipif(os.name != "posix", reason="only POSIX can fsync a folder")
def test_each_file_and_each_rename_is_flushed_before_the_next_step(
    tmp_path, monkeypatch
):
    """A power cut must not reorder the writes: each file's bytes reach the disk
    before it is renamed into place, and each rename (the folder) before the next
    file is written."""
    events, fsync, replace = [], os.fsync, os.replace

    def logged_fsync(fd):
        events.append(
            "fsync " + ("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        )
        fsync(fd)

    def logged_replace(src, dst):
        events.append(f"rename to {Path(dst).name}")
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", logged_fsync)
    monkeypatch.setattr(os, "replace", logged_replace)
    save_checkpoint(tmp_path / "run", new_model(), step=1)
    assert events == [
        "fsync file",
        "rename to run.1.safetensors",
        "fsync folder",
        "fsync file",
        "rename to run.json",
        "fsync folder",
    ]


# ------------------------------------------------- files written before today


def test_a_checkpoint_saved_by_the_code_before_loads_and_saves_the_same_bytes(
    tmp_path,
):
    """``fixtures/saved_before`` was written by the checkpoints code of commit a2f3799
    (a tiny GPT with dropout, AdamW after one step, a batch generator). It loads into
    fresh objects, every tensor equal to what safetensors' own reader finds in the
    file; saved again from them, both files come out the same, byte for byte."""
    stored = load_file(FIXTURES / "saved_before.3.safetensors")
    sidecar = json.loads((FIXTURES / "saved_before.json").read_text())
    torch.manual_seed(123)  # other weights and RNG: all must come from the files
    # its config uses GPT-2's names (n_layer, n_head, n_embd), which from_dict reads
    model = GPT(GPTConfig.from_dict(sidecar["model_config"]))
    assert model.config.num_layers == sidecar["model_config"]["n_layer"]
    adamw = trained_adamw(model)
    generator = torch.Generator()
    meta = load_checkpoint(FIXTURES / "saved_before", model, adamw, generator)
    assert meta["step"] == 3 and meta["extra"] == sidecar["extra"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, stored["model." + sidecar["aliases"].get(name, name)])
    assert model.lm_head.weight is model.tok_emb.weight  # still tied
    for index, state in adamw.state_dict()["state"].items():
        for key, value in state.items():
            assert torch.equal(value, stored[f"optim.{index}.{key}"])
    assert torch.equal(generator.get_state(), stored["rng.generator"])
    assert torch.equal(torch.get_rng_state(), stored["rng.torch"])
    save_checkpoint(
        tmp_path / "again", model, adamw, 3, generator, meta["history"], meta["extra"]
    )
    again = (tmp_path / "again.3.safetensors").read_bytes()
    assert again == (FIXTURES / "saved_before.3.safetensors").read_bytes()
    on_disk = json.loads((tmp_path / "again.json").read_text())
    renamed = dataclasses.asdict(model.config)  # the same model, today's names
    expected = {**sidecar, "weights_file": "again.3.safetensors"}
    assert on_disk == {**expected, "model_config": renamed}


# ---------------------------------------------------- the shipped reference


def test_reference_checkpoint_keeps_its_files_and_loads():
    json_path = course_file("gpt_pydocs.json")
    sidecar = read_sidecar(json_path)
    assert sidecar.weights_file == "gpt_pydocs.safetensors"  # the layout before
    data = course_file("gpt_pydocs.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == sidecar.weights_sha256
    assert sidecar.weights_sha256 == (
        "462decc19ca4a139ac254fe2b30279a63f34d2b8cd58025ec666e0b1c9eb1b9f"
    )
    model, tokenizer, meta = load_reference_gpt()
    assert meta["step"] == 1500 and tokenizer.vocab_size == 103
    stored = load_file(course_file("gpt_pydocs.safetensors"))
    for name, value in model.state_dict().items():  # the same weights
        assert torch.equal(value, stored["model." + sidecar.aliases.get(name, name)])


def test_saving_over_a_checkpoint_of_the_layout_before(tmp_path):
    for suffix in (".json", ".safetensors"):
        shutil.copy(course_file("gpt_pydocs" + suffix), tmp_path / ("ref" + suffix))
    meta = json.loads((tmp_path / "ref.json").read_text())
    meta["weights_file"] = "ref.safetensors"
    (tmp_path / "ref.json").write_text(json.dumps(meta))
    model, loaded = load_gpt(tmp_path / "ref")
    assert loaded["step"] == 1500
    save_checkpoint(tmp_path / "ref", model, step=1500, history=loaded["history"])
    assert weights_files(tmp_path) == ["ref.1500.safetensors"]
    again, _ = load_gpt(tmp_path / "ref")
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
