"""Multi-scale temporal masking: zero out spans of several lengths (seconds), all leads at once.

For each span length in ``spans_s`` every sample gets ``n_per_scale`` spans at random starts.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl


class MultiscaleTimeMaskConfig(AugmentationConfig):
    spans_s: list[float] = Field([0.1, 0.4, 1.0], min_length=1, description="span lengths (s)")
    n_per_scale: int = Field(1, ge=1)


class MultiscaleTimeMask(Augmentation):
    def __init__(self, config: MultiscaleTimeMaskConfig, context: AugmentationContext) -> None:
        self.config = config
        self.lengths = [max(1, round(s * context.fs)) for s in config.spans_s]
        too_long = [
            s for s, n in zip(config.spans_s, self.lengths, strict=True) if n >= context.n_samples
        ]
        if too_long:
            window_s = context.n_samples / context.fs
            raise ValueError(f"spans_s {too_long} are not shorter than the window ({window_s} s)")

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        b, _, t = x.shape
        pos = torch.arange(t, device=x.device)  # (T,)
        keep = torch.ones(b, t, dtype=torch.bool, device=x.device)
        for length in self.lengths:
            starts = torch.rand(b, self.config.n_per_scale, device=x.device, generator=generator)
            starts = (starts * (t - length + 1)).long()  # (B, K)
            inside = (pos >= starts[..., None]) & (pos < starts[..., None] + length)  # (B, K, T)
            keep &= ~inside.any(dim=1)
        return batch.replace(signal=x * keep[:, None, :].to(x.dtype))


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="multiscale_time_mask",
            factory=MultiscaleTimeMask,
            config=MultiscaleTimeMaskConfig,
            summary="zero random time spans of several lengths (all leads)",
        )
    ]
