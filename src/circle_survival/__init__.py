"""circle-survival: train many modular-addition networks at once and study which Fourier
circles of their embeddings survive (arXiv 2405.17420).

Public API:
    RunConfig            the configuration of one run (paper defaults)
    train(configs)       train a batch in memory; returns (records, summary)
    train_to_store(...)  train runs into a store (a one-spec sweep), skipping complete ones
    SweepSpec, run_sweep a grid of runs and the one way to train it into a store
    load(path)           open a store: ``.runs`` DataFrame, arrays by run id;
                         ``.model(run_id, step)`` the run's nn.Module;
                         ``.signals_frame()`` / ``.metrics_frame()`` long DataFrames
    ModularAdditionMLP   the paper's model as an nn.Module
    plot                 figures from a store and a run id (``cs.plot.signal_evolution``)
"""

from . import plot
from ._version import __version__
from .config import RunConfig
from .errors import CircleSurvivalError, ConfigError, StoreError
from .model import ModularAdditionMLP
from .store import Store, load
from .sweep import SweepSpec, run_sweep, train_to_store
from .training.functional import train
from .training.trainer import Trainer

__all__ = [
    "CircleSurvivalError",
    "ConfigError",
    "ModularAdditionMLP",
    "RunConfig",
    "Store",
    "StoreError",
    "SweepSpec",
    "Trainer",
    "__version__",
    "load",
    "plot",
    "run_sweep",
    "train",
    "train_to_store",
]
