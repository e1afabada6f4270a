"""What each augmentation specifically promises (the generic shape/seed/in-place contract is in
test_contract.py): R-peak alignment on real MIT-BIH beats, then synthetic-batch semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import data_root

from ssl_ecg.errors import PluginError
from ssl_ecg.interfaces import AugmentationContext, Batch
from ssl_ecg.registry import Registry
from ssl_ecg.views import make_views

REGISTRY = Registry.load()
FS = 250.0
T = 625  # 2.5 s
MITDB = data_root() / "mitbih-arrhythmia"


def build(name: str, fs: float = FS, t: int = T, **settings):
    spec = REGISTRY.get("augmentation", name)
    return spec.factory(spec.config(**settings), AugmentationContext(fs, t))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def spikes(peaks: list[list[int]], c: int = 2, t: int = T) -> Batch:
    """A batch of unit spikes at the given R-peak positions (one row per sample, -1 padded)."""
    k = max(len(p) for p in peaks)
    rp = torch.tensor([p + [-1] * (k - len(p)) for p in peaks], dtype=torch.int64)  # (B, K)
    x = torch.zeros(len(peaks), c, t)
    for b, row in enumerate(peaks):
        x[b, :, [q for q in row if q >= 0]] = torch.arange(1, c + 1, dtype=torch.float32)[:, None]
    return Batch(x, FS, torch.ones(len(peaks), c, dtype=torch.bool), rp)


def valid(rpeaks: torch.Tensor, b: int) -> list[int]:
    return [int(p) for p in rpeaks[b] if p >= 0]


# ------------------------------------------------------------------ rpeak_align on real beats
@pytest.fixture(scope="module")
def mitbih(tmp_path_factory: pytest.TempPathFactory, _private_cache: None):
    """Record 100 prepared through the data layer: (store, windows, window indices, batch)."""
    if not (MITDB / "100.hea").is_file():
        pytest.skip(f"MIT-BIH not found at {MITDB} (set SSL_ECG_TEST_DATA to the folder)")
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.sources import prepare

    path = tmp_path_factory.mktemp("mit") / "mit.toml"
    path.write_text(
        f'[data]\nname = "mitbih"\nroot = "{MITDB}"\nrecords = ["100"]\nfs = 250\n'
        '[encoder]\nname = "resnet1d"\n[objective]\nname = "simclr"\n'
    )
    store = prepare(load_recipe(path), workers=1).store
    windows = store.windows(2.5, None)
    idx = np.arange(0, len(windows), 11)  # ~65 windows spread over the half hour
    wb = windows.read(idx)
    batch = Batch(
        torch.from_numpy(wb.signal),
        store.fs,
        torch.from_numpy(wb.lead_mask),
        torch.from_numpy(wb.rpeaks),
    )
    return store, windows, idx, batch


@pytest.mark.parametrize("choose", ["first", "random"])
def test_rpeak_align_puts_a_real_rpeak_at_the_offset(mitbih, choose: str) -> None:
    store, windows, idx, batch = mitbih
    fs, t = store.fs, batch.signal.shape[-1]
    offset = round(0.25 * fs)
    aug = build("rpeak_align", fs=fs, t=t, offset_s=0.25, choose=choose)
    out = aug(batch, gen(3))
    lead = store.leads.index("MLII")
    beats = np.asarray(store.beats)  # cardiologists' beat annotations, global samples
    near_qrs, tol = 0, round(0.040 * fs)
    for b in range(len(idx)):
        x, y, peaks = batch.signal[b], out.signal[b], valid(batch.rpeaks, b)  # (C, T), (C, T)
        # the output is the input moved left by s = (a cached R-peak) - offset, zeros after
        shifts = [p - offset for p in peaks if p >= offset]
        moved = [s for s in shifts if torch.equal(y[:, : t - s], x[:, s:])]
        assert moved, f"window {idx[b]}: output is not the input aligned on one of {peaks}"
        s = moved[0]
        assert not y[:, t - s :].any(), "the freed tail must be zeros"
        assert valid(out.rpeaks, b) == [p - s for p in peaks if p >= s], "rpeaks not shifted"
        assert offset in valid(out.rpeaks, b)
        if choose == "first":
            assert s + offset == min(p for p in valid(batch.rpeaks, b) if p >= offset)
        # ... and that peak is a beat the cardiologists annotated (within 50 ms)
        where = windows.start[idx[b]] + s + offset
        assert np.abs(beats - where).min() <= 0.050 * fs
        # the QRS is there: |x| near the offset is (close to) the window's largest deflection
        mag = y[lead].abs()
        near_qrs += bool(mag[offset - tol : offset + tol + 1].max() >= 0.8 * mag.max())
    assert near_qrs >= 0.95 * len(idx), f"QRS at the offset in only {near_qrs}/{len(idx)}"


# ------------------------------------------------------------------ rpeak_align, synthetic
def test_rpeak_align_moves_the_first_peak_after_the_offset_there() -> None:
    # offset = round(0.25 * 250) = 62; sample 1 has no peak at or after 62; sample 2 none at all
    batch = spikes([[10, 200, 400], [5, 30], [-1], [62, 300]])
    out = build("rpeak_align", choose="first")(batch, gen())
    assert out.signal[0, 0].argmax() == 62 and valid(out.rpeaks, 0) == [62, 262]  # 10 left
    assert torch.equal(out.signal[1:3], batch.signal[1:3]), "no usable peak: unchanged"
    assert torch.equal(out.rpeaks[1:3], batch.rpeaks[1:3])
    assert torch.equal(out.signal[3], batch.signal[3]), "already aligned: shift 0"
    assert not out.signal[0, :, T - 138 :].any(), "zero tail of shift 200 - 62 = 138"
    wrapped = build("rpeak_align", choose="first", fill="wrap")(batch, gen())
    assert valid(wrapped.rpeaks, 0) == [62, 262, T - 138 + 10]
    assert torch.equal(wrapped.signal[0], batch.signal[0].roll(-138, dims=-1))
    near = build("rpeak_align", choose="first", max_shift_s=0.2)(batch, gen())  # <= 50 samples
    assert torch.equal(near.signal[0], batch.signal[0]), "peak 200 needs 138 > 50 samples"


def test_rpeak_align_random_choice_covers_every_usable_peak() -> None:
    batch = spikes([[10, 100, 300, 500]] * 64)
    out = build("rpeak_align")(batch, gen(1))  # choose = "random" by default
    # aligned on 100, 300 or 500 (not 10: before the offset) leaves 3, 2 or 1 peaks
    left = {b: valid(out.rpeaks, b) for b in range(64)}
    assert all(peaks[0] == 62 and out.signal[b, 0, 62] == 1 for b, peaks in left.items())
    assert {len(peaks) for peaks in left.values()} == {1, 2, 3}


def test_rpeak_align_without_cached_peaks_detects_or_skips() -> None:
    batch = spikes([[40, 250, 460], [120, 330, 540]])
    bare = batch.replace(rpeaks=None)
    out = build("rpeak_align", choose="first")(bare, gen())
    assert out.rpeaks is None
    assert out.signal[0, 0].argmax() == 62 and out.signal[1, 0].argmax() == 62
    assert torch.equal(build("rpeak_align", missing_rpeaks="skip")(bare, gen()).signal, bare.signal)
    empty = batch.replace(rpeaks=torch.empty(2, 0, dtype=torch.int64))  # windows without beats
    assert torch.equal(build("rpeak_align")(empty, gen()).signal, batch.signal)


# ------------------------------------------------------------------ the others
def test_lead_dropout_never_drops_every_lead_and_updates_the_mask() -> None:
    b, c = 256, 12
    present = torch.rand(b, c, generator=gen(5)) < 0.7
    present[0] = False  # a sample with no lead at all stays as it is
    present[1] = torch.arange(c) == 3  # a single present lead is never dropped
    x = torch.randn(b, c, T) * present[:, :, None]  # absent leads are zeros, as in the cache
    batch = Batch(x, FS, present)
    kept = {}
    for p_lead in (1.0, 0.25):
        out = build("lead_dropout", p_lead=p_lead)(batch, gen(2))
        kept[p_lead] = out.lead_mask
        assert not (out.lead_mask & ~present).any(), "an absent lead came back"
        assert (out.lead_mask.sum(1) >= 1)[1:].all(), "a sample lost every lead"
        assert out.lead_mask[1, 3]
        assert torch.equal(out.signal, x * out.lead_mask[:, :, None]), "dropped = zero, rest kept"
    assert (kept[1.0].sum(1)[1:] == 1).all(), "p_lead = 1 keeps exactly one lead"
    kept_lead = kept[1.0][2:].float().argmax(1)  # which one: spread over the present leads
    assert len(set(kept_lead.tolist())) == c
    rate = 1 - kept[0.25][2:].sum() / present[2:].sum()
    assert 0.18 < rate < 0.32, f"p_lead = 0.25 dropped {rate:.2f} of the present leads"


def test_time_shift_moves_signal_and_rpeaks_together() -> None:
    batch = spikes([[300]] * 128)
    batch = batch.replace(signal=batch.signal + torch.linspace(0, 1, T))  # a ramp to track
    for fill in ("zeros", "wrap"):
        out = build("time_shift", max_shift_s=0.2, fill=fill)(batch, gen(7))  # m = 50 samples
        d = out.rpeaks[:, 0] - 300  # (B,)
        assert d.abs().max() <= 50 and d.min() < 0 < d.max() and len(set(d.tolist())) > 40
        for b in range(128):
            assert int(out.signal[b, 0].argmax()) == 300 + d[b], "spike and R-peak disagree"
            shift = int(d[b])
            want = batch.signal[b].roll(shift, dims=-1)
            if fill == "zeros":
                want[:, : max(0, shift)] = 0
                want[:, T + min(0, shift) :] = 0
            assert torch.equal(out.signal[b], want)
    gone = build("time_shift", max_shift_s=0.2)(spikes([[5, 300, 620]] * 64), gen(1))
    for b in range(64):
        ok = gone.rpeaks[b] >= 0
        assert ok.sum() in (2, 3) and torch.equal(ok, ok.sort(descending=True).values), "-1 last"


def spectrum_share(added: torch.Tensor, fs: float, mask) -> torch.Tensor:
    """Share of each trace's (Hann-windowed) energy in the frequency bins ``mask(f)``."""
    t = added.shape[-1]
    power = torch.fft.rfft(added * torch.hann_window(t, periodic=False), dim=-1).abs() ** 2
    f = torch.fft.rfftfreq(t, 1 / fs)
    return power[..., mask(f)].sum(-1) / power.sum(-1)


