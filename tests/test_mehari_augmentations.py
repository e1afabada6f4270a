"""Mehari & Strodthoff 2022's SimCLR/BYOL augmentations (hhi-aml/ecg-selfsupervised,
``clinical_ts/timeseries_transformations.py``): ``TTimeOut`` as ``time_out`` and
``TRandomResizedCrop`` as ``random_crop_resize`` with ``interpolation = "random_knots"``.

Each is checked against a per-sample numpy transcription of their code, fed the same random
draws, then for what it promises on its own; ``uniform`` (the default) must be unchanged.
The plugins are taken from their modules, so the tests pass with or without entry points.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from ssl_ecg_plugins.augmentations import random_crop_resize as rcr
from ssl_ecg_plugins.augmentations import time_out as tout
from ssl_ecg_plugins.augmentations._timebase import compact_rpeaks

from ssl_ecg.interfaces import AugmentationContext, Batch
from ssl_ecg.specs import Spec
from ssl_ecg.testing import check_augmentation

FS = 250.0
T = 250  # their windows: 2.5 s at 100 Hz
TIME_OUT: Spec = tout.register_augmentations()[0]
CROP: Spec = rcr.register_augmentations()[0]


def build(spec: Spec, t: int = T, **settings):
    return spec.factory(spec.config(**settings), AugmentationContext(FS, t))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def noise(b: int, c: int = 3, t: int = T, seed: int = 0) -> Batch:
    x = torch.randn(b, c, t, generator=gen(seed))
    return Batch(x, FS, torch.ones(b, c, dtype=torch.bool))


def spikes(peaks: list[list[int]], c: int = 2, t: int = T) -> Batch:
    """Unit spikes (lead i: height i + 1) at the given R-peaks, one row per sample."""
    k = max(len(p) for p in peaks)
    rp = torch.tensor([p + [-1] * (k - len(p)) for p in peaks], dtype=torch.int64)  # (B, K)
    x = torch.zeros(len(peaks), c, t)
    for b, row in enumerate(peaks):
        x[b, :, row] = torch.arange(1, c + 1, dtype=torch.float32)[:, None]
    return Batch(x, FS, torch.ones(len(peaks), c, dtype=torch.bool), rp)


def valid(rpeaks: torch.Tensor, b: int) -> list[int]:
    return [int(p) for p in rpeaks[b] if p >= 0]


# ------------------------------------------------------------------ their code, transcribed
class Replay:
    """Stands in for Python's ``random`` and torch's ``randperm`` in the transcriptions below:
    hands back one sample's draws, checking each lies where theirs could."""

    def __init__(self, ratio: float, start: int, perm: np.ndarray | None = None) -> None:
        self.ratio, self.start, self.perm = ratio, start, perm

    def uniform(self, a: float, b: float) -> float:
        assert a <= self.ratio <= b
        return self.ratio

    def randint(self, a: int, b: int) -> int:  # both ends included, as random.randint
        assert a <= self.start <= b, (a, self.start, b)
        return self.start

    def randperm(self, n: int) -> np.ndarray:
        assert self.perm is not None and sorted(self.perm.tolist()) == list(range(n))
        return self.perm


def mehari_time_out(data: np.ndarray, rnd: Replay, crop_ratio_range: list[float]) -> np.ndarray:
    """``TTimeOut.__call__`` on one (T, C) sample."""
    data = data.copy()
    timesteps, _channels = data.shape
    crop_ratio = rnd.uniform(*crop_ratio_range)
    crop_timesteps = int(crop_ratio * timesteps)
    start_idx = rnd.randint(0, timesteps - crop_timesteps - 1)
    data[start_idx : start_idx + crop_timesteps, :] = 0
    return data


def mehari_random_crop(data: np.ndarray, output_size: int, rnd: Replay) -> np.ndarray:
    """``TRandomCrop.__call__``: a (output_size, C) crop of a (T, C) sample."""
    timesteps, _ = data.shape
    assert timesteps >= output_size
    if timesteps == output_size:  # noqa: SIM108 (kept as theirs)
        start = 0
    else:
        start = rnd.randint(0, timesteps - output_size - 1)
    return data[start : start + output_size, :]


