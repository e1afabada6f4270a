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
(Comput. Biol. Med.; there combined with TimeOut, i.e. time masking: see ``time_out``).

The resize above (``interpolation = "uniform"``, the default) is a plain linear stretch, not
theirs. ``interpolation = "random_knots"`` is their transform, reproduced exactly:

Source: hhi-aml/ecg-selfsupervised, ``clinical_ts/timeseries_transformations.py``, class
``TRandomResizedCrop`` (with ``TRandomCrop`` and ``Tinterpolate``). Per sample::

    r ~ U(low, high)                          # random.uniform(*crop_ratio_range)
    L = int(r * T)                            # crop length, truncated
    a = 0 if L == T else U{0, ..., T - L - 1} # TRandomCrop: random.randint(0, T - L - 1)
    k = sort((randperm(T - 2) + 1)[:L - 2])   # L - 2 distinct inner positions, no duplicates
    k = [0, *k, T - 1]                        # first and last output positions pinned
    out[k[j]] = x[a + j], j = 0..L-1          # crop scattered, in order, onto the knots
    out between knots: linear interpolation   # Tinterpolate (np.interp, per lead)

so the crop is stretched back to T samples by a random, monotone, piecewise-linear re-timing
(locally faster and slower), its first and last samples landing on the first and last output
samples. ``scale`` plays their ``crop_ratio_range`` (their README runs: ``[0.5, 1.0]``, also
this plugin's default). Like their ``randint``, the crop start is uniform over ``T - L``
values, one short of the ``T - L + 1`` valid ones: unless ``L == T`` the crop never contains
the window's last sample (a quirk, reproduced). ``L == T`` gives back the input exactly.
``rpeaks``: a peak at crop sample ``j`` goes to knot ``k[j]`` (where its value lands exactly);
peaks outside the crop become -1.

Deviations: random numbers come from the torch ``generator`` (``r`` and the start as float64
uniforms, the permutation as the argsort of uniforms, which is uniform like ``randperm``)
instead of Python's ``random`` and torch's global RNG; the interpolation is computed in the
signal's dtype (``lerp``) where theirs runs ``np.interp`` in float64 and casts back, so values
between knots agree to float rounding (values at knots are exact); their crop must have
``L >= 2`` samples (``L - 2 < 0`` slices wrongly there), so a window where
``int(scale[0] * T) < 2`` is refused at build time. Batched: per-sample knots as a (B, T) mask,
knot index by cumsum, two gathers and a lerp; O(B C T) plus an O(B T log T) argsort.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from pydantic import Field, model_validator

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl

from ._timebase import compact_rpeaks


class RandomCropResizeConfig(AugmentationConfig):
    scale: list[float] = Field(
        [0.5, 1.0], min_length=2, max_length=2, description="[low, high] fraction of the window"
    )
    interpolation: Literal["uniform", "random_knots"] = Field(
        "uniform",
        description="uniform: linear stretch of the crop; random_knots: Mehari & Strodthoff's "
        "TRandomResizedCrop (crop samples on sorted random positions, linear in between)",
    )

    @model_validator(mode="after")
    def _range(self) -> RandomCropResizeConfig:
        low, high = self.scale
        if not 0 < low <= high <= 1:
            raise ValueError("scale must be [low, high] with 0 < low <= high <= 1")
        return self


@dataclasses.dataclass(frozen=True)
class RandomKnotsDraws:
    """The random numbers of one ``random_knots`` call, per sample (for tests that replay
    them)."""

    ratio: torch.Tensor  # (B,) float64 r ~ U(scale)
    length: torch.Tensor  # (B,) int64 crop length L = int(r * T)
    start: torch.Tensor  # (B,) int64 crop start a in [0, T - L - 1] (0 when L == T)
    perm: torch.Tensor  # (B, T - 2) int64 a random permutation of 0..T-3 per row (randperm)


def draw_random_knots(
    b: int,
    t: int,
    scale: list[float] | tuple[float, float],
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> RandomKnotsDraws:
    """Draws ``TRandomResizedCrop``'s random numbers for ``b`` windows of ``t`` samples, in
    the order :class:`RandomCropResize` (``random_knots``) draws them."""
    low, high = scale
    u = torch.rand(2, b, dtype=torch.float64, device=device, generator=generator)  # (2, B)
    ratio = low + (high - low) * u[0]  # (B,)
    length = (ratio * t).floor().long().clamp(min(2, t), t)  # (B,) int(r * T)
    n = t - length  # (B,) randint(0, T - L - 1) has T - L outcomes; L == T: start 0
    start = torch.minimum((u[1] * n).floor().long(), (n - 1).clamp(min=0))  # (B,)
    keys = torch.rand(b, max(t - 2, 0), device=device, generator=generator)  # (B, T - 2)
    perm = keys.argsort(dim=1, stable=True)  # (B, T - 2)
    return RandomKnotsDraws(ratio, length, start, perm)


def random_knots(
    x: torch.Tensor, rpeaks: torch.Tensor | None, draws: RandomKnotsDraws
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``TRandomResizedCrop`` with the given draws: crop sample ``j`` (input ``a + j``) is put
    at knot ``k[j]``, output samples between knots are linear in between; R-peaks follow.

    x: (B, C, T), rpeaks: (B, K) or None -> (B, C, T), (B, K) or None
    """
    b, c, t = x.shape
    dev = x.device
    length, start = draws.length.to(dev)[:, None], draws.start.to(dev)[:, None]  # (B, 1)
    # knots: position i + 1 is inner knot where perm[j] = i for some j < L - 2
    first = torch.arange(t - 2, device=dev) < length - 2  # (B, T - 2) in permutation order
    inner = torch.zeros(b, t - 2, dtype=torch.bool, device=dev)
    inner = inner.scatter(1, draws.perm.to(dev), first)  # (B, T - 2) by position
    ends = torch.ones(b, 1, dtype=torch.bool, device=dev)
    known = torch.cat([ends, inner, ends], dim=1)[:, :t]  # (B, T) knot positions
    pos = torch.arange(t, device=dev).expand(b, t)  # (B, T)
    j = known.long().cumsum(1) - 1  # (B, T) index of the knot at or before each position
    knot_pos = torch.zeros(b, t + 1, dtype=torch.long, device=dev)  # column T: dump
    knot_pos = knot_pos.scatter(1, torch.where(known, j, t), pos)[:, :t]  # (B, T) k[j], j < L
    j1 = torch.minimum(j + 1, length - 1)  # (B, T) next knot (the last knot: itself)
    p0, p1 = torch.gather(knot_pos, 1, j), torch.gather(knot_pos, 1, j1)  # (B, T)
    gap = (p1 - p0).clamp(min=1).to(x.dtype)  # (B, T)
    w = ((pos - p0).to(x.dtype) / gap)[:, None, :]  # (B, 1, T); 0 at knots
    x0 = torch.gather(x, 2, (start + j)[:, None, :].expand(b, c, t))  # (B, C, T)
    x1 = torch.gather(x, 2, (start + j1)[:, None, :].expand(b, c, t))  # (B, C, T)
    out = torch.lerp(x0, x1, w)  # (B, C, T)
    if rpeaks is None:
        return out, None
    rel = rpeaks - start  # (B, K) crop sample of each peak
    inside = (rpeaks >= 0) & (rel >= 0) & (rel < length)  # (B, K)
    moved = torch.gather(knot_pos, 1, rel.clamp(0, t - 1))  # (B, K)
    return out, compact_rpeaks(moved, inside)


class RandomCropResize(Augmentation):
    def __init__(self, config: RandomCropResizeConfig, context: AugmentationContext) -> None:
        self.config = config
        if config.interpolation == "random_knots" and int(config.scale[0] * context.n_samples) < 2:
            raise ValueError(
                f"random_knots needs crops of at least 2 samples: scale[0] = {config.scale[0]} "
                f"of the window ({context.n_samples} samples) is shorter"
            )

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        if self.config.interpolation == "random_knots":
            b, _, t = x.shape
            draws = draw_random_knots(b, t, self.config.scale, generator, x.device)
            signal, rpeaks = random_knots(x, batch.rpeaks, draws)
            return batch.replace(signal=signal, rpeaks=rpeaks)
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
