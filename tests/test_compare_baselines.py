"""scripts/compare_baselines.py, which makes data/baselines.json (chapter 07): runs add
their models to the file without losing the results already there."""

import dataclasses
import importlib.util
import json
from pathlib import Path

from course_lib.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location(
        "compare_baselines", ROOT / "scripts" / "compare_baselines.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_record_adds_models_and_a_changed_budget_starts_a_new_entry(tmp_path):
    record = _script().record
    out = tmp_path / "baselines.json"
    budget = TrainConfig(max_steps=10, batch_size=2, block_size=8)
    record(out, "context 8, 10 steps", budget, 1, "a", {"val_loss": [2.0]})
    record(out, "context 8, 10 steps", budget, 1, "b", {"val_loss": [1.5]})
    record(
        out,
        "context 8, 20 steps",
        dataclasses.replace(budget, max_steps=20),
        1,
        "a",
        {"val_loss": [1.0]},
    )
    everything = json.loads(out.read_text())
    assert list(everything["context 8, 10 steps"]["models"]) == ["a", "b"]
    assert list(everything["context 8, 20 steps"]["models"]) == ["a"]
    # the same key with another budget replaces the entry: never results of two budgets
    record(out, "context 8, 10 steps", dataclasses.replace(budget, lr=1.0), 1, "c", {})
    assert list(json.loads(out.read_text())["context 8, 10 steps"]["models"]) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baselines.json"]  # no .tmp


def test_a_short_run_writes_its_model_and_the_command_that_made_it(tmp_path):
    out = tmp_path / "b.json"
    _script().main(
        [
            "--steps",
            "2",
            "--eval-interval",
            "2",
            "--threads",
            "1",
            "--models",
            "bigram",
            "--out",
            str(out),
        ]
    )
    (entry,) = json.loads(out.read_text()).values()
    assert entry["budget"]["max_steps"] == 2
    result = entry["models"]["bigram"]
    assert result["eval_step"] == [2] and len(result["val_loss"]) == 1
    assert "--models bigram" in result["command"]


def test_the_committed_file_has_what_chapter_07_reads():
    runs = json.loads((ROOT / "data" / "baselines.json").read_text())
    assert "context 64, 3000 steps" in runs
    for key, run in runs.items():
        b = run["budget"]
        assert key == f"context {b['block_size']}, {b['max_steps']} steps"
        for name, r in run["models"].items():
            assert len(r["eval_step"]) == len(r["val_loss"]) > 0, (key, name)
            assert r["eval_step"][-1] == b["max_steps"], (key, name)
            assert r["command"].startswith("python scripts/compare_baselines.py")
