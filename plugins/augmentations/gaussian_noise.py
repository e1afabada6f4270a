"""Additive Gaussian noise, per sample: x + N(0, sigma^2), sigma drawn in [0, std]."""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl


class GaussianNoiseConfig(AugmentationConfig):
    std: float = Field(
        0.05, ge=0, description="largest noise std (signal units; zscored by default)"
    )


class GaussianNoise(Augmentation):
    def __init__(self, config: GaussianNoiseConfig, context: AugmentationContext) -> None:
        self.config = config

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        b = x.shape[0]
        u = torch.rand(b, 1, 1, device=x.device, generator=generator)
        noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
        return batch.replace(signal=x + noise * (u * self.config.std))


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="gaussian_noise",
            factory=GaussianNoise,
            config=GaussianNoiseConfig,
            summary="additive Gaussian noise with a per-sample random level",
        )
    ]
