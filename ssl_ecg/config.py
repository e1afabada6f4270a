"""Core settings that are not a plugin's: preprocessing in ``[data]`` and ``[train]``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ssl_ecg.specs import Config


class PreprocessConfig(Config):
    """Keys of ``[data]`` read by the core; every other key belongs to the dataset plugin."""

    fs: float = Field(250.0, gt=0, description="resample every record to this rate (Hz)")
    leads: list[str] | None = Field(None, description="lead names to keep, in this order")
    window_s: float = Field(2.5, gt=0, description="window length (s)")
    stride_s: float | None = Field(None, gt=0, description="window hop (s); default window_s")
    normalize: Literal["zscore", "none"] = "zscore"


class TrainConfig(Config):
    """The ``[train]`` table."""

    steps: int = Field(1000, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 turns clipping off")
    seed: int = 0
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'")
