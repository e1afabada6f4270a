"""Time out: zero every lead over one random contiguous span (Mehari & Strodthoff 2022).

Source: hhi-aml/ecg-selfsupervised, ``clinical_ts/timeseries_transformations.py``, class
``TTimeOut`` (the torch twin of ``TimeOut``), used with ``RandomResizedCrop`` for their SimCLR,
BYOL and SwAV runs (``--trafos RandomResizedCrop TimeOut``).

Per sample, with T the window length::

    r ~ U(low, high)                    # random.uniform(*crop_ratio_range)
    L = int(r * T)                      # span length, truncated
    a ~ U{0, ..., T - L - 1}            # random.randint(0, T - L - 1), both ends included
    x[:, a : a + L] = 0                 # every lead

The range defaults to ``[0.2, 0.4]``, the ``--to_crop_ratio_range`` argparse default of their
pretraining scripts that the README runs use (the class's own default, ``[0.0, 0.5]``, is
overridden there). The start is uniform over ``T - L`` values, not the ``T - L + 1`` valid ones:
their ``randint`` upper bound is one short, so the span never covers the window's last sample.
That quirk is reproduced.

Deviations, all of bookkeeping, none of the formula: the random numbers come from the torch
``generator`` (``r`` and the start as float64 uniforms, like Python's ``random``) instead of
the global Python RNG; one span per sample, batched; ``rpeaks`` and ``lead_mask`` are kept
unchanged (their transform has neither: the peaks stay where they are, under the zeros or not).
"""

from __future__ import annotations

import dataclasses

import torch
from pydantic import Field, model_validator

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl


class TimeOutConfig(AugmentationConfig):
    crop_ratio_range: list[float] = Field(
        [0.2, 0.4],
        min_length=2,
        max_length=2,
        description="[low, high] fraction of the window zeroed (span = int(r * T), r ~ U)",
    )

    @model_validator(mode="after")
    def _range(self) -> TimeOutConfig:
        low, high = self.crop_ratio_range
        if not 0 <= low <= high < 1:
            raise ValueError("crop_ratio_range must be [low, high] with 0 <= low <= high < 1")
        return self


@dataclasses.dataclass(frozen=True)
class TimeOutDraws:
    """The random numbers of one call, per sample (for tests that replay them)."""

    ratio: torch.Tensor  # (B,) float64 r ~ U(low, high)
    length: torch.Tensor  # (B,) int64 span length L = int(r * T)
    start: torch.Tensor  # (B,) int64 span start a in [0, T - L - 1]


def draw_time_out(
    b: int,
    t: int,
    crop_ratio_range: list[float] | tuple[float, float],
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> TimeOutDraws:
    """Draws ``TTimeOut``'s random numbers for ``b`` windows of ``t`` samples: everything
    :func:`time_out` needs, in the order :class:`TimeOut` draws them."""
    low, high = crop_ratio_range
    u = torch.rand(2, b, dtype=torch.float64, device=device, generator=generator)  # (2, B)
    ratio = low + (high - low) * u[0]  # (B,)
    length = (ratio * t).floor().long().clamp(0, t - 1)  # (B,) int(r * T); r < 1
    n = t - length  # (B,) randint(0, T - L - 1) has T - L outcomes
    start = torch.minimum((u[1] * n).floor().long(), n - 1)  # (B,)
    return TimeOutDraws(ratio, length, start)


def time_out(x: torch.Tensor, draws: TimeOutDraws) -> torch.Tensor:
    """Zeros ``x[b, :, start[b] : start[b] + length[b]]``, a new tensor.

    x: (B, C, T) -> (B, C, T)
    """
    t = x.shape[-1]
    pos = torch.arange(t, device=x.device)  # (T,)
    a = draws.start.to(x.device)[:, None]  # (B, 1)
    inside = (pos >= a) & (pos < a + draws.length.to(x.device)[:, None])  # (B, T)
    return x.masked_fill(inside[:, None, :], 0.0)


class TimeOut(Augmentation):
    def __init__(self, config: TimeOutConfig, context: AugmentationContext) -> None:
        self.config = config

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        b, _, t = x.shape
        draws = draw_time_out(b, t, self.config.crop_ratio_range, generator, x.device)
        return batch.replace(signal=time_out(x, draws))


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="time_out",
            factory=TimeOut,
            config=TimeOutConfig,
            summary="zero all leads over one random span of int(r T) samples (Mehari's TimeOut)",
        )
    ]
