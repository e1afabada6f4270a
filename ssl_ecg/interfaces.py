"""What each kind of component is handed and what it must provide.

Every factory is called as ``factory(config, context)``; contexts are records the core may
extend with new fields without breaking existing plugins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn


# ------------------------------------------------------------------ data
@dataclasses.dataclass
class Record:
    """One ECG recording as a dataset plugin yields it."""

    signal: np.ndarray  # (C, T) float32, millivolts, at ``fs``
    fs: float
    leads: list[str]  # C names, in the order of ``signal``'s rows
    record_id: str  # unique within the dataset
    patient_id: str  # records of one person share it (patient-wise splits)
    labels: dict[str, Any] = dataclasses.field(default_factory=dict)  # JSON-able (dx, age, sex..)
    beats: np.ndarray | None = None  # (K,) int64 annotated beat positions, samples at ``fs``
    beat_labels: np.ndarray | None = None  # (K,) str class of each beat (e.g. AAMI N/S/V/F/Q)
    source: str = ""  # file it came from, for error messages


class RecordSource:
    """What a dataset factory returns: a list of record keys and a way to load each one.

    Sources are pickled to worker processes, so keep them plain (paths and settings). ``load``
    raises :class:`ssl_ecg.errors.DataError` naming the file and the problem on bad input.
    """

    leads: list[str]  # lead names its records may carry (known without reading them)

    def keys(self) -> list[str]:
        """Keys of every record, cheap to compute (no signal reads)."""
        raise NotImplementedError

    def load(self, key: str) -> Record:
        """Read one record."""
        raise NotImplementedError

    def identity(self) -> str:
        """Fingerprint of the source files (paths, sizes, mtimes) for the cache hash."""
        return ""

    def splits(self) -> dict[str, list[str]]:
        """Dataset-defined splits, name -> record ids (e.g. MIT-BIH DS1/DS2); {} if none."""
        return {}

    def records(self) -> Iterator[Record]:
        for key in self.keys():
            yield self.load(key)


@dataclasses.dataclass(frozen=True)
class DatasetContext:
    recipe_dir: Path  # relative ``root`` paths resolve against the recipe's folder
    seed: int


@dataclasses.dataclass
class Batch:
    """A training batch on the device. Augmentations return a new Batch."""

    signal: torch.Tensor  # (B, C, T) float32
    fs: float
    lead_mask: torch.Tensor  # (B, C) bool, False where a lead is absent

    def replace(self, **changes: Any) -> Batch:
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------ models
@dataclasses.dataclass(frozen=True)
class EncoderContext:
    in_channels: int
    n_samples: int  # window length in samples
    fs: float


class Encoder(nn.Module):
    """Base for encoders: ``forward(x: (B, C, T)) -> (B, D)``.

    Encoders with a token sequence also implement ``tokens(x) -> (B, N, D)`` where token ``i``
    covers samples ``[i * token_stride, (i + 1) * token_stride)``.
    """

    embed_dim: int
    token_stride: int | None = None

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no token sequence")


@dataclasses.dataclass(frozen=True)
class AugmentationContext:
    fs: float
    n_samples: int


class Augmentation(Protocol):
    def __call__(self, batch: Batch, generator: torch.Generator) -> Batch: ...


@dataclasses.dataclass(frozen=True)
class ObjectiveContext:
    encoder: Encoder
    in_channels: int
    n_samples: int
    fs: float
    key: str  # dotted recipe key of this objective, for error messages
    # build(name, settings, key) -> Objective: builds another objective through the registry
    build: Callable[[str, dict[str, Any], str], Objective]


class Objective(nn.Module):
    """Base for objectives: ``forward(views) -> {"loss": scalar, part: scalar, ...}``.

    ``views`` holds ``n_views`` independently augmented copies of the batch signal (B, C, T).
    """

    n_views: int = 1

    def forward(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError
