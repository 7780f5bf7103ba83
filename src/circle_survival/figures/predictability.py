"""Figure of how predictable survival is at initialisation (``analysis.predictability``).

Data in, a :class:`matplotlib.figure.Figure` on an Agg canvas out; no pyplot state is touched.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..analysis.predictability import MODELS, Predictability

LABELS = {"logistic": "logistic regression", "boosting": "gradient boosting"}


def predictability(res: Predictability, note: str = "") -> Figure:
    """Three panels: (a) out-of-fold ROC curves of both classifiers, (b) their calibration
    curves, (c) the AUC of every scored predictor with its 95% bootstrap interval over runs."""
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_a, ax_b, ax_c = fig.subplots(1, 3, width_ratios=[1, 1, 1.3])
    y = res.table["survived"].to_numpy(bool)
    scores = res.scores.set_index("name")
    for model, c in zip(MODELS, ("tab:blue", "tab:orange"), strict=True):
        fpr, tpr, _ = roc_curve(y, res.table[f"prob_{model}"])
        auc = scores.loc[f"{model} (all features)", "auc"]
        ax_a.plot(fpr, tpr, color=c, label=f"{LABELS[model]} (AUC {auc:.3f})")
        cal = res.calibration[res.calibration["model"] == model]
        ax_b.plot(cal["mean_predicted"], cal["fraction_survived"], "o-", color=c,
                  label=LABELS[model])
    for ax in (ax_a, ax_b):
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8, loc="lower right")
    ax_a.set_xlabel("false positive rate")
    ax_a.set_ylabel("true positive rate")
    ax_a.set_title("(a) ROC, out of fold (GroupKFold by run)")
    ax_b.set_xlabel("predicted survival probability")
    ax_b.set_ylabel("fraction survived")
    ax_b.set_title("(b) calibration (quantile bins)")
    s = res.scores.iloc[::-1]
    pos = np.arange(len(s))
    ax_c.errorbar(s["auc"], pos, xerr=[s["auc"] - s["auc_low"], s["auc_high"] - s["auc"]],
                  fmt="o", color="tab:blue", capsize=3)
    ax_c.set_yticks(pos, s["name"])
    ax_c.axvline(0.5, color="0.5", lw=0.8)
    ax_c.set_xlim(min(0.4, float(np.nanmin(s["auc_low"])) - 0.02), 1.0)
    ax_c.set_xlabel("ROC AUC (95% bootstrap interval over runs)")
    ax_c.set_title("(c) each predictor; features alone by logistic regression")
    fig.suptitle(f"Survival predicted at initialisation: {len(y)} frequencies of {res.n_runs} "
                 f"runs, {res.prevalence:.1%} survive" + (f"\n{note}" if note else ""),
                 fontsize=10)
    return fig
