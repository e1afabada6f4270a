"""One record -> its stored form: checked, lead-selected, band-passed, resampled, normalised,
with R-peaks detected at the record's own sampling rate.

Runs in worker processes during ``ssl-ecg data prepare``; everything here is per record.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from ssl_ecg.config import PreprocessConfig
from ssl_ecg.data.record import Record
from ssl_ecg.errors import DataError

# Leads tried, in order, for R-peak detection (the first the record has wins).
RPEAK_LEADS = ["II", "I", "V5", "V6", "V4", "III", "aVF", "V1", "V2", "V3"]
FLAT_STD_MV = 1e-6


@dataclasses.dataclass
class Processed:
    """A record ready to store."""

    record_id: str
    patient_id: str
    source: str
    source_fs: float
    signal: np.ndarray  # (T, C) time-major, cache dtype, at the target fs
    present: np.ndarray  # (C,) bool
    rpeaks: np.ndarray  # (P,) int64, samples at the target fs
    beats: np.ndarray  # (K,) int64, samples at the target fs
    beat_labels: list[str]
    labels: dict
    flat_leads: list[str] = dataclasses.field(default_factory=list)
    fingerprint: str = ""  # content of the record as read (see :func:`fingerprint`)


def fingerprint(record: Record) -> str:
    """Identity of a recording's content, whatever dataset plugin read it and however it names
    or orders its leads: each lead rounded to 1 uV and hashed, the sorted lead hashes hashed
    with the rate. The leakage guard compares pretraining and test records by it."""
    import hashlib

    leads = sorted(
        hashlib.sha1(np.round(np.nan_to_num(row) * 1000).astype(np.int32).tobytes()).hexdigest()
        for row in np.asarray(record.signal, dtype=np.float64)
    )
    return hashlib.sha1(f"{float(record.fs):g}|{'|'.join(leads)}".encode()).hexdigest()[:20]


def check_finite(signal: np.ndarray, leads: list[str], source: str) -> None:
    """Refuse NaN (missing samples) and +inf/-inf values in ``signal`` (C, T): a
    :class:`DataError` naming the file, the lead and the first bad sample."""
    bad = ~np.isfinite(signal)  # (C, T)
    if not bad.any():
        return
    row = int(np.argmax(bad.any(axis=1)))
    col = int(np.argmax(bad[row]))
    value = float(signal[row, col])
    what = "NaN values (missing samples)" if np.isnan(value) else f"infinite values ({value})"
    n = int(bad[row].sum())
    raise DataError(
        f"{source}: lead {leads[row]} contains {what}: {n} sample(s), the first at sample {col}"
    )


def check_signal(signal: np.ndarray, leads: list[str], source: str) -> np.ndarray:
    """Refuse an empty signal, NaNs or infinities (a :class:`DataError` naming the file and the
    lead); return which leads of ``signal`` (C, T) are flat (std < 1e-6 mV: disconnected)."""
    if signal.ndim != 2 or signal.shape[0] != len(leads):
        raise DataError(f"{source}: signal of shape {signal.shape} does not match leads {leads}")
    if signal.shape[1] == 0:
        raise DataError(f"{source}: the signal is empty")
    check_finite(signal, leads, source)
    return signal.std(axis=1, dtype=np.float64) < FLAT_STD_MV  # (C,)


# Lead synonyms: a requested lead a record lacks by name is found under one of these (matched
# case-insensitively). Modified limb lead II (MLII, Holter/MIT-BIH) counts as lead II. Anything
# else (e.g. SVDB's "ECG1", a single-lead device's "ECG") needs an explicit data.lead_map.
LEAD_SYNONYMS = {
    "II": ("II", "MLII", "ML2", "ML II", "LEAD II", "D2"),
    "I": ("I", "LEAD I", "D1"),
    "III": ("III", "LEAD III", "D3"),
    **{v: (v, f"LEAD {v}") for v in ("AVR", "AVL", "AVF")},
    **{f"V{i}": (f"V{i}", f"LEAD V{i}", f"MLV{i}" if i == 1 else f"V{i}") for i in range(1, 7)},
}


def canonical_lead(name: str) -> str:
    """The standard name of a lead ("MLII" -> "II", "lead V1" -> "V1"); unknown names as given,
    upper-cased."""
    upper = " ".join(name.upper().split())
    return next((k for k, names in LEAD_SYNONYMS.items() if upper in names), upper)


def select_leads(
    record: Record, leads: list[str], missing: str, lead_map: dict[str, str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(signal (C, T), present (C,))`` in the order of ``leads``; absent leads are zeros.

    A record lead is first renamed by ``lead_map`` ({"ECG1": "MLII"}); a requested lead is then
    found by its exact name (case-insensitive), else by synonym (:data:`LEAD_SYNONYMS`)."""
    names = [(lead_map or {}).get(n, n) for n in record.leads]
    index = {name.upper(): i for i, name in enumerate(names)}
    alias: dict[str, int] = {}
    for i, name in enumerate(names):
        alias.setdefault(canonical_lead(name), i)
    rows = [index.get(n.upper(), alias.get(canonical_lead(n))) for n in leads]
    present = np.array([r is not None for r in rows], dtype=bool)
    if not present.any():
        raise DataError(
            f"{record.source}: has none of the requested leads {leads} (it has {record.leads}); "
            'change data.leads or map a lead with data.lead_map, e.g. { ECG1 = "II" }'
        )
    if missing == "error" and not present.all():
        absent = [n for n, p in zip(leads, present, strict=True) if not p]
        raise DataError(f"{record.source}: lacks requested leads {absent} (missing_leads='error')")
    out = np.zeros((len(leads), record.signal.shape[1]), dtype=np.float64)
    for c, r in enumerate(rows):
        if r is not None:
            out[c] = record.signal[r]
    return out, present


