"""Random amplitude scaling, one factor per sample and lead, log-uniform in [low, high]."""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl


class AmplitudeScaleConfig(AugmentationConfig):
    low: float = Field(0.8, gt=0)
    high: float = Field(1.25, gt=0)
    per_lead: bool = True

    @model_validator(mode="after")
    def _order(self) -> AmplitudeScaleConfig:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


class AmplitudeScale(Augmentation):
    def __init__(self, config: AmplitudeScaleConfig, context: AugmentationContext) -> None:
        self.config = config

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        c = x.shape[1] if self.config.per_lead else 1
        lo, hi = math.log(self.config.low), math.log(self.config.high)
        u = torch.rand(x.shape[0], c, 1, device=x.device, generator=generator)
        return batch.replace(signal=x * torch.exp(lo + u * (hi - lo)).to(x.dtype))


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="amplitude_scale",
            factory=AmplitudeScale,
            config=AmplitudeScaleConfig,
            summary="per-sample (and per-lead) log-uniform amplitude scaling",
        )
    ]