def test_powerline_adds_energy_at_50_or_60_hz() -> None:
    t = round(10 * FS)
    present = torch.ones(64, 3, dtype=torch.bool)
    present[:, 2] = False
    x = torch.randn(64, 3, t, generator=gen(0))
    out = build("powerline", t=t)(Batch(x, FS, present), gen(4))
    added = (out.signal - x)[:, :2]  # (B, 2, T)
    assert torch.equal(out.signal[:, 2], x[:, 2]), "an absent lead got interference"
    at50 = spectrum_share(added, FS, lambda f: (f - 50).abs() <= 1)
    at60 = spectrum_share(added, FS, lambda f: (f - 60).abs() <= 1)
    assert ((at50 > 0.99) | (at60 > 0.99)).all()
    assert (at50 > 0.99).any() and (at60 > 0.99).any(), "both mains frequencies must occur"
    assert added.abs().max() <= 0.1 + 1e-6
    with pytest.raises(PluginError, match="Nyquist"):
        build("powerline", fs=100.0)  # 50 and 60 Hz are not below fs/2 = 50 Hz
    only30 = build("powerline", fs=100.0, freq_hz=[30.0, 50.0])(Batch(x, 100.0, present), gen())
    share = spectrum_share((only30.signal - x)[:, :2], 100.0, lambda f: (f - 30).abs() <= 1)
    assert (share > 0.99).all(), "a frequency at Nyquist must never be drawn"


