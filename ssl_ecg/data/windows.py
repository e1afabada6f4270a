"""Preprocessing declared in ``[data]``: lead selection, resampling, normalisation, windowing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ssl_ecg.config import PreprocessConfig
from ssl_ecg.errors import DataError
from ssl_ecg.interfaces import Record


@dataclasses.dataclass
class Windows:
    """Preprocessed windows held in memory."""

    signal: np.ndarray  # (N, C, T) float32
    lead_mask: np.ndarray  # (N, C) bool
    record_index: np.ndarray  # (N,) int: which record each window came from
    record_ids: list[str]
    patient_ids: list[str]
    leads: list[str]
    fs: float


def select_leads(record: Record, leads: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(signal (C, T), present (C,))`` in the order of ``leads``; missing leads are zeros."""
    index = {name.upper(): i for i, name in enumerate(record.leads)}
    out = np.zeros((len(leads), record.signal.shape[1]), dtype=np.float32)
    present = np.zeros(len(leads), dtype=bool)
    for c, name in enumerate(leads):
        i = index.get(name.upper())
        if i is not None:
            out[c] = record.signal[i]
            present[c] = True
    return out, present


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling of ``signal (C, T)`` from ``fs_in`` to ``fs_out``."""
    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if abs(float(ratio) - fs_out / fs_in) > 1e-6:
        raise DataError(f"cannot resample {fs_in} Hz to {fs_out} Hz with a rational ratio")
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1).astype(np.float32)


def make_windows(records: Iterable[Record], pre: PreprocessConfig, leads: list[str]) -> Windows:
    """Cut every record into windows after resampling and normalising it."""
    win = round(pre.window_s * pre.fs)
    hop = round((pre.stride_s or pre.window_s) * pre.fs)
    chunks, masks, owners, rec_ids, pat_ids = [], [], [], [], []
    for record in records:
        sig, present = select_leads(record, leads)
        sig = resample(sig, record.fs, pre.fs)
        if pre.normalize == "zscore":
            mu = sig.mean(axis=1, keepdims=True)
            sd = sig.std(axis=1, keepdims=True)
            sig = np.where(present[:, None], (sig - mu) / np.maximum(sd, 1e-6), 0.0)
        n = 0 if sig.shape[1] < win else 1 + (sig.shape[1] - win) // hop
        if n == 0:
            continue
        starts = np.arange(n) * hop
        idx = starts[:, None] + np.arange(win)[None, :]
        chunks.append(sig[:, idx].transpose(1, 0, 2).astype(np.float32))
        masks.append(np.repeat(present[None], n, axis=0))
        owners.append(np.full(n, len(rec_ids)))
        rec_ids.append(record.record_id)
        pat_ids.append(record.patient_id)
    if not chunks:
        raise DataError(f"no record is at least window_s = {pre.window_s} s long")
    return Windows(
        np.concatenate(chunks),
        np.concatenate(masks),
        np.concatenate(owners),
        rec_ids,
        pat_ids,
        list(leads),
        pre.fs,
    )
