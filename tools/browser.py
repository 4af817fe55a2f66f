"""The course as a learner sees it: JupyterLab in a real Chromium, driven by Playwright.

    python tools/browser.py screenshots [NB.ipynb ...]   # = make screenshots

Two users share this module: ``tests/test_browser.py`` (each chapter's explorer must
react in a browser: run the notebook, move a control, the plot changes, the console
shows no widget error) and ``make screenshots``, which renders each chapter's main
explorer to ``docs/screenshots/<notebook name>.png`` for the README.

Adding a chapter's explorer is one line in :data:`EXPLORERS`: the notebook, and, when
the default ("the first ``.course-explorer`` in the notebook, change its first control")
is not the one to drive, which explorer and which control (by its label), e.g.
``Explorer("notebooks/04_multi_head_attention.ipynb", control="head")``. Then run
``make screenshots`` and show the new PNG in the README's gallery (a test checks both).

What runs, and why it never touches your own Jupyter or the network:

- JupyterLab from the Python running this module (the course's ``.venv``), on a free
  ``127.0.0.1`` port with a random token, with its config, data, runtime and settings
  directories in a temporary folder, serving a temporary copy of ``notebooks/`` (so
  nothing the browser does can save over a committed notebook). Its kernels import the
  ``course_lib`` of this checkout (``PYTHONPATH``).
- Debian's Chromium (``apt-get install chromium``), headless, with a fresh profile and
  the flags that keep it off the network. Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
_NOT_LOCAL = re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass(frozen=True)
class Explorer:
    """One explorer the browser test drives and ``make screenshots`` renders."""

    notebook: str  # path from the repository root
    index: int = 0  # which ``.course-explorer`` of the notebook, in page order
    control: str | None = None  # the label of the control to change; None: the first
    screenshot: bool = True  # render it to docs/screenshots/<notebook stem>.png

    @property
    def name(self) -> str:
        return Path(self.notebook).stem


# One entry per chapter explorer. A chapter with several explorers may list several;
# give `screenshot=False` to all but its main one.
EXPLORERS = [
    Explorer("notebooks/00_welcome.ipynb"),
    Explorer("notebooks/01_language_models.ipynb"),  # learning-rate slider
    Explorer("notebooks/02_tokens_and_embeddings.ipynb"),  # positional encodings
    Explorer("notebooks/03_attention.ipynb", index=1),  # sentence + query explorer
    Explorer("notebooks/04_multi_head_attention.ipynb"),  # per-head explorer
    Explorer("notebooks/05_transformer_block.ipynb"),  # gradient norms vs depth
    Explorer("notebooks/06_transformer.ipynb"),  # cross-attention of the trained model
    Explorer("notebooks/07_training_loop.ipynb"),  # learning-rate schedule
    Explorer("notebooks/08_generation.ipynb", control="temperature"),  # sampling knobs
    Explorer("notebooks/08_generation.ipynb", 1, "beams", screenshot=False),  # beams
    Explorer("notebooks/09_pretrain_finetune.ipynb", control="head"),  # MiniLM's heads
    Explorer("notebooks/10_hugging_face.ipynb", control="head"),  # GPT-2 = our heads
]


# --------------------------------------------------------------------------- JupyterLab
@dataclass
class Lab:
    base: str  # http://127.0.0.1:PORT
    token: str
    log: Path

    def notebook_url(self, notebook: str) -> str:
        # ?reset: start from an empty workspace, not from tabs left by an earlier run
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Settings a learner would click away; here they would only add noise to screenshots.
_USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": (
        '{"fetchNews": "false", "checkForUpdates": false}'
    ),
}


def _scratch_root(tmp: Path) -> Path:
    """A folder like the repository: ``notebooks/`` copied, the rest linked."""
    root = tmp / "root"
    root.mkdir()
    for entry in ROOT.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.name == "notebooks":
            shutil.copytree(
                entry, root / entry.name, ignore=shutil.ignore_patterns(".ipynb_*")
            )
        else:
            (root / entry.name).symlink_to(entry)
    last = {}  # notebook -> the last explorer the browser will drive in it
    for e in EXPLORERS:
        last[e.notebook] = max(last.get(e.notebook, 0), e.index)
    for notebook, index in last.items():
        _stop_after_explorer(root / notebook, index)
    return root


def _stop_after_explorer(path: Path, index: int) -> None:
    """Drop the cells after the one that shows explorer number ``index``: they cannot
    change it, and running them (benchmarks, long training) would only cost time. The
    explorers are found by their class in the widget state the committed notebook
    stores; if that is missing, the whole notebook stays."""
    if not path.exists():
        return
    nb = json.loads(path.read_text(encoding="utf-8"))
    widgets = nb.get("metadata", {}).get("widgets", {})
    saved = widgets.get("application/vnd.jupyter.widget-state+json", {})
    state = saved.get("state", {})
    explorers = {
        model_id
        for model_id, model in state.items()
        if "course-explorer" in model.get("state", {}).get("_dom_classes", [])
    }
    seen = -1
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            view = data.get("application/vnd.jupyter.widget-view+json")
            if view and view.get("model_id") in explorers:
                seen += 1
        if seen >= index:
            nb["cells"] = nb["cells"][: i + 1]
            path.write_text(json.dumps(nb), encoding="utf-8")
            return


@contextmanager
def jupyter_lab(startup_timeout: float = 90) -> Iterator[Lab]:
    """Start JupyterLab (see the module docstring), yield it, stop it."""
    with tempfile.TemporaryDirectory(prefix="course-lab-") as tmp_name:
        tmp = Path(tmp_name)
        root = _scratch_root(tmp)
        settings = tmp / "user-settings"
        for name, text in _USER_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(text)
        port, token = _free_port(), secrets.token_hex(16)
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel draws inline, as for a learner
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
            env[var] = str(tmp / var.lower())
        env["IPYTHONDIR"] = str(tmp / "ipython")
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI runs as root; JupyterLab refuses otherwise
        log = tmp / "jupyterlab.log"
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                cmd, env=env, cwd=root, stdout=log_file, stderr=subprocess.STDOUT
            )
        lab = Lab(f"http://127.0.0.1:{port}", token, log)
        try:
            _wait_for_server(proc, lab, startup_timeout)
            yield lab
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_server(proc: subprocess.Popen, lab: Lab, timeout: float) -> None:
    request = urllib.request.Request(
        f"{lab.base}/api/status", headers={"Authorization": f"token {lab.token}"}
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"JupyterLab did not answer in {timeout:.0f} s:\n{lab.log_tail()}"
    )


# --------------------------------------------------------------------------- Chromium
@contextmanager
def chromium(viewport=(1280, 900)):
    """A headless Debian Chromium with a fresh profile; yields a Playwright context."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(
            f"{CHROMIUM} not found: install Debian's Chromium "
            "(sudo apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="course-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        # Belt and braces: a notebook's markdown may hot-link an image (the Colab
        # badge); refuse every request that is not for our JupyterLab, so nothing
        # leaves the machine and no test waits on a DNS lookup.
        context.route(_NOT_LOCAL, lambda route: route.abort())
        try:
            yield context
        finally:
            context.close()


