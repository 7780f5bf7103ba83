"""Saving figures: one call writes the same figure in several formats."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

FORMATS = ("png", "svg", "pdf")
#: what a figure is written as unless PDF is asked for too
DEFAULT_FORMATS = ("png", "svg")


def figure_formats(pdf: bool = False) -> tuple[str, ...]:
    """The formats to write: PNG and SVG, and PDF when ``pdf`` (a ``--pdf`` option)."""
    return (*DEFAULT_FORMATS, "pdf") if pdf else DEFAULT_FORMATS


def save_figure(fig: Figure, path_stem: str | Path, formats: Sequence[str] = DEFAULT_FORMATS,
                dpi: int = 150) -> list[Path]:
    """Write ``fig`` as PATH_STEM.png, PATH_STEM.svg, ... and return the paths written.

    A suffix that names one of the formats (``fig.png``) is dropped from the stem, so
    ``fig.png`` and ``fig`` both give fig.png and fig.svg. Parent directories are created.
    """
    stem = Path(path_stem)
    if stem.suffix.lstrip(".").lower() in FORMATS:
        stem = stem.with_suffix("")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown figure format {bad[0]!r} (choose from {', '.join(FORMATS)})")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        # a tight box keeps the caption under the axes (circle_survival.figures.base.titled)
        fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.08)
        paths.append(path)
    return paths
