"""Analyses of recorded runs: initial gradients, circle collaboration, linear ODE fits."""

from .collaboration import (
    CollaborationResult,
    LossGrid,
    collaboration_losses,
    collaboration_variants,
    full_loss,
    keep_masks,
    restricted_losses,
    stack_snapshots,
)
from .gradient import (
    SVMResult,
    TTestResult,
    gradient_ttest,
    initial_gradients,
    survival_rate_by_gradient,
    svm_separation,
)
from .ode import (
    NonIdentifiableWarning,
    ODEAnalysis,
    ODEFit,
    analyse_ode,
    analytic_solution,
    fit_linear_ode,
    fit_trajectory,
    ode_window,
    rollout,
    rollout_errors,
)

__all__ = [
    "CollaborationResult",
    "LossGrid",
    "NonIdentifiableWarning",
    "ODEAnalysis",
    "ODEFit",
    "SVMResult",
    "TTestResult",
    "analyse_ode",
    "analytic_solution",
    "collaboration_losses",
    "collaboration_variants",
    "fit_linear_ode",
    "fit_trajectory",
    "full_loss",
    "gradient_ttest",
    "initial_gradients",
    "keep_masks",
    "ode_window",
    "restricted_losses",
    "rollout",
    "rollout_errors",
    "stack_snapshots",
    "survival_rate_by_gradient",
    "svm_separation",
]