def mehari_tinterpolate(data: np.ndarray, marker: float) -> np.ndarray:
    """``Tinterpolate``: fill ``marker`` entries linearly, over the lead-major flattening."""
    timesteps, channels = data.shape
    flat = data.T.flatten()
    missing = flat == marker
    filled = np.interp(np.where(missing)[0], np.where(~missing)[0], flat[~missing])  # float64
    flat[missing] = filled.astype(flat.dtype)  # cast back, as their .type(data.type())
    return flat.reshape(channels, timesteps).T


def mehari_random_resized_crop(
    sample: np.ndarray, rnd: Replay, crop_ratio_range: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """``TRandomResizedCrop.__call__`` on one (T, C) sample; also returns the knots."""
    output = np.full(sample.shape, np.inf, dtype=sample.dtype)
    timesteps, _channels = output.shape
    crop_ratio = rnd.uniform(*crop_ratio_range)
    data = mehari_random_crop(sample, int(crop_ratio * timesteps), rnd)
    cropped_timesteps = data.shape[0]
    indices = np.sort((rnd.randperm(timesteps - 2) + 1)[: cropped_timesteps - 2])
    indices = np.concatenate([np.array([0]), indices, np.array([timesteps - 1])])
    output[indices, :] = data
    return mehari_tinterpolate(output, np.inf), indices


# ------------------------------------------------------------------ (a) same draws, same output
@pytest.mark.parametrize("crop_ratio_range", [[0.2, 0.4], [0.0, 0.5], [0.0, 0.0], [0.9, 0.95]])
def test_time_out_equals_their_code_on_the_same_draws(crop_ratio_range: list[float]) -> None:
    batch = noise(64)
    aug = build(TIME_OUT, crop_ratio_range=crop_ratio_range)
    for seed in (0, 1, 2):
        draws = tout.draw_time_out(64, T, crop_ratio_range, gen(seed))
        out = aug(batch, gen(seed))
        for b in range(64):
            rnd = Replay(float(draws.ratio[b]), int(draws.start[b]))
            want = mehari_time_out(batch.signal[b].T.numpy(), rnd, crop_ratio_range)
            assert np.array_equal(out.signal[b].T.numpy(), want), (seed, b)


@pytest.mark.parametrize(("t", "scale"), [(T, [0.5, 1.0]), (T, [0.05, 0.3]), (625, [0.5, 1.0])])
def test_random_knots_equals_their_code_on_the_same_draws(t: int, scale: list[float]) -> None:
    b_n = 32
    peaks = [list(range(3 + b, t, 37)) for b in range(b_n)]  # (B, K) ragged, spikes not needed
    k = max(map(len, peaks))
    rpeaks = torch.tensor([p + [-1] * (k - len(p)) for p in peaks])  # (B, K)
    batch = noise(b_n, t=t).replace(rpeaks=rpeaks)
    aug = build(CROP, t=t, scale=scale, interpolation="random_knots")
    for seed in (0, 1):
        draws = rcr.draw_random_knots(b_n, t, scale, gen(seed))
        out = aug(batch, gen(seed))
        for b in range(b_n):
            rnd = Replay(float(draws.ratio[b]), int(draws.start[b]), draws.perm[b].numpy())
            x = batch.signal[b].T.numpy()  # (T, C) as theirs
            want, knots = mehari_random_resized_crop(x, rnd, scale)
            got = out.signal[b].T.numpy()
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            a, n = int(draws.start[b]), int(draws.length[b])
            assert len(knots) == n and np.array_equal(got[knots], x[a : a + n]), "knots exact"
            if n == t:
                assert a == 0  # TRandomCrop does not call randint then
            # a peak at crop sample j goes to knot j
            assert valid(out.rpeaks, b) == [int(knots[p - a]) for p in peaks[b] if a <= p < a + n]


# ------------------------------------------------------------------ (b) time_out
def test_time_out_zeroes_one_span_of_every_lead_in_the_range() -> None:
    b_n, low, high = 512, 0.2, 0.4
    batch = spikes([[30, 120, 200]] * b_n, c=4)
    x = batch.signal.abs() + 1 + torch.rand(b_n, 4, T, generator=gen(1))  # no zeros
    batch = batch.replace(signal=x)
    out = build(TIME_OUT)(batch, gen(3))  # crop_ratio_range = [0.2, 0.4] by default
    zero = out.signal == 0  # (B, C, T)
    assert torch.equal(zero.all(1), zero.any(1)), "all leads zeroed together"
    assert torch.equal(out.signal[~zero], x[~zero]), "the rest untouched"
    assert torch.equal(out.rpeaks, batch.rpeaks) and torch.equal(out.lead_mask, batch.lead_mask)
    lengths = []
    for b in range(b_n):
        idx = torch.nonzero(zero[b, 0]).flatten()
        assert len(idx) == int(idx.max() - idx.min()) + 1, "one contiguous span"
        lengths.append(len(idx))
    assert min(lengths) >= int(low * T) and max(lengths) <= int(high * T)
    assert len(set(lengths)) > 40, "the length varies over the range"
    assert not zero[:, :, -1].any(), "their start excludes T - L: the last sample never zeroed"


def test_time_out_start_is_uniform_over_their_randint_range() -> None:
    t, b_n = 10, 7000
    draws = tout.draw_time_out(b_n, t, [0.3, 0.3], gen(5))  # L = int(0.3 * 10) = 3
    assert (draws.length == 3).all()
    counts = Counter(draws.start.tolist())
    assert set(counts) == set(range(t - 3)), "randint(0, T - L - 1): 0..6, never 7"
    assert all(850 < n < 1150 for n in counts.values()), counts  # 1000 each, sd ~ 30
    out = build(TIME_OUT, t=t, crop_ratio_range=[0.3, 0.3])(noise(b_n, t=t), gen(5))
    starts = (out.signal[:, 0] == 0).float().argmax(1)  # (B,) first zero
    assert torch.equal(starts, draws.start)


# ------------------------------------------------------------------ (c) random_knots
def test_random_knots_is_a_monotone_retiming_from_first_to_last_crop_sample() -> None:
    b_n = 64
    ramp = torch.arange(T, dtype=torch.float32) + 1000 * torch.arange(3.0)[:, None]  # (C, T)
    batch = Batch(ramp.expand(b_n, 3, T).clone(), FS, torch.ones(b_n, 3, dtype=torch.bool))
    draws = rcr.draw_random_knots(b_n, T, [0.5, 1.0], gen(4))
    out = build(CROP, interpolation="random_knots")(batch, gen(4)).signal  # (B, C, T)
    a, n = draws.start.float()[:, None], draws.length.float()[:, None]  # (B, 1)
    assert torch.equal(out[:, :, 0], a + 1000 * torch.arange(3.0)), "first: crop's first value"
    assert torch.equal(out[:, :, -1], a + n - 1 + 1000 * torch.arange(3.0)), "last: crop's last"
    assert (out.diff(dim=-1) > 0).all(), "a ramp stays (strictly) increasing"
    step = out.diff(dim=-1)
    assert (step <= 1 + 1e-4).all(), "stretch only: never faster than the input"
    assert (step.amin(-1) < 0.34).any(), "knots are random: some gaps are long"
    assert (draws.length >= T // 2).all() and (draws.length <= T).all()
    assert ((draws.start <= T - draws.length - 1) | (draws.length == T)).all()


def test_random_knots_puts_rpeaks_on_the_spikes() -> None:
    b_n, peaks = 128, [20, 75, 130, 185, 240]
    batch = spikes([peaks] * b_n, c=2)
    draws = rcr.draw_random_knots(b_n, T, [0.5, 1.0], gen(6))
    out = build(CROP, interpolation="random_knots")(batch, gen(6))
    kept = []
    for b in range(b_n):
        a, n = int(draws.start[b]), int(draws.length[b])
        got = valid(out.rpeaks, b)
        assert len(got) == sum(a <= p < a + n for p in peaks), "peaks outside the crop dropped"
        for lead in range(2):  # the spike's value lands exactly on a knot: only there
            at_top = torch.nonzero(out.signal[b, lead] == lead + 1).flatten().tolist()
            assert at_top == got, (b, at_top, got)
        kept.append(len(got))
    assert min(kept) < len(peaks) and max(kept) >= 3


def test_random_knots_draws_distinct_knots_uniformly() -> None:
    t, b_n = 10, 8000
    batch = Batch(torch.arange(t, dtype=torch.float32).expand(b_n, 1, t).clone(), FS,
                  torch.ones(b_n, 1, dtype=torch.bool))  # fmt: skip
    draws = rcr.draw_random_knots(b_n, t, [0.5, 0.5], gen(8))  # L = 5: 3 inner knots of 8
    out = build(CROP, t=t, scale=[0.5, 0.5], interpolation="random_knots")(batch, gen(8))
    assert set(draws.start.tolist()) == set(range(t - 5)), "crop start 0..4, never 5"
    at_knot = out.signal == out.signal.round()  # (B, 1, T) crop values are integers
    assert (at_knot.sum(-1) == 5).all(), "L distinct knots, first and last included"
    share = at_knot[:, 0, 1:-1].float().mean(0)  # (T - 2,) 3/8 each
    assert ((share - 3 / 8).abs() < 0.03).all(), share


def test_random_knots_at_full_scale_is_the_identity() -> None:
    batch = spikes([[10, 100, 249]] * 4, c=3)
    batch = batch.replace(signal=batch.signal + torch.randn(4, 3, T, generator=gen()))
    out = build(CROP, scale=[1.0, 1.0], interpolation="random_knots")(batch, gen())
    assert torch.equal(out.signal, batch.signal) and torch.equal(out.rpeaks, batch.rpeaks)


# ------------------------------------------------------------------ (d) uniform unchanged
def uniform_before(batch: Batch, scale: list[float], generator: torch.Generator) -> Batch:
    """``RandomCropResize.transform`` as it was before ``interpolation`` (verbatim)."""
    x = batch.signal  # (B, C, T)
    b, c, t = x.shape
    low, high = scale
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


@pytest.mark.parametrize(
    "settings", [{}, {"interpolation": "uniform"}, {"scale": [0.3, 0.9], "p": 0.5}]
)
def test_uniform_is_unchanged(settings: dict) -> None:
    batch = spikes([[5, 60, 140, 230]] * 16, c=3)
    batch = batch.replace(signal=batch.signal + torch.randn(16, 3, T, generator=gen(2)))
    aug = build(CROP, **settings)
    scale = settings.get("scale", [0.5, 1.0])
    for seed in range(4):
        want = uniform_before(batch, scale, gen(seed))
        got = aug.transform(batch, gen(seed))
        assert torch.equal(got.signal, want.signal) and torch.equal(got.rpeaks, want.rpeaks)
    if "p" not in settings:
        assert torch.equal(aug(batch, gen(9)).signal, uniform_before(batch, scale, gen(9)).signal)


# ------------------------------------------------------------------ settings, conformance
def test_settings_are_checked() -> None:
    for bad in ([0.5, 0.2], [0.2, 1.0], [-0.1, 0.2], [0.2], [0.1, 0.2, 0.3]):
        with pytest.raises(ValidationError):
            TIME_OUT.config(crop_ratio_range=bad)
    with pytest.raises(ValidationError):
        CROP.config(interpolation="cubic")
    assert CROP.config().interpolation == "uniform"
    assert TIME_OUT.config().crop_ratio_range == [0.2, 0.4]
    with pytest.raises(ValueError, match="at least 2 samples"):
        build(CROP, scale=[0.005, 0.5], interpolation="random_knots")  # int(1.25) = 1 sample
    build(CROP, scale=[0.005, 0.5])  # uniform has no such limit


@pytest.mark.parametrize(
    ("spec", "settings"),
    [
        (TIME_OUT, None),
        (TIME_OUT, {"crop_ratio_range": [0.0, 0.5]}),
        (CROP, {"interpolation": "random_knots"}),
        (CROP, {"interpolation": "random_knots", "scale": [0.1, 0.4], "p": 0.5}),
    ],
    ids=["time_out", "time_out-class-default", "random_knots", "random_knots-small-p"],
)
def test_conforms(spec: Spec, settings: dict | None) -> None:
    clean, augmented = check_augmentation(spec, settings)
    assert augmented.signal.shape == clean.signal.shape
    assert not torch.equal(augmented.signal, clean.signal), "the kit's batch came back unchanged"


def test_time_out_by_name_through_its_entry_point() -> None:
    clean, augmented = check_augmentation("time_out")
    zeros = int((augmented.signal == 0).sum()) - int((clean.signal == 0).sum())
    assert zeros > 0, "time_out zeroes a stretch of every augmented record"
