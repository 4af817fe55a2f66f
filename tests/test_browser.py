"""Each chapter's explorer works in a real browser, as a learner meets it: JupyterLab
opens the notebook in Debian's Chromium, Run All Cells, a control of the explorer is
moved with the mouse (or another option picked), and the plot must be redrawn, with no
widget error in the page or the browser console.

The explorers tested are those listed in ``tools/browser.py``'s ``EXPLORERS``: adding a
chapter is one line there. Screenshots (before/after, and the whole page when a test
fails) and the browser console go to ``test-artifacts/browser/``.

Skipped, saying why, when ``/usr/bin/chromium`` is absent (``apt-get install chromium``;
``.ci/run`` installs it). Playwright's own browser download is never used.
"""

from pathlib import Path

import pytest

from tools.browser import (
    CHROMIUM,
    EXPLORERS,
    SCREENSHOTS,
    NotebookPage,
    change_control,
    chromium,
    controls_shown,
    drawn_for,
    explorer_stderr,
    jupyter_lab,
    plot_src,
    wait_for_redraw,
)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser test skipped: Debian's Chromium is not at {CHROMIUM} "
            "(install it with `apt-get install chromium`; .ci/run does this in CI)"
        )
    pytest.importorskip("playwright", reason="browser test skipped: no playwright")
    with chromium() as context:
        yield context


@pytest.fixture(scope="module")
def lab(browser):  # after `browser`, so a missing Chromium skips before Lab starts
    with jupyter_lab() as lab:
        yield lab


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("entry", EXPLORERS, ids=lambda e: f"{e.name}[{e.index}]")
def test_explorer_redraws_in_the_browser(entry, lab, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / f"{entry.name}-{entry.index}"
    for old in ARTIFACTS.glob(f"{stem.name}-*"):
        old.unlink()  # no stale failure picture from an earlier run
    nb = NotebookPage(browser, lab, entry.notebook)
    try:
        nb.open()
        nb.run_all()
        box = nb.explorer(entry.index)
        nb.wait_idle()
        box.screenshot(path=f"{stem}-before.png")
        before = plot_src(box)
        first = controls_shown(box)
        assert drawn_for(box, want=first) == first, (
            "the first frame is not the controls'"
        )

        action = change_control(box, entry.control)
        after = wait_for_redraw(box, before)
        nb.wait_idle()
        box.screenshot(path=f"{stem}-after.png")

        stderr = explorer_stderr(box)
        assert not stderr, f"the explorer printed to stderr after '{action}':\n{stderr}"
        assert after.startswith("data:image/png"), (
            f"no plot in the explorer after '{action}'"
        )
        changed = after != before  # (not compared inline: two long base64 strings)
        assert changed, f"the plot did not change after '{action}'"
        shown = controls_shown(box)  # the plot was drawn from what the controls show
        drawn = drawn_for(box, want=shown)
        assert drawn == shown, (
            f"after '{action}' the controls show [{shown}] but the plot was drawn "
            f"for [{drawn}]"
        )
        assert not nb.widget_error_text(), nb.widget_error_text()
        assert not nb.errors, "browser console errors:\n" + "\n".join(nb.errors)
    except BaseException:
        nb.page.screenshot(path=f"{stem}-failure.png", full_page=True)
        raise
    finally:
        (stem.with_suffix(".console.txt")).write_text("\n".join(nb.console) + "\n")
        nb.close()


def test_explorers_are_listed_and_shown_in_the_readme():
    """Every listed notebook exists, and every screenshot is committed and in the
    README (after adding an entry: `make screenshots`, then a cell in the README's
    gallery). Needs no browser."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for entry in EXPLORERS:
        assert (ROOT / entry.notebook).exists(), f"EXPLORERS lists {entry.notebook}"
        if entry.screenshot:
            png = SCREENSHOTS / f"{entry.name}.png"
            rel = png.relative_to(ROOT).as_posix()
            assert png.exists(), f"{rel} missing: run make screenshots"
            assert png.stat().st_size < 200_000, f"{rel} is over 200 KB"
            assert rel in readme, f"README.md does not show {rel}"