def test_baseline_wander_adds_energy_below_1_hz() -> None:
    t = round(20 * FS)
    present = torch.ones(32, 3, dtype=torch.bool)
    present[:, 0] = False
    x = torch.randn(32, 3, t, generator=gen(0))
    out = build("baseline_wander", t=t)(Batch(x, FS, present), gen(9))
    added = out.signal - x
    assert torch.equal(out.signal[:, 0], x[:, 0]), "an absent lead got wander"
    assert (added[:, 1:].abs().amax(-1) > 0.01).all()
    assert added.abs().max() <= 2 * 0.3 + 1e-5  # two components, amplitude 0.3 each
    assert (spectrum_share(added[:, 1:], FS, lambda f: f < 1.0) > 0.99).all()


def test_random_crop_resize_is_identity_at_full_scale_and_linear_inside() -> None:
    batch = spikes([[50, 300, 600]] * 8, c=3)
    batch = batch.replace(signal=torch.randn(8, 3, T))
    same = build("random_crop_resize", scale=[1.0, 1.0])(batch, gen())
    assert torch.equal(same.signal, batch.signal) and torch.equal(same.rpeaks, batch.rpeaks)
    ramp = batch.replace(signal=torch.arange(T, dtype=torch.float32).expand(8, 3, T).clone())
    out = build("random_crop_resize", scale=[0.5, 0.5])(ramp, gen(2))
    start = out.signal[:, 0, 0]  # (B,) crop start a: the output is a + 0.5 t
    want = start[:, None, None] + 0.5 * torch.arange(T)  # (B, 1, T)
    torch.testing.assert_close(out.signal, want.expand_as(out.signal))
    assert (start >= 0).all() and (start <= 0.5 * (T - 1) + 1e-3).all() and start.std() > 10
    for b in range(8):
        want = [round((p - float(start[b])) / 0.5) for p in (50, 300, 600)]
        assert valid(out.rpeaks, b) == [p for p in want if 0 <= p < T]


