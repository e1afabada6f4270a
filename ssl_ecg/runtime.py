"""What training and evaluation share at run time: the device, the seeds, the data contract."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.recipe import DataRecipe


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SslEcgError(f"train.device = '{name}' but no CUDA device is available; use 'auto'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def data_contract(recipe: DataRecipe, leads: list[str]) -> dict[str, Any]:
    """What an encoder trained on this recipe's data expects of its input."""
    pre = recipe.preprocess
    return {
        "fs": pre.fs,
        "leads": leads,
        "window_s": pre.window_s,
        "n_samples": round(pre.window_s * pre.fs),
        "preprocessing": {**pre.stored(), "leads": leads},  # as the cache records it
        "dataset": "+".join(src.name for src in recipe.sources),
        "datasets": [src.name for src in recipe.sources],
    }
