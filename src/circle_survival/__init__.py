"""circle-survival: train many modular-addition networks at once and study which Fourier
circles of their embeddings survive (arXiv 2405.17420).

Public API:
    RunConfig            the configuration of one run (paper defaults)
    train(configs)       train a batch in memory; returns (records, summary)
    train_to_store(...)  train runs into a store, skipping those already complete
    load(path)           open a store: ``.runs`` DataFrame, arrays by run id
"""

__version__ = "0.1.0"

from .config import RunConfig  # noqa: E402
from .errors import CircleSurvivalError, ConfigError, StoreError  # noqa: E402
from .runner import train_to_store  # noqa: E402
from .store import Store, load  # noqa: E402
from .trainer import Trainer, train  # noqa: E402

__all__ = [
    "CircleSurvivalError",
    "ConfigError",
    "RunConfig",
    "Store",
    "StoreError",
    "Trainer",
    "load",
    "train",
    "train_to_store",
]
