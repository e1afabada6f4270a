"""Evaluation tasks: labelled windows for a train and a test split, read from prepared data.

A task plugin's factory is called as ``factory(config, TaskContext)`` and returns an object with
``load() -> TaskData``. It prepares its dataset through ``context.prepare(table)``, which applies
the encoder's own data contract (fs, leads, filters, normalisation) so that evaluation sees the
same preprocessing pretraining did; the task only names the dataset and its settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.data.store import Store
from ssl_ecg.specs import Config


@dataclasses.dataclass
class LabelledWindows:
    """Fixed-length windows of a prepared store, each with a label, patient and record."""

    store: Store
    start: np.ndarray  # (N,) int64 global sample index where each window starts
    length: int  # samples per window
    y: np.ndarray  # (N,) int64 class index, or (N, K) float32 multi-hot when multilabel
    patients: np.ndarray  # (N,) str patient of each window
    records: np.ndarray  # (N,) str record of each window
    side: np.ndarray | None = None  # (N, F) float32 side features (TaskData.side_names)
    # (N, 2) int64 [first, end) global samples of each window's record: when set, training may
    # draw a random crop of the record instead of the fixed window (TaskData.random_crops)
    span: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.start.size)

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Signals of windows ``idx`` (B,) as (B, C, T) float32, gathered from the memmaps."""
        return self.store.read_signals(self.start[idx], self.length)

    def subset(self, idx: np.ndarray) -> LabelledWindows:
        return dataclasses.replace(
            self, start=self.start[idx], y=self.y[idx], patients=self.patients[idx],
            records=self.records[idx], side=None if self.side is None else self.side[idx],
            span=None if self.span is None else self.span[idx],
        )  # fmt: skip

    def random_crops(self, rng: np.random.Generator) -> np.ndarray:
        """Start (N,) of a random window-length crop of each window's record (the fixed
        starts when the windows carry no record span)."""
        if self.span is None:
            return self.start
        room = np.maximum(self.span[:, 1] - self.span[:, 0] - self.length, 0)  # (N,)
        return self.span[:, 0] + (rng.random(room.shape) * (room + 1)).astype(np.int64)

    def rpeaks(self) -> list[np.ndarray]:
        """R-peak positions (samples from each window's start) detected at prepare time."""
        peaks = np.asarray(self.store.rpeaks)
        lo = np.searchsorted(peaks, self.start)
        hi = np.searchsorted(peaks, self.start + self.length)
        return [peaks[a:b] - s for a, b, s in zip(lo, hi, self.start, strict=True)]


@dataclasses.dataclass
class TaskData:
    """What a task hands the evaluation: train and test windows plus what the labels mean."""

    train: LabelledWindows
    test: LabelledWindows
    classes: list[str]  # names of the label indices (or of the multi-hot columns)
    multilabel: bool = False
    scored: list[str] | None = None  # classes in the macro averages (default: all)
    description: str = ""
    # names of the columns of train.side / test.side: features the task computes next to the
    # signal (e.g. RR intervals of a beat), which a probe may see with or instead of embeddings
    side_names: list[str] = dataclasses.field(default_factory=list)
    beat_centred: bool = False  # every window is centred on a beat (baselines crop the beat)
    # what is scored: each window, or each record ("record": the mean of its windows'
    # probabilities, "max": their maximum per class)
    aggregate: str = "window"
    # further record aggregations reported next to the headline one (e.g. ["record"] beside
    # "max": the PTB-XL benchmark's max and the mean of Mehari & Strodthoff 2022)
    also_aggregate: list[str] = dataclasses.field(default_factory=list)
    # validation windows (model selection, early stopping; never the test windows), or None:
    # fine-tuning then holds out a patient-wise part of the training windows
    val: LabelledWindows | None = None
    # training (fine-tuning) draws random window-length crops of each training record rather
    # than the fixed windows (needs train.span)
    random_crops: bool = False


