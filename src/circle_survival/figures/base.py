"""What every figure shares: a figure on an Agg canvas, one style (font sizes, the colours of
survivors and the dead), a short title, and the scale note (the run count and every departure
from the paper) as a caption under the figure.

Every figure module builds its figures with :func:`figure` (no pyplot state is touched) and
finishes them with :func:`titled` (or :func:`captioned`, which keeps the titles), which applies
the style and places the title and the caption. A figure's key (:func:`set_key`: what its marks
mean, e.g. which panels carry a title) opens the caption and is kept when a caller titles the
figure again with its own note. :func:`figure_text` reads title and caption back.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.ticker import NullFormatter

#: survivors drawn in one colour, dead frequencies in grey (the paper's convention)
SURVIVED_COLOR = "tab:red"
DEAD_COLOR = "0.6"
#: several survivors (or groups) in distinct colours: tab10 without its grey (C7), so that no
#: survivor is drawn grey
SURVIVOR_COLORS = tuple(c for i, c in enumerate(colormaps["tab10"].colors) if i != 7)
#: font sizes in points: the figure's title, panel titles, axis labels, tick labels and
#: legends, and the caption under the figure
TITLE_SIZE = 11
PANEL_TITLE_SIZE = 9.5
LABEL_SIZE = 9.5
TICK_SIZE = 8.5
LEGEND_SIZE = 8
CAPTION_SIZE = 8
CAPTION_COLOR = "0.25"
#: the narrowest figure that still carries a caption of departures legibly (inches)
MIN_NOTE_WIDTH = 6.0
#: the gid of the caption's Text artist
CAPTION_GID = "caption"
#: the figure attribute that holds the key (set_key) and the note (titled) of the caption
_KEY_ATTR, _NOTE_ATTR = "_circle_survival_key", "_circle_survival_note"


def runs_text(n: int) -> str:
    """'1 run' or 'n runs' (thousands separated)."""
    return f"{n:,} run" if n == 1 else f"{n:,} runs"


def survivor_colors(n: int) -> list:
    """n distinct, non-grey colours: tab10 without grey, then evenly spaced on 'turbo'."""
    if n <= len(SURVIVOR_COLORS):
        return list(SURVIVOR_COLORS[:n])
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` x ``height`` inches on an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def apply_style(fig: Figure) -> Figure:
    """Give every axes of ``fig`` the shared font sizes (titles, labels, ticks, legends,
    colour bars, inset colour bars included) so that all figures of a report read alike; in a
    figure without a suptitle the axes titles are the figure's titles (:data:`TITLE_SIZE`).
    Returns ``fig``."""
    title_size = PANEL_TITLE_SIZE if fig.get_suptitle() else TITLE_SIZE
    for ax in [a for top in fig.axes for a in (top, *top.child_axes)]:
        ax.title.set_fontsize(title_size)
        ax.xaxis.label.set_fontsize(LABEL_SIZE)
        ax.yaxis.label.set_fontsize(LABEL_SIZE)
        ax.tick_params(labelsize=TICK_SIZE)
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() == "log" and 0 < min(lo, hi) and max(lo, hi) / min(lo, hi) < 10:
                axis.set_minor_formatter(NullFormatter())  # labels of minor ticks collide
        for child in ax.get_children():
            if isinstance(child, Legend):
                _style_legend(child)
    for legend in fig.legends:
        _style_legend(legend)
    return fig


def _style_legend(legend: Legend) -> None:
    for text in legend.get_texts():
        text.set_fontsize(LEGEND_SIZE)
    legend.get_title().set_fontsize(LEGEND_SIZE)


def shared_legend(fig: Figure, ax, **kwargs) -> Legend:
    """One legend for every panel of ``fig``, from the handles of ``ax`` (panels that show the
    same kinds of lines), right of the panels; a shared legend placed before is replaced and
    the panels' own legends are removed. ``kwargs`` go to ``Figure.legend``."""
    for old in list(fig.legends):
        old.remove()
    for other in fig.axes:
        if other.get_legend() is not None:
            other.get_legend().remove()
    handles, labels = ax.get_legend_handles_labels()
    kwargs = {"loc": "outside right upper", "frameon": False, "fontsize": LEGEND_SIZE,
              **kwargs}
    return fig.legend(handles, labels, **kwargs)


def titled(fig: Figure, title: str, note: str | None = None) -> Figure:
    """Set the suptitle to ``title`` (before the style, so panel titles stay smaller) and
    finish the figure with :func:`captioned`. Returns ``fig``."""
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return captioned(fig, note)


def captioned(fig: Figure, note: str | None = None) -> Figure:
    """Apply the shared style and put the figure's key (:func:`set_key`) and ``note`` (the
    scale and the departures from the paper), wrapped, as a caption under the figure; titles
    are left as they are. A figure with a caption is widened to at least
    :data:`MIN_NOTE_WIDTH`. The caption lies below the axes and is kept by
    :func:`circle_survival.figures.io.save_figure` (a tight bounding box). Returns ``fig``."""
    setattr(fig, _NOTE_ATTR, note)
    apply_style(fig)
    for old in [t for t in fig.texts if t.get_gid() == CAPTION_GID]:
        old.remove()
    parts = [x for x in (getattr(fig, _KEY_ATTR, None), note) if x]
    if parts:
        width, height = fig.get_size_inches()
        if width < MIN_NOTE_WIDTH:
            fig.set_size_inches(MIN_NOTE_WIDTH, height)
            width = MIN_NOTE_WIDTH
        lines = [line for part in parts for line in textwrap.wrap(part, int(width * 15.5))]
        fig.text(0.01, -0.01, "\n".join(lines), ha="left", va="top", fontsize=CAPTION_SIZE,
                 color=CAPTION_COLOR, gid=CAPTION_GID, wrap=False)
    return fig


def set_key(fig: Figure, key: str | None) -> Figure:
    """Set what the figure's marks mean (one or two sentences): the caption opens with it,
    before any note, and keeps it when the figure is titled again. Returns ``fig``."""
    setattr(fig, _KEY_ATTR, key)
    return captioned(fig, getattr(fig, _NOTE_ATTR, None))


def key(fig: Figure) -> str:
    """The key :func:`set_key` gave ``fig`` ("" if none)."""
    return getattr(fig, _KEY_ATTR, None) or ""


def caption(fig: Figure) -> str:
    """The caption :func:`titled` put under ``fig`` ("" if none)."""
    return "\n".join(t.get_text() for t in fig.texts if t.get_gid() == CAPTION_GID)


def figure_text(fig: Figure) -> str:
    """The figure's title and its caption, one text (for tests and searches)."""
    return "\n".join(x for x in (fig.get_suptitle(), caption(fig)) if x)
