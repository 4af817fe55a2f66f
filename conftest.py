"""Shared test set-up for the unit tests and for nbval over the notebooks.

Everything runs offline, on the CPU, with no progress bars in Hugging Face's output and
with OpenMP threads that sleep rather than spin while they wait (tools/nb.py's TEST_ENV,
which `make notebooks` uses too). nbval's kernels inherit this environment.

Two changes to nbval's behaviour, made on the one version pyproject.toml pins (0.11.0):
an nbval release that renames what is replaced stops the suite here with a message,
instead of silently testing something else.
"""

import matplotlib
import pytest

from tools.nb import use_test_env

use_test_env()
matplotlib.use("Agg")  # unit tests draw off screen; the notebook kernels keep inline

NBVAL_PATCHED = "0.11.0"


def _patch_nbval() -> None:
    try:
        import nbval
        from nbval.kernel import RunningKernel
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    if nbval.__version__ != NBVAL_PATCHED:
        raise pytest.UsageError(
            f"conftest.py adapts nbval {NBVAL_PATCHED}, but nbval {nbval.__version__} "
            f'is installed. Install the pinned one (pip install "nbval=={NBVAL_PATCHED}'
            '") or check that RunningKernel.execute_cell_input and IPyNbCell.setup '
            "still mean what conftest.py expects, then change NBVAL_PATCHED."
        )

    # 1. nbval 0.11 executes cells with ``store_history=False``. IPython then cannot see
    # a cell's trailing semicolon (it reads it from the history), so ``draw(...);``
    # shows the figure twice under nbval but once in Jupyter, nbclient and Colab. Run
    # cells as Jupyter does, so the test sees what a learner sees.
    def execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(
            cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False
        )

    # 2. After a cell times out, nbval marks every later cell of the notebook xfail, so
    # the report shows one FAILED and then a column of XFAIL/XPASS that hides nothing
    # useful. Skip them instead, with one reason that pytest's summary folds into a
    # single line ("SKIPPED [n] ... not run: an earlier cell timed out").
    def setup(self):
        if self.parent.timed_out:
            pytest.skip(
                f"{self.parent.fspath.basename}: not run, because an earlier cell of "
                "this notebook timed out (see its FAILED report)"
            )

    RunningKernel.execute_cell_input = execute_cell_input
    IPyNbCell.setup = setup


_patch_nbval()
