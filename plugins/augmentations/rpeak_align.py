"""R-peak alignment: shift each window so that one of its R-peaks lands ``offset_s`` after the
window start.

For every sample one R-peak ``p`` is chosen among the cached peaks (``Batch.rpeaks``) that lie at
or after ``offset = round(offset_s * fs)`` samples: the first such peak (``choose = "first"``) or
a uniformly random one (``choose = "random"``, the default, so two views of a window are aligned
on different beats). The content moves left by ``p - offset`` samples, so the output keeps its
length T and sample ``offset`` holds the R-peak. The ``p - offset`` samples freed at the end are
zeros (``fill = "zeros"``, the default: no invented signal, the model sees a masked tail) or the
window's own beginning (``fill = "wrap"``: a circular shift; the seam joins two unrelated points
of the recording, so the RR interval across it is not a real one). ``rpeaks`` moves with the
signal; peaks that leave the window become -1. Samples with no usable peak (none at or after
``offset``, or none within ``max_shift_s``) are left unchanged.

Without cached peaks (``rpeaks`` is None: a synthetic or hand-made batch) the default
``missing_rpeaks = "detect"`` finds candidate peaks on the spot with a crude batched detector —
local maxima, within ±0.2 s, of the summed |x| over present leads that reach half of the
window's maximum — and aligns on those; the returned ``rpeaks`` stays None (the estimate is not
good enough to hand on as R-peaks). ``missing_rpeaks = "skip"`` returns such batches unchanged.

R-peak alignment is one of the ECG-specific view transforms of the Hybrid Learning foundation
model (MAE + SimCLR, arXiv 2407.07110), next to multi-scale temporal masking.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl

from ._timebase import shift_left, shift_rpeaks_left

_FAR = torch.iinfo(torch.int64).max


class RPeakAlignConfig(AugmentationConfig):
    offset_s: float = Field(0.25, ge=0, description="the chosen R-peak lands this long (s) "
                            "after the window start, at sample round(offset_s * fs)")  # fmt: skip
    choose: Literal["first", "random"] = Field(
        "random", description="which peak at or after offset_s: the first, or a random one"
    )
    fill: Literal["zeros", "wrap"] = Field(
        "zeros", description="what fills the freed tail: zeros, or the window's start (circular)"
    )
    max_shift_s: float | None = Field(
        None, gt=0, description="only peaks needing at most this shift (s); default: any"
    )
    missing_rpeaks: Literal["detect", "skip"] = Field(
        "detect", description="batch without rpeaks: detect peaks crudely, or leave it unchanged"
    )


def detect_peaks(x: torch.Tensor, lead_mask: torch.Tensor, fs: float) -> torch.Tensor:
    """Crude batched R-peak candidates: local maxima (±0.2 s) of the summed |x| over present
    leads reaching half the window's maximum. x: (B, C, T), lead_mask: (B, C) -> (B, T) with
    the position where a candidate is and -1 elsewhere."""
    b, _, t = x.shape
    energy = (x.abs() * lead_mask[:, :, None].to(x.dtype)).sum(dim=1)  # (B, T)
    r = max(1, round(0.2 * fs))
    local = F.max_pool1d(energy[:, None, :], 2 * r + 1, stride=1, padding=r)[:, 0]  # (B, T)
    top = energy.amax(dim=1, keepdim=True)  # (B, 1)
    is_peak = (energy == local) & (energy >= 0.5 * top) & (energy > 0)  # (B, T)
    pos = torch.arange(t, device=x.device).expand(b, t)  # (B, T)
    return torch.where(is_peak, pos, -1)


class RPeakAlign(Augmentation):
    def __init__(self, config: RPeakAlignConfig, context: AugmentationContext) -> None:
        self.config = config
        if round(config.offset_s * context.fs) >= context.n_samples:
            window_s = context.n_samples / context.fs
            raise ValueError(f"offset_s {config.offset_s} is not inside the window ({window_s} s)")

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        cfg = self.config
        x = batch.signal  # (B, C, T)
        t = x.shape[2]
        if batch.rpeaks is not None:
            peaks = batch.rpeaks  # (B, K)
        elif cfg.missing_rpeaks == "detect":
            peaks = detect_peaks(x, batch.lead_mask, batch.fs)  # (B, T)
        else:
            return batch
        peaks = F.pad(peaks, (0, 1), value=-1)  # (B, K + 1): K may be 0
        offset = round(cfg.offset_s * batch.fs)
        usable = (peaks >= offset) & (peaks < t)  # (B, K + 1)
        if cfg.max_shift_s is not None:
            usable &= peaks - offset <= round(cfg.max_shift_s * batch.fs)
        if cfg.choose == "first":
            chosen = torch.where(usable, peaks, _FAR).amin(dim=1)  # (B,)
        else:
            score = torch.rand(peaks.shape, device=x.device, generator=generator)  # (B, K + 1)
            pick = torch.where(usable, score, -1.0).argmax(dim=1, keepdim=True)  # (B, 1)
            chosen = peaks.gather(1, pick)[:, 0]  # (B,)
        shift = torch.where(usable.any(dim=1), chosen - offset, 0)  # (B,)
        wrap = cfg.fill == "wrap"
        return batch.replace(
            signal=shift_left(x, shift, wrap),
            rpeaks=shift_rpeaks_left(batch.rpeaks, shift, t, wrap),
        )


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="rpeak_align",
            factory=RPeakAlign,
            config=RPeakAlignConfig,
            summary="shift each window so an R-peak sits offset_s after its start",
        )
    ]