# --------------------------------------------------------------------------- a notebook
class NotebookPage:
    """One notebook open in JupyterLab; collects the browser console as it goes."""

    def __init__(self, context, lab: Lab, notebook: str):
        self.page = context.new_page()
        self.notebook = notebook
        self.lab = lab
        self.console: list[str] = []  # every message, for the report
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _on_console(self, message) -> None:
        url = (message.location or {}).get("url", "")
        line = f"{message.type}: {message.text} ({url})"
        self.console.append(line)
        # The one expected error: an image hot-linked from another site (the Colab
        # badge), refused by chromium()'s offline rule. A resource of our own server
        # that fails to load (a widget's JavaScript, say) still counts.
        external = message.text.startswith("Failed to load resource") and (
            not url.startswith(self.lab.base)
        )
        if message.type == "error" and not external:
            self.errors.append(line)

    def open(self, timeout: float = 60) -> None:
        """Load the notebook and wait for its kernel to be ready."""
        self.page.goto(self.lab.notebook_url(self.notebook))
        self.page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1e3)
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until the kernel status in the status bar says Idle and no cell is
        queued or running (``[*]``)."""
        self.page.wait_for_function(
            """() => {
                const bar = document.getElementById('jp-main-statusbar');
                const idle = bar && /\\bIdle\\b/.test(bar.innerText);
                const busy = [...document.querySelectorAll('.jp-InputPrompt')]
                    .some(p => p.textContent.includes('*'));
                return idle && !busy;
            }""",
            timeout=timeout * 1e3,
            polling=200,
        )

    def run_all(self, timeout: float = 300) -> None:
        """Run → Run All Cells, as a learner would, and wait until every cell ran."""
        self.page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        self.page.locator(
            "li.lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))"
        ).click()
        queued = self.page.locator(".jp-InputPrompt", has_text="*")
        try:  # cells show [*] as soon as they are queued
            queued.first.wait_for(state="attached", timeout=10e3)
        except Exception as exc:
            raise AssertionError(f"{self.notebook}: Run All did not start") from exc
        self.wait_idle(timeout)
        counts = self.page.evaluate(  # prompts of the code cells that are not empty
            """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
                .filter(c => c.querySelector('.cm-content').textContent.trim())
                .map(c => c.querySelector('.jp-InputPrompt').textContent.trim())"""
        )
        # consecutive from the first: a second test of the same notebook finds its
        # kernel still running from the first one, so the count need not start at 1
        first = counts[0][1:-2] if counts and counts[0][1:-2].isdigit() else "1"
        expected = [f"[{i}]:" for i in range(int(first), int(first) + len(counts))]
        if counts != expected:
            stderr = self.page.locator(
                ".jp-Notebook [data-mime-type='application/vnd.jupyter.stderr']"
            ).all_text_contents()
            raise AssertionError(
                f"{self.notebook}: not every cell ran in order after Run All (prompts "
                f"{counts}); the last error output says:\n"
                + (stderr[-1][-1500:] if stderr else "nothing")
            )

    def explorer(self, index: int = 0, timeout: float = 30):
        """The ``index``-th ``.course-explorer`` widget, once its plot is drawn; fails
        at once, with what the page and console say, if a widget cannot be shown."""
        boxes = self.page.locator(".jp-Notebook .course-explorer")
        plots = boxes.nth(index).locator(".widget-output img")
        deadline = time.monotonic() + timeout
        while plots.count() == 0:
            if self.widget_error_text() or self.errors or time.monotonic() > deadline:
                time.sleep(0.5)  # let the console catch up with the page
                said = [self.widget_error_text(), *self.errors]
                raise AssertionError(
                    f"{self.notebook}: no plot (yet) in .course-explorer #{index} "
                    f"({boxes.count()} found); the page and console say:\n"
                    + ("\n".join(s for s in said if s) or "nothing")
                )
            time.sleep(0.2)
        box = boxes.nth(index)
        box.scroll_into_view_if_needed()
        return box

    def widget_error_text(self) -> str:
        """What JupyterLab's widget manager shows where it cannot draw a widget."""
        return self.page.evaluate(
            """() => [...document.querySelectorAll('.jp-Notebook .jupyter-widgets')]
                .filter(e => e.querySelector(':scope > .jupyter-widgets-error-widget')
                    || e.textContent.startsWith('Error displaying widget'))
                .map(e => e.textContent.trim().slice(0, 300)).join('\\n')"""
        )

    def close(self) -> None:
        self.page.close()


