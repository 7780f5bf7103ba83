"""Figure of the Lotka-Volterra against the linear fit (``analysis.lotka_volterra``).

Data in, a :class:`matplotlib.figure.Figure` on an Agg canvas out; no pyplot state is touched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..analysis.lotka_volterra import ModelComparison

STYLES = {"true": ("recorded", "-"), "linear": ("linear ds = As + b", "--"),
          "lv": ("Lotka-Volterra ds = s(r + As)", ":")}


def lv_comparison(example: ModelComparison, table: pd.DataFrame, note: str = "",
                  n_dead: int = 3) -> Figure:
    """Three panels: (a) one run's signals and both rollouts from s_0 (its survivors in colour,
    ``n_dead`` dead frequencies in grey; the fit window shaded), (b) each run's held-out
    rollout error, linear against LV, (c) per model the median one-step R^2 on held-out steps
    and the fraction of runs whose rollout ends with the right survivors.

    Args:
        example: :func:`compare_linear_lv` of one run.
        table: :func:`compare_store` over many runs (one row per run and model).
        note: a line under the title (scale, departures).
    """
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_a, ax_b, ax_c = fig.subplots(1, 3, width_ratios=[1.5, 1, 0.8])
    scores = example.scores.set_index("model")
    survivors = list(scores.loc["linear", "survivors_true"])
    dead = [k for k in example.ks if k not in survivors]
    top = float(np.nanmax(example.true))
    dead = sorted(dead, key=lambda k: -example.true[0, list(example.ks).index(k)])[:n_dead]
    x = example.steps + 1
    colours = iter(["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange",
                    "tab:brown", "tab:pink", "tab:cyan"] * 8)
    for k in [*survivors, *dead]:
        i = list(example.ks).index(k)
        c = next(colours) if k in survivors else "0.6"
        for name in ("true", "linear", "lv"):
            y = example.true[:, i] if name == "true" else example.predictions[name][:, i]
            y = np.where(np.isfinite(y) & (y > -top) & (y < 2 * top), y, np.nan)
            ax_a.plot(x, y, STYLES[name][1], color=c, lw=1.4 if name == "true" else 1.2,
                      label=f"k={k}" if name == "true" else None)
    for name in ("true", "linear", "lv"):
        ax_a.plot([], [], STYLES[name][1], color="k", label=STYLES[name][0])
    ax_a.axvspan(1, example.fit_until + 1, color="0.92", zorder=0)
    ax_a.axvline(example.heldout_until + 1, color="0.7", lw=0.8)
    ax_a.set_xscale("log")
    ax_a.set_xlabel("step + 1 (shaded: fit window)")
    ax_a.set_ylabel("S_k")
    ax_a.set_ylim(0, 1.3 * np.nanmax(example.true))
    ax_a.legend(fontsize=7, ncol=2)
    ax_a.set_title("(a) one run: recorded signals and rollouts from s_0")

    wide = table.pivot(index="run_id", columns="model", values="rel_error_heldout")
    lin, lv = wide["linear"].to_numpy(float), wide["lv"].to_numpy(float)
    cap = 10.0
    lin_c, lv_c = np.minimum(np.nan_to_num(lin, nan=cap), cap), np.minimum(
        np.nan_to_num(lv, nan=cap), cap)
    ax_b.scatter(lin_c, lv_c, s=18, color="tab:blue")
    lo = max(1e-4, min(lin_c.min(), lv_c.min()) / 2)
    ax_b.plot([lo, cap], [lo, cap], color="0.5", lw=0.8)
    ax_b.set_xscale("log")
    ax_b.set_yscale("log")
    ax_b.set_xlabel("linear: held-out rollout error (relative RMSE)")
    ax_b.set_ylabel("Lotka-Volterra: held-out rollout error")
    ax_b.set_title(f"(b) {len(wide)} runs (below the line: LV better; capped at {cap:g})")

    models = ["linear", "lv"]
    g = table.groupby("model")
    bars = {"median one-step R² in the fit window": g["r2_fit"].median(),
            "rollout finite to the end": 1 - g["diverged"].mean(),
            "right survivors at the end": g["survivors_match"].mean()}
    pos = np.arange(2)
    for j, ((label, v), c) in enumerate(zip(bars.items(), ("tab:blue", "tab:green",
                                                            "tab:orange"), strict=True)):
        ax_c.bar(pos + (j - 1) * 0.27, v.reindex(models).clip(lower=0), 0.27, label=label,
                 color=c)
    ax_c.set_xticks(pos, ["linear", "Lotka-Volterra"])
    ax_c.set_ylim(0, 1.3)
    ax_c.legend(fontsize=7, loc="upper right")
    ax_c.set_title("(c) over runs")
    title = (f"Lotka-Volterra against linear dynamics: fit on steps 0-{example.fit_until}, "
             f"held out {example.fit_until}-{example.heldout_until} and beyond")
    fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=10)
    return fig
