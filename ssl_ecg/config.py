"""Core settings that are not a plugin's: preprocessing in ``[data]`` and ``[train]``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ssl_ecg.specs import Config

STANDARD_12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


MAX_WINDOW_SAMPLES = 1_000_000  # ~1 h at 250 Hz: beyond it a typo, not a window


class PreprocessConfig(Config):
    """Keys of ``[data]`` read by the core; every other key belongs to the dataset plugin.

    Settings that change the stored signal are part of the cache's content hash; windowing and
    split settings are applied when the cache is read, so changing them rebuilds nothing.
    """

    # -- stored (hashed) --
    fs: float = Field(250.0, gt=0, description="resample every record to this rate (Hz)")
    leads: list[str] | Literal["standard12"] | None = Field(
        None, description="lead names to keep, in this order; 'standard12'; default: the dataset's"
    )
    lead_map: dict[str, str] = Field(
        default_factory=dict,
        description="rename record leads before selecting them, e.g. { ECG1 = 'MLII' }",
    )
    missing_leads: Literal["mask", "error"] = Field(
        "mask", description="a requested lead a record lacks: zeros + mask, or an error"
    )
    highpass_hz: float = Field(0.5, ge=0, description="band-pass low edge (Hz), 0 = off")
    lowpass_hz: float = Field(40.0, ge=0, description="band-pass high edge (Hz), 0 = off")
    normalize: Literal["zscore", "none"] = Field("zscore", description="per record and lead")
    rpeak_method: str = Field("neurokit", description="neurokit2 ecg_peaks method")
    cache_dtype: Literal["float32", "float16"] = "float32"
    # -- applied at read time --
    window_s: float = Field(2.5, gt=0, description="window length (s)")
    stride_s: float | None = Field(None, gt=0, description="window hop (s); default window_s")
    split: str | None = Field(None, description="train on this split only (e.g. 'DS1', 'train')")
    split_fractions: list[float] = Field(
        [0.8, 0.1, 0.1], description="train/val/test patient fractions when the dataset has none"
    )
    split_seed: int = 0
    cache_dir: str | None = Field(None, description="cache folder (default $SSL_ECG_CACHE)")
    # -- labels of the records (the file's identity is part of the cache hash) --
    labels_file: str | None = Field(
        None,
        description="CSV/TSV of record labels: first column the record id, then label columns "
        "(header row optional); relative to the recipe's folder",
    )
    skip_unlabelled: bool = Field(
        False, description="leave out records without a row in labels_file instead of an error"
    )

    @model_validator(mode="after")
    def _check(self) -> PreprocessConfig:
        if self.lowpass_hz and self.lowpass_hz >= self.fs / 2:
            raise ValueError(
                f"lowpass_hz = {self.lowpass_hz} must be below half of fs = {self.fs} "
                "(the Nyquist frequency); lower it or raise fs"
            )
        if self.lowpass_hz and self.highpass_hz >= self.lowpass_hz:
            raise ValueError("highpass_hz must be below lowpass_hz")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-6:
            raise ValueError("split_fractions must be 3 numbers (train, val, test) summing to 1")
        if self.window_s * self.fs > MAX_WINDOW_SAMPLES:
            raise ValueError(
                f"window_s x fs = {self.window_s:g} s x {self.fs:g} Hz = "
                f"{self.window_s * self.fs:.3g} samples per window, more than a model can take "
                f"({MAX_WINDOW_SAMPLES:,}); ECG windows are seconds long, e.g. window_s = 10"
            )
        return self

    def lead_names(self, available: list[str]) -> list[str]:
        """The leads to keep, given the dataset's."""
        if self.leads == "standard12":
            return list(STANDARD_12)
        if self.leads is not None:
            return list(self.leads)
        return [self.lead_map.get(n, n) for n in available]  # as lead_map renames them

    def stored(self) -> dict[str, object]:
        """The settings that change what is stored (the cache hash covers exactly these)."""
        keys = (
            "fs",
            "leads",
            "lead_map",
            "missing_leads",
            "highpass_hz",
            "lowpass_hz",
            "normalize",
        )
        return {k: getattr(self, k) for k in (*keys, "rpeak_method", "cache_dtype")}


class _Devices:
    pattern = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class SourceConfig(Config):
    """Keys of one ``[[data.sources]]`` table read by the core; the others are its dataset's."""

    weight: float = Field(
        1.0, gt=0, allow_inf_nan=False,
        description="share of the training windows drawn from this source (relative to the "
        "other sources' weights, whatever their sizes)",
    )  # fmt: skip
    split: str | None = Field(None, description="use this split of the source only, e.g. 'DS1'")
    lead_map: dict[str, str] = Field(
        default_factory=dict, description="rename this source's leads, e.g. { ECG1 = 'MLII' }"
    )


class TrainConfig(Config):
    """The ``[train]`` table. An objective may declare its paper's values for some of these keys
    (``Spec.train_defaults``); the recipe's own keys override them one by one, and a recipe that
    sets ``optimizer``, ``lr`` or ``base_lr`` replaces them all (its own optimizer)."""

    steps: int = Field(1000, ge=1)
    batch_size: int = Field(64, ge=2)
    optimizer: Literal["adamw", "adam", "lars", "sgd"] = Field(
        "adamw", description="timm optimizer; weight decay skips biases and norm weights"
    )
    lr: float = Field(1e-3, gt=0, description="peak learning rate (unless base_lr is set)")
    base_lr: float | None = Field(
        None, gt=0, description="peak learning rate per 256 samples: lr = base_lr x "
        "batch_size / 256 (the linear scaling rule of MAE, SimCLR); replaces lr when set",
    )  # fmt: skip
    betas: list[float] = Field(
        [0.9, 0.999], min_length=2, max_length=2, description="Adam(W) betas"
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD / LARS momentum")
    weight_decay: float = Field(0.05, ge=0)
    schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="after warmup: cosine decay to lr x lr_floor, or constant"
    )
    lr_floor: float = Field(
        0.01, ge=0, le=1, description="cosine ends (and warmup starts) at lr x lr_floor"
    )
    warmup_steps: int = Field(0, ge=0)
    warmup_fraction: float | None = Field(
        None, ge=0, lt=1, description="warmup as a share of steps; replaces warmup_steps when set"
    )
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 turns clipping off")
    seed: int = 0
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _Devices.pattern.match(value):
            raise ValueError(f"'{value}' is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
        return value

    @field_validator("betas")
    @classmethod
    def _betas(cls, value: list[float]) -> list[float]:
        if not all(0 <= b < 1 for b in value):
            raise ValueError(f"betas = {value}: each must be in [0, 1), e.g. [0.9, 0.95]")
        return value

    save_steps: list[int] = Field(
        default_factory=list,
        description="also keep the weights at these steps (0 = the random init), as "
        "checkpoints/step_NNNNNNN.pt: for learning curves",
    )

    def peak_lr(self) -> float:
        """The learning rate after warmup: ``base_lr x batch_size / 256`` or ``lr``."""
        return self.base_lr * self.batch_size / 256 if self.base_lr is not None else self.lr

    def warmup(self) -> int:
        """Warmup length in optimizer steps."""
        if self.warmup_fraction is not None:
            return round(self.warmup_fraction * self.steps)
        return self.warmup_steps


# Keys of [train] that say the same thing two ways: a recipe that sets one drops the other
# from an objective's defaults; setting both in one recipe is an error.
TRAIN_ALTERNATIVES = (("lr", "base_lr"), ("warmup_steps", "warmup_fraction"))
