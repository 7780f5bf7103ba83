"""What every figure shares: a figure on an Agg canvas, a title with the scale note (the run
count and every departure from the paper) under it, and the colours of survivors and the dead.

Every figure module builds its figures with :func:`figure` (no pyplot state is touched) and
titles them with :func:`titled`.
"""

from __future__ import annotations

import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: survivors drawn in one colour, dead frequencies in grey (the paper's convention)
SURVIVED_COLOR = "tab:red"
DEAD_COLOR = "0.6"
#: the narrowest figure that still carries a note of departures legibly (inches)
MIN_NOTE_WIDTH = 8.0


def figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` x ``height`` inches on an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def titled(fig: Figure, title: str, note: str | None = None) -> Figure:
    """Set the suptitle to ``title`` with ``note`` wrapped below it; a figure with a note is
    widened to at least :data:`MIN_NOTE_WIDTH` and grows by the note's height. Returns
    ``fig``."""
    text = title
    if note:
        width, height = fig.get_size_inches()
        width = max(width, MIN_NOTE_WIDTH)
        lines = textwrap.wrap(note, int(width * 12))
        fig.set_size_inches(width, height + 0.2 * len(lines))
        text += "\n" + "\n".join(lines)
    fig.suptitle(text, fontsize="medium")
    return fig