def plot_src(explorer) -> str:
    """The ``src`` (a base64 PNG) of the explorer's plot; "" when it shows none."""
    return explorer.locator(".widget-output img").evaluate_all(
        "imgs => imgs.length ? imgs[0].getAttribute('src') : ''"
    )


def wait_for_redraw(explorer, before: str, timeout: float = 20) -> str:
    """Wait until the explorer's plot differs from ``before`` (a redraw, or an error
    instead of a plot), and return the new ``src``: ``before`` again when nothing
    changed in ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        src = plot_src(explorer)
        if (src and src != before) or explorer_stderr(explorer):
            return src
        time.sleep(0.2)
    return plot_src(explorer)


def explorer_stderr(explorer) -> str:
    """What the explorer's output shows on stderr: a traceback from ``draw``, a
    warning."""
    texts = explorer.locator(
        ".widget-output [data-mime-type='application/vnd.jupyter.stderr']"
    ).all_text_contents()
    return "\n".join(texts)


def controls_shown(explorer) -> str:
    """What the explorer's controls show, worded as its caption words it: ``label =
    value`` per control, joined by `` · `` (a dropdown's selected option, a slider's
    readout, the active toggle button, a checkbox's True or False)."""
    return explorer.evaluate(
        """e => [...e.querySelectorAll(':scope > .widget-hbox > *')].map(c => {
            const q = s => c.querySelector(s);
            const label = (q('.widget-label') || {textContent: ''}).textContent;
            let value;
            if (q('select')) value = q('select').selectedOptions[0].textContent;
            else if (q('.widget-readout')) value = q('.widget-readout').textContent;
            else if (q('.mod-active')) value = q('.mod-active').textContent;
            else if (q('input[type=checkbox]'))
                value = q('input[type=checkbox]').checked ? 'True' : 'False';
            else value = (q('input') || {value: '?'}).value;
            return label.trim() + ' = ' + value.trim();
        }).join(' · ').replace(/\\s+/g, ' ')"""
    )


def drawn_for(explorer, timeout: float = 10, want: str | None = None) -> str:
    """The state the explorer's current plot was drawn from (its caption, without
    "drawn for "); waits up to ``timeout`` s for it to read ``want``, if given."""
    caption = explorer.locator(".widget-output .course-explorer-state")
    deadline = time.monotonic() + timeout
    while True:
        texts = caption.all_text_contents()
        text = " ".join(texts[-1].split()).removeprefix("drawn for ") if texts else ""
        if want is None or text == want or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def _control(explorer, label: str | None):
    controls = explorer.locator(":scope > .widget-hbox > *")  # explorer()'s HBox
    if label is None:
        return controls.first
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    labelled = controls.filter(
        has=explorer.page.locator(".widget-label", has_text=exact)
    )
    assert labelled.count() == 1, f"no single control labelled {label!r} in explorer"
    return labelled.first


def _drag(page, handle, dx: float) -> None:
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=5)
    page.mouse.up()