def test_time_moving_augmentations_keep_rpeaks_on_the_spikes() -> None:
    batch = spikes([[40, 210, 380, 550]] * 32, c=1)
    augs = [build("rpeak_align"), build("time_shift"), build("random_crop_resize")]
    g = gen(11)
    for aug in augs:
        batch = aug(batch, g)
    for b in range(32):
        x = batch.signal[b, 0]
        for p in valid(batch.rpeaks, b):  # each peak within a sample of a (stretched) spike
            assert x[max(0, p - 1) : p + 2].max() >= 0.5, (b, p, valid(batch.rpeaks, b))


NEW = ["rpeak_align", "random_crop_resize", "baseline_wander", "powerline", "lead_dropout",
       "time_shift"]  # fmt: skip


@pytest.mark.parametrize("name", NEW)
def test_p_zero_leaves_the_batch_unchanged(name: str) -> None:
    batch = spikes([[40, 210, 380, 550]] * 4)
    batch = batch.replace(signal=batch.signal + torch.randn(4, 2, T))
    out = build(name, p=0.0)(batch, gen())
    assert torch.equal(out.signal, batch.signal) and torch.equal(out.rpeaks, batch.rpeaks)
    assert torch.equal(out.lead_mask, batch.lead_mask)


def test_views_setting_restricts_which_views_an_augmentation_touches() -> None:
    batch = Batch(torch.randn(4, 2, T), FS, torch.ones(4, 2, dtype=torch.bool))
    only1 = [build("baseline_wander", views=[1]), build("lead_dropout", p_lead=1.0, views=[1])]
    v0, v1 = make_views(batch, only1, 2, gen())
    assert torch.equal(v0, batch.signal) and not torch.equal(v1, batch.signal)
    assert ((v1 != 0).any(-1).sum(1) == 1).all(), "view 1 went through lead_dropout"
    both = make_views(batch, [build("powerline")], 2, gen())
    assert not any(torch.equal(v, batch.signal) for v in both)
    assert not torch.equal(both[0], both[1]), "each view draws its own randomness"


def test_settings_are_checked() -> None:
    from pydantic import ValidationError

    for name, bad in [
        ("random_crop_resize", {"scale": [0.8, 0.5]}),
        ("random_crop_resize", {"scale": [0.0, 1.0]}),
        ("baseline_wander", {"freq_hz": [0.5, 0.1]}),
        ("rpeak_align", {"choose": "last"}),
        ("time_shift", {"fill": "mirror"}),
        ("lead_dropout", {"p_lead": 1.5}),
    ]:
        with pytest.raises(ValidationError):
            REGISTRY.get("augmentation", name).config(**bad)
    with pytest.raises(ValueError, match="window"):
        build("time_shift", max_shift_s=3.0)
    with pytest.raises(ValueError, match="window"):
        build("rpeak_align", offset_s=2.5)
