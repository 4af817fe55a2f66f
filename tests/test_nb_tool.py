"""tools/nb.py's export and build (Jupytext's percent format): a committed notebook
exported to text and built back keeps every cell's type, source, tags and id."""

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from tools.nb import ROOT, badge, notebook_from_text, text_from_notebook

NOTEBOOKS = sorted(
    p
    for p in (ROOT / "notebooks").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
# What a run records in a cell's metadata; build writes a notebook that was not run.
RUN_METADATA = {"execution"}


def cells(nb):
    """What a round trip must keep: each cell's type, id, source and metadata."""
    return [
        (
            c.cell_type,
            c.id,
            c.source,
            {k: v for k, v in c.metadata.items() if k not in RUN_METADATA},
        )
        for c in nb.cells
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_export_then_build_keeps_every_cell(path):
    nb = nbformat.read(path, as_version=4)
    rel = path.relative_to(ROOT).as_posix()
    built = notebook_from_text(text_from_notebook(nb), rel)
    assert cells(built) == cells(nb)
    nbformat.validate(built)
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in built.cells
        if c.cell_type == "code"
    ), "build writes a notebook without outputs"
    assert built.metadata["kernelspec"]["name"] == "python3"


def test_the_round_trip_covers_tagged_cells():
    """Without tagged cells in the notebooks, the test above could miss a lost tag."""
    tagged = [
        c
        for path in NOTEBOOKS
        for c in nbformat.read(path, as_version=4).cells
        if "nbval-ignore-output" in c.metadata.get("tags", [])
    ]
    assert len(tagged) >= 10


def test_build_reads_hand_written_percent_text():
    text = (
        "# %% [markdown]\n"
        "# # A chapter\n"
        "#\n"
        "# Some *prose*.\n"
        "\n"
        '# %% id="kept-id" tags=["nbval-skip", "nbval-ignore-output"]\n'
        "x = 1\n"
        "\n"
        "\n"
        "def f():\n"
        "    return x\n"
        "\n"
        "# %%\n"
        "# %pip install -q something\n"
        "f()\n"
    )
    rel = "notebooks/99_example.ipynb"
    nb = notebook_from_text(text, rel)
    types = [c.cell_type for c in nb.cells]
    # build adds the set-up cell after the first markdown cell, as `make colab` does
    assert types == ["markdown", "code", "code", "code"]
    assert nb.cells[0].source == f"{badge(rel)}\n\n# A chapter\n\nSome *prose*."
    assert nb.cells[1].source.startswith("# Set-up: on Colab, install course_lib")
    assert nb.cells[2].id == "kept-id"
    assert nb.cells[2].metadata == {"tags": ["nbval-skip", "nbval-ignore-output"]}
    assert nb.cells[2].source == "x = 1\n\n\ndef f():\n    return x"
    assert nb.cells[3].source == "%pip install -q something\nf()"
    assert nb.cells[3].metadata == {}
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)  # a cell without an id gets a fresh one
    nbformat.validate(nb)


def test_command_line_export_and_build(tmp_path):
    """The two subcommands, through argparse, on the chapter with the most tags."""
    path = max(
        NOTEBOOKS,
        key=lambda p: sum(
            bool(c.metadata.get("tags")) for c in nbformat.read(p, 4).cells
        ),
    )
    src = tmp_path / "chapter.py"
    out_dir = ROOT / "test-artifacts" / f"nb-tool-{uuid.uuid4().hex[:8]}"
    out = out_dir / path.name
    run = [sys.executable, str(ROOT / "tools" / "nb.py")]
    try:
        out_dir.mkdir(parents=True)
        subprocess.run([*run, "export", str(path), str(src)], check=True, cwd=ROOT)
        assert 'tags=["nbval-ignore-output"]' in src.read_text()
        subprocess.run([*run, "build", str(src), str(out)], check=True, cwd=ROOT)
        nb, built = nbformat.read(path, 4), nbformat.read(out, 4)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    # the first markdown cell's badge now names the new path; all else is the same
    rel = out.relative_to(ROOT).as_posix()
    assert built.cells[0].source.startswith(badge(rel))
    assert cells(built)[1:] == cells(nb)[1:]
    assert (
        built.cells[0].source.split("\n", 1)[1] == nb.cells[0].source.split("\n", 1)[1]
    )

    outside = subprocess.run(
        [*run, "build", str(src), str(tmp_path / "x.ipynb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert outside.returncode == 2
    assert "OUT must lie inside the repository" in outside.stderr
    assert not (tmp_path / "x.ipynb").exists()


def test_command_line_needs_a_known_subcommand():
    out = subprocess.run(
        [sys.executable, str(Path(ROOT, "tools", "nb.py")), "expor", "a", "b"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "invalid choice: 'expor'" in out.stderr
