"""Shared test set-up for the unit tests and for nbval over the notebooks.

Everything runs offline, on the CPU, with no progress bars in Hugging Face's output
(tools/nb.py's TEST_ENV, which `make notebooks` uses too). nbval's kernels inherit this
environment.
"""

import matplotlib

from tools.nb import use_test_env

use_test_env()
matplotlib.use("Agg")  # unit tests draw off screen; the notebook kernels keep inline


def _run_cells_like_jupyter() -> None:
    """nbval 0.11 executes cells with ``store_history=False``. IPython then cannot see
    a cell's trailing semicolon (it reads it from the history), so ``draw(...);``
    shows the figure twice under nbval but once in Jupyter, nbclient and Colab. Run
    cells as Jupyter does, so the test sees what a learner sees."""
    try:
        from nbval.kernel import RunningKernel
    except ImportError:
        return

    def execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(
            cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False
        )

    RunningKernel.execute_cell_input = execute_cell_input


_run_cells_like_jupyter()