class Task:
    """Base for evaluation tasks: labelled windows of a train and a test split.

    Built as ``factory(config, TaskContext)``; ``load()`` returns :class:`TaskData`. A task
    prepares its dataset through ``context.prepare(data_table)``, which applies the encoder's
    data contract (rate, leads, filters, normalisation) and returns a :class:`Store` — the
    prepared records: ``record_ids``, ``patient_ids``, ``records`` (labels), ``rec_start`` /
    ``rec_len`` (each record's samples), ``beats`` / ``beat_labels`` and ``rpeaks`` (global
    sample positions), ``splits()``, ``fs``, ``leads``. Windows are :class:`LabelledWindows`
    (start, length, label, patient and record of each, optional side features); train and
    test must not share a patient. ``context.n_samples`` is the encoder's window length.

    A task that reads any dataset takes it as a setting named ``dataset``: a ``[data]``-like
    table (``{name = "wfdb", root = "af", labels_file = "af/labels.csv"}``) that it passes to
    ``context.prepare``; ``ssl-ecg evaluate --data RECIPE`` fills it with a recipe's ``[data]``.
    """

    def __init__(self, config: Config, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        raise NotImplementedError(f"{type(self).__name__} must implement load()")


class Baseline:
    """A feature map that needs no pretraining, scored by the same probes as an encoder.

    Built as ``factory(config, BaselineContext)``; ``fit`` sees the task (its training windows,
    never their labels' test counterparts), then ``transform`` maps windows to features.
    """

    def fit(self, task: TaskData) -> None:
        """Learn what the map needs from the training windows (default: nothing)."""

    def transform(self, windows: LabelledWindows) -> np.ndarray:
        """Features (N, D) float32 of every window."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class BaselineContext:
    fs: float  # the sampling rate of the windows it will see
    leads: list[str]
    seed: int


@dataclasses.dataclass(frozen=True)
class TaskContext:
    fs: float  # the encoder's sampling rate
    leads: list[str]  # the encoder's leads, in order
    n_samples: int  # the encoder's window length in samples
    seed: int
    recipe_dir: Path  # relative dataset roots resolve against this folder
    # prepare(data_table) -> Store: prepares a dataset under the encoder's data contract
    prepare: Callable[[dict[str, Any]], Store]


# ------------------------------------------------------------------ side features for tasks
RR_FEATURES = ["rr_pre_s", "rr_post_s", "rr_local_s", "rr_pre_rel", "rr_post_rel",
               "rr_local_rel", "rr_pre_post_ratio"]  # fmt: skip
HRV_FEATURES = ["mean_rr_ms", "sdnn_ms", "rmssd_ms", "pnn50", "cvsd", "n_beats"]


def rr_features(beats: np.ndarray, record: np.ndarray, fs: float, local: int = 10) -> np.ndarray:
    """RR-interval features (K, 7) of beats (K,) (sorted sample positions) in records (K,).

    Per beat: the RR interval before it, after it, the mean of the last ``local`` RR intervals
    ending at it (s), each divided by its record's median RR, and before / after. Nothing looks
    further ahead than the next beat except the record median (a whole-record rhythm statistic,
    no labels). Intervals never span two records; a missing one (a record's first or last beat)
    takes the record's median.
    """
    beats = np.asarray(beats, dtype=np.float64)
    record = np.asarray(record)
    k = beats.size
    rr = np.diff(beats) / fs  # (K-1,) interval between beat i and i+1
    same = record[1:] == record[:-1]  # (K-1,)
    pre = np.full(k, np.nan)
    post = np.full(k, np.nan)
    pre[1:] = np.where(same, rr, np.nan)
    post[:-1] = np.where(same, rr, np.nan)
    first = np.r_[0, np.flatnonzero(~same) + 1]  # (R,) first beat of each record run
    run_start = np.repeat(first, np.diff(np.r_[first, k]))  # (K,) first beat of my record
    ok = np.isfinite(pre)
    csum = np.r_[0.0, np.cumsum(np.where(ok, pre, 0.0))]
    ccnt = np.r_[0, np.cumsum(ok)]
    lo = np.maximum(np.arange(k) - local + 1, run_start)
    idx = np.arange(k) + 1
    count = ccnt[idx] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        loc = np.where(count > 0, (csum[idx] - csum[lo]) / count, np.nan)
    median = np.full(k, np.nan)
    for a, b in zip(first, np.r_[first[1:], k], strict=True):
        vals = pre[a:b][np.isfinite(pre[a:b])]
        median[a:b] = np.median(vals) if vals.size else np.nan
    median = np.where(np.isfinite(median), median, np.nanmedian(pre) if ok.any() else 1.0)
    pre, post, loc = (np.where(np.isfinite(v), v, median) for v in (pre, post, loc))
    cols = [pre, post, loc, pre / median, post / median, loc / median, pre / post]
    return np.stack(cols, axis=1).astype(np.float32)


def hrv_features(peaks: list[np.ndarray], fs: float) -> np.ndarray:
    """Heart-rate-variability features (N, 6) of each window's R-peaks (samples), with
    neurokit2's ``hrv_time``: mean RR, SDNN, RMSSD (ms), pNN50 (%), CVSD (RMSSD / mean RR: a
    successive-difference irregularity measure) and the number of beats. A window with fewer
    than 3 beats has zeros but its beat count."""
    import warnings

    import neurokit2 as nk

    out = np.zeros((len(peaks), len(HRV_FEATURES)), dtype=np.float32)
    names = ["HRV_MeanNN", "HRV_SDNN", "HRV_RMSSD", "HRV_pNN50", "HRV_CVSD"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, p in enumerate(peaks):
            out[i, -1] = p.size
            if p.size >= 3:
                row = nk.hrv_time(np.asarray(p, dtype=np.int64), sampling_rate=fs)
                out[i, :-1] = np.nan_to_num(row[names].to_numpy(dtype=np.float64)[0])
    return out
