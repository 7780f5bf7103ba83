"""A run's config as a row of the runs table (``runs.parquet``) and back."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from ..config import LATER_FIELDS, RunConfig

LIST_FIELDS = ("hidden", "betas", "embedding_steps", "snapshot_steps")


def config_row(cfg: RunConfig) -> dict[str, Any]:
    """A run's config as flat table columns (lists stay lists; the intervention as JSON)."""
    row = cfg.to_dict()
    row["intervention"] = json.dumps(row["intervention"], sort_keys=True)
    return row


def config_from_row(row: dict[str, Any] | pd.Series) -> RunConfig:
    """Rebuild a RunConfig from a table row."""
    data = {}
    for f in fields(RunConfig):
        if f.name in LATER_FIELDS and f.name not in row:
            continue  # a row written before the field existed: its default
        v = row[f.name]
        if f.name == "intervention":
            v = json.loads(v) if v else {}
        elif f.name in LIST_FIELDS:
            v = tuple(int(x) if f.name != "betas" else float(x) for x in v)
        elif isinstance(v, np.generic):
            v = v.item()
        data[f.name] = v
    return RunConfig(**data)


