"""Random time shift: move each sample's content by up to ``max_shift_s`` seconds.

Per sample a whole number of samples ``d`` is drawn uniformly in [-m, m], m =
round(max_shift_s * fs); ``out[t] = x[t - d]`` (positive d moves the content later). The
samples freed at one end are zeros (``fill = "zeros"``, the default, as ST-MEM's RandomShift
pads) or the content leaving at the other end (``fill = "wrap"``, a circular shift, the seam
joining two unrelated points of the recording). One gather on a (B, T) index tensor. ``rpeaks``
moves with the signal (``p + d``); with zero fill, peaks that leave the window become -1.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl

from ._timebase import shift_left, shift_rpeaks_left


class TimeShiftConfig(AugmentationConfig):
    max_shift_s: float = Field(0.5, gt=0, description="largest shift either way (s)")
    fill: Literal["zeros", "wrap"] = Field(
        "zeros", description="what fills the freed samples: zeros, or the wrapped-around content"
    )


class TimeShift(Augmentation):
    def __init__(self, config: TimeShiftConfig, context: AugmentationContext) -> None:
        self.config = config
        if round(config.max_shift_s * context.fs) >= context.n_samples:
            window_s = context.n_samples / context.fs
            raise ValueError(
                f"max_shift_s {config.max_shift_s} is not shorter than the window ({window_s} s)"
            )

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        b, _, t = x.shape
        m = min(round(self.config.max_shift_s * batch.fs), t - 1)
        u = torch.rand(1, b, device=x.device, generator=generator)  # (1, B)
        d = (u[0] * (2 * m + 1)).long().clamp(max=2 * m) - m  # (B,) in [-m, m]
        wrap = self.config.fill == "wrap"
        return batch.replace(
            signal=shift_left(x, -d, wrap), rpeaks=shift_rpeaks_left(batch.rpeaks, -d, t, wrap)
        )


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="time_shift",
            factory=TimeShift,
            config=TimeShiftConfig,
            summary="shift each sample in time by up to max_shift_s (zero-filled or circular)",
        )
    ]
