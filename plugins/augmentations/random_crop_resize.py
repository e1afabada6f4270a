"""Random resized crop: keep a random fraction of the window and stretch it back to T samples.

Per sample a fraction ``s`` is drawn uniformly from ``scale`` and a start ``a`` uniformly in
``[0, (1 - s)(T - 1)]``; output sample ``t`` is the linear interpolation of the input at
``a + s * t``, so the crop ``[a, a + s (T - 1)]`` fills the window (time is stretched by 1/s:
the heart rate looks slower by that factor). ``s = 1`` gives back the input exactly. It runs as
two gathers on (B, T) index tensors plus a lerp, batched with per-sample crops (equivalent to
``grid_sample`` with per-sample affine grids, align_corners=True, without the 2-D detour).
``rpeaks`` is mapped through the same transform, ``round((p - a) / s)``; peaks outside the crop
become -1.

Random resized crop was one of the strongest single transforms for contrastive ECG pretraining
in Mehari & Strodthoff 2022, "Self-supervised representation learning from 12-lead ECG data"
(Comput. Biol. Med.; there combined with TimeOut, i.e. time masking).
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl

from ._timebase import compact_rpeaks


class RandomCropResizeConfig(AugmentationConfig):
    scale: list[float] = Field(
        [0.5, 1.0], min_length=2, max_length=2, description="[low, high] fraction of the window"
    )

    @model_validator(mode="after")
    def _range(self) -> RandomCropResizeConfig:
        low, high = self.scale
        if not 0 < low <= high <= 1:
            raise ValueError("scale must be [low, high] with 0 < low <= high <= 1")
        return self


class RandomCropResize(Augmentation):
    def __init__(self, config: RandomCropResizeConfig, context: AugmentationContext) -> None:
        self.config = config

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        b, c, t = x.shape
        low, high = self.config.scale
        u = torch.rand(2, b, 1, device=x.device, generator=generator)  # (2, B, 1)
        s = low + u[0] * (high - low)  # (B, 1) kept fraction
        a = u[1] * (1.0 - s) * (t - 1)  # (B, 1) crop start
        src = a + s * torch.arange(t, device=x.device)  # (B, T) source positions in [0, T-1]
        i0 = src.floor().long().clamp(0, t - 1)  # (B, T)
        i1 = (i0 + 1).clamp(max=t - 1)  # (B, T)
        w = (src - i0).to(x.dtype)[:, None, :]  # (B, 1, T)
        x0 = torch.gather(x, 2, i0[:, None, :].expand(b, c, t))  # (B, C, T)
        x1 = torch.gather(x, 2, i1[:, None, :].expand(b, c, t))  # (B, C, T)
        rpeaks = batch.rpeaks  # (B, K)
        if rpeaks is not None:
            pos = torch.round((rpeaks - a) / s).long()  # (B, K)
            rpeaks = compact_rpeaks(pos, (rpeaks >= 0) & (pos >= 0) & (pos < t))
        return batch.replace(signal=torch.lerp(x0, x1, w), rpeaks=rpeaks)


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="random_crop_resize",
            factory=RandomCropResize,
            config=RandomCropResizeConfig,
            summary="crop a random fraction of the window and stretch it back (linear)",
        )
    ]
