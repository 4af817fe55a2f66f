"""Static plots and ipywidgets explorers.

Every explorer in the course follows one pattern, so it works the same in JupyterLab,
Notebook 7, VS Code and Colab, and shows a picture on GitHub:

1. a ``draw_*(...) -> Figure`` function that draws one frame from plain arguments;
2. in the notebook, one cell that calls it with the default arguments: the static first
   frame, an ordinary matplotlib image that nbval and GitHub see;
3. a next cell, tagged ``nbval-ignore-output``, that calls :func:`explorer` with the
   same function and the widgets that drive its arguments.

Attention is always drawn with :data:`ATTENTION_CMAP`, so a colour means the same weight
in every chapter.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ATTENTION_CMAP = "viridis"  # one colour map for attention weights across the course


def explorer(draw: Callable[..., Figure], **controls):
    """A live widget: ``controls`` (ipywidgets keyed by ``draw``'s argument names) above
    the figure ``draw(**values)`` redrawn whenever a control changes.

    Works with ipywidgets 7.7 (Colab) and 8. Returns the widget; display it by making it
    the last expression of a cell.
    """
    import ipywidgets as widgets
    from IPython.display import clear_output, display

    if not controls:
        raise ValueError("explorer: give at least one control, e.g. d_k=IntSlider(...)")
    out = widgets.Output()

    def update(**values):
        with out:
            clear_output(wait=True)
            fig = draw(**values)
            display(fig)
            plt.close(fig)  # shown once, inside the widget, not again below the cell

    widgets.interactive_output(update, controls)
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    box.add_class("course-explorer")
    return box