def bandpass(signal: np.ndarray, fs: float, low: float, high: float, source: str) -> np.ndarray:
    """Zero-phase Butterworth band-pass (or high/low-pass when one edge is 0) of (C, T)."""
    from scipy.signal import butter, sosfiltfilt

    if high and high >= fs / 2:
        raise DataError(
            f"{source}: lowpass_hz = {high} is not below the Nyquist frequency of its "
            f"{fs:g} Hz rate; lower data.lowpass_hz"
        )
    if low and high:
        sos = butter(2, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low:
        sos = butter(2, low, btype="highpass", fs=fs, output="sos")
    elif high:
        sos = butter(2, high, btype="lowpass", fs=fs, output="sos")
    else:
        return signal
    if signal.shape[1] <= 3 * 2 * sos.shape[0]:
        raise DataError(f"{source}: only {signal.shape[1]} samples, too short to filter")
    return sosfiltfilt(sos, signal, axis=-1)


def resample(signal: np.ndarray, fs_in: float, fs_out: float, source: str) -> np.ndarray:
    """Polyphase resampling of (C, T) from ``fs_in`` to ``fs_out``."""
    from scipy.signal import resample_poly

    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if abs(float(ratio) - fs_out / fs_in) > 1e-9 * fs_out / fs_in:
        raise DataError(
            f"{source}: cannot resample {fs_in:g} Hz to {fs_out:g} Hz by a rational factor "
            "with a denominator up to 1000; choose another data.fs"
        )
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def detect_rpeaks(record: Record, method: str) -> np.ndarray:
    """R-peak sample positions at the record's own fs (neurokit2, always given the true fs)."""
    import neurokit2 as nk

    names = [canonical_lead(n) for n in record.leads]
    usable = [  # a lead with NaN/inf samples (unselected, so not refused) or flat finds no peaks
        bool(np.isfinite(row).all()) and float(np.std(row)) >= FLAT_STD_MV for row in record.signal
    ]
    order = [names.index(n.upper()) for n in RPEAK_LEADS if n.upper() in names]
    order += [i for i in range(len(names)) if i not in order]
    lead = next((i for i in order if usable[i]), 0)
    x = record.signal[lead].astype(np.float64)
    try:
        cleaned = nk.ecg_clean(x, sampling_rate=record.fs)
        _, info = nk.ecg_peaks(cleaned, sampling_rate=record.fs, method=method)
    except Exception as exc:  # neurokit2 raises on e.g. too few beats; no peaks is not fatal
        if method not in _known_methods():
            raise DataError(f"data.rpeak_method = '{method}' is not a neurokit2 method") from exc
        return np.zeros(0, dtype=np.int64)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _known_methods() -> set[str]:
    return {"neurokit", "pantompkins1985", "hamilton2002", "zong2003", "martinez2004",
            "christov2004", "gamboa2008", "elgendi2010", "engzeemod2012", "manikandan2012",
            "kalidas2017", "nabian2018", "rodrigues2021", "emrich2023", "promac"}  # fmt: skip


def to_target(positions: np.ndarray, fs_in: float, fs_out: float, n_out: int) -> np.ndarray:
    """Sample positions at ``fs_in`` -> positions at ``fs_out``, kept inside [0, n_out)."""
    out = np.round(np.asarray(positions, dtype=np.float64) * (fs_out / fs_in)).astype(np.int64)
    return out[(out >= 0) & (out < n_out)]


def process(
    record: Record, pre: PreprocessConfig, leads: list[str], rpeaks: bool = True
) -> Processed:
    """The stored form of one record, or a :class:`DataError` naming its file (``rpeaks``:
    detect R-peaks; off where only the signal is needed, e.g. embedding a raw array)."""
    source = record.source or record.record_id
    if record.signal.ndim != 2 or record.signal.shape[0] != len(record.leads):
        raise DataError(
            f"{source}: signal has shape {record.signal.shape} but {len(record.leads)} lead names"
        )
    if not (np.isfinite(record.fs) and record.fs > 0):
        raise DataError(f"{source}: sampling rate {record.fs} is not a positive number (Hz)")
    sig, present = select_leads(record, leads, pre.missing_leads, pre.lead_map)
    flat = check_signal(sig, leads, source) & present  # a flat lead counts as a missing one
    if flat.any():
        names = [n for n, f in zip(leads, flat, strict=True) if f]
        if pre.missing_leads == "error" or flat.sum() == present.sum():
            raise DataError(
                f"{source}: lead {names[0]} is flat over the whole record (disconnected?)"
            )
        present &= ~flat
        sig[flat] = 0.0
    peaks = detect_rpeaks(record, pre.rpeak_method) if rpeaks else np.zeros(0, dtype=np.int64)
    sig = bandpass(sig, record.fs, pre.highpass_hz, pre.lowpass_hz, source)
    sig = resample(sig, record.fs, pre.fs, source)
    if pre.normalize == "zscore":
        mu = sig.mean(axis=1, keepdims=True)
        sd = np.maximum(sig.std(axis=1, keepdims=True), FLAT_STD_MV)
        sig = np.where(present[:, None], (sig - mu) / sd, 0.0)
    n_out = sig.shape[1]
    beats = np.zeros(0, dtype=np.int64)
    beat_labels: list[str] = []
    if record.beats is not None:
        pos = np.round(np.asarray(record.beats, dtype=np.float64) * (pre.fs / record.fs))
        keep = (pos >= 0) & (pos < n_out)
        beats = pos[keep].astype(np.int64)
        if record.beat_labels is not None:
            beat_labels = [str(b) for b in np.asarray(record.beat_labels)[keep]]
    return Processed(
        record_id=record.record_id,
        patient_id=record.patient_id,
        source=source,
        source_fs=float(record.fs),
        signal=np.ascontiguousarray(sig.T.astype(pre.cache_dtype)),
        present=present,
        rpeaks=to_target(peaks, record.fs, pre.fs, n_out),
        beats=beats,
        beat_labels=beat_labels,
        labels=dict(record.labels),
        flat_leads=[n for n, f in zip(leads, flat, strict=True) if f],
        fingerprint=fingerprint(record),
    )