def change_control(explorer, label: str | None = None) -> str:
    """Change one control the way a learner would, and say what was done.

    ``label`` picks the control by its description; None takes the first. A slider's
    handle is dragged with the mouse a quarter of its track, away from the nearer end
    (to the end, if that did not change its value); a dropdown or list picks its next
    option; toggle buttons or radio buttons pick the first other choice; a checkbox
    flips.
    """
    control = _control(explorer, label)
    page = explorer.page
    classes = control.get_attribute("class") or ""
    if "widget-slider" in classes:
        handle = control.locator(".noUi-handle").first
        track = control.locator(".noUi-target").first.bounding_box()
        readout = control.locator(".widget-readout").first
        before = readout.text_content()
        box = handle.bounding_box()
        to_right = box["x"] + box["width"] / 2 < track["x"] + track["width"] / 2
        sign = 1 if to_right else -1
        _drag(page, handle, sign * track["width"] / 4)
        if readout.text_content() == before:  # few values: a quarter was too short
            _drag(page, handle, sign * track["width"])
        return f"dragged slider from {before} to {readout.text_content()}"
    if "widget-dropdown" in classes or "widget-select" in classes:
        select = control.locator("select")
        options = select.locator("option").all_text_contents()
        current = select.evaluate("s => s.selectedIndex")
        choice = options[(current + 1) % len(options)]
        select.select_option(label=choice)
        return f"picked {choice!r} instead of {options[current]!r}"
    if "widget-toggle-buttons" in classes:
        button = control.locator("button:not(.mod-active)").first
        name = button.text_content()
        button.click()
        return f"clicked {name!r}"
    if "widget-radio" in classes:
        control.locator("input[type=radio]:not(:checked)").first.check()
        return "picked another radio button"
    if "widget-checkbox" in classes:
        control.locator("input[type=checkbox]").click()
        return "flipped the checkbox"
    raise ValueError(
        f"change_control: no driver for a control with classes {classes!r}; "
        "name another one with Explorer(control=<its label>)"
    )


def screenshot_explorer(explorer, path: Path, margin: int = 8) -> Path:
    """Save the explorer, cropped to its controls and plot, as a PNG."""
    page = explorer.page
    page.mouse.move(0, 0)  # no hover highlight in the picture
    # JupyterLab scrolls inside its own panel: bring the whole explorer into view
    explorer.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    boxes = [explorer.bounding_box()]
    parts = explorer.locator(":scope > .widget-hbox > *, .widget-output img")
    boxes += [parts.nth(i).bounding_box() for i in range(parts.count())]
    boxes = [b for b in boxes if b]
    left = min(b["x"] for b in boxes) - margin
    top = boxes[0]["y"]  # not above the explorer: that is the code cell's border
    right = max(b["x"] + b["width"] for b in boxes[1:]) + margin
    bottom = max(b["y"] + b["height"] for b in boxes) + margin
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(path),
        clip={"x": left, "y": top, "width": right - left, "height": bottom - top},
    )
    return path


# -------------------------------------------------------------------------- screenshots
def screenshots(notebooks: list[str] | None = None) -> list[Path]:
    """Render each listed explorer (all with ``screenshot=True`` by default)."""
    entries = [e for e in EXPLORERS if e.screenshot]
    if notebooks:
        wanted = {Path(n).resolve() for n in notebooks}
        entries = [e for e in entries if (ROOT / e.notebook).resolve() in wanted]
    saved = []
    # a tall window, so that a tall explorer is not cut off by JupyterLab's status bar
    with jupyter_lab() as lab, chromium(viewport=(1280, 1600)) as context:
        for entry in entries:
            start = time.perf_counter()
            nb = NotebookPage(context, lab, entry.notebook)
            nb.open()
            nb.run_all()
            box = nb.explorer(entry.index)
            nb.wait_idle()
            path = screenshot_explorer(box, SCREENSHOTS / f"{entry.name}.png")
            nb.close()
            seconds = time.perf_counter() - start
            size = path.stat().st_size / 1024
            print(f"{path.relative_to(ROOT)}: {size:.0f} KB in {seconds:.1f} s")
            saved.append(path)
    return saved


def main(argv: list[str]) -> None:
    if argv[:1] == ["screenshots"]:
        screenshots(argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
