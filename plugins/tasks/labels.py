"""A generic task for any dataset plugin whose records carry a label and a patient id.

The classes are the sorted distinct values of record label ``label`` (a record without it, or
with ``None``/NaN, is left out); every full, non-overlapping window of a labelled record (stride
= the encoder's window) inherits the record's class. The split is patient-wise and seeded
(``split_fractions`` = train, val, test; train = "train", test = "test") unless the dataset
defines its own splits: then the ones named like "train" and "test" are used, or those named by
``train_split`` / ``test_split`` (e.g. MIT-BIH's ``DS1`` / ``DS2``).

Classes can be renamed first (``merge = { "~" = "O" }``), restricted (``classes = ["N", "A",
"O"]``: records of other classes are left out) and scored per record (``aggregate = "record"``:
the mean of a record's window probabilities, ``"max"``: their maximum), as challenges score.
With ``ssl-ecg evaluate --cv K`` the train and test records are pooled into K folds (the
val share of ``split_fractions``, unless set, goes to train: every record is used).

Side features: heart-rate variability of each window from the R-peaks detected at prepare time
(:func:`ssl_ecg.tasks.hrv_features`: mean RR, SDNN, RMSSD, pNN50, CVSD, number of beats).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ssl_ecg import (
    HRV_FEATURES,
    Config,
    DataError,
    LabelledWindows,
    Spec,
    TaskContext,
    TaskData,
    did_you_mean,
    hookimpl,
    hrv_features,
)


class LabelsConfig(Config):
    dataset: dict[str, Any] = Field(
        description="the dataset's table as in [data], e.g. {name = 'wfdb', root = 'data/x'}"
    )
    label: str = Field(description="key of the record labels to predict, e.g. 'sex'")
    split_fractions: list[float] = Field(
        default_factory=lambda: [0.7, 0.1, 0.2],
        description="train/val/test patient fractions when the dataset has no splits of its own",
    )
    train_split: str | None = Field(
        None, description="split to train on; default: 'train' or the dataset's split named so"
    )
    test_split: str | None = Field(
        None, description="split to test on; default: 'test' or the dataset's split named so"
    )
    bins: list[float] | None = Field(
        None, min_length=1,
        description="cut a numeric label into ranges at these edges, e.g. [40, 60] for age: "
        "'<40', '40-60', '>=60' (a numeric label with many values needs it)",
    )  # fmt: skip
    max_classes: int = Field(
        10, ge=2, description="a numeric label with more distinct values than this needs bins"
    )
    merge: dict[str, str] = Field(
        default_factory=dict,
        description="rename classes before anything else, e.g. { '~' = 'O' } (noisy -> other)",
    )
    classes: list[str] | None = Field(
        None, min_length=2,
        description="score only these classes (after merge); records of other classes are "
        "left out; default: every class",
    )  # fmt: skip
    aggregate: Literal["window", "record", "max"] = Field(
        "window",
        description="score each window, or each record: 'record' = mean of its windows' "
        "probabilities, 'max' = their maximum per class",
    )

    @model_validator(mode="after")
    def _check(self) -> LabelsConfig:
        f = self.split_fractions
        if len(f) != 3 or min(f) < 0 or abs(sum(f) - 1) > 1e-6 or not (f[0] and f[2]):
            raise ValueError(
                "split_fractions must be 3 numbers (train, val, test) >= 0 summing to 1, "
                "train and test above 0"
            )
        return self


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _binned(value: float, edges: list[float]) -> str:
    """The range of ``value`` among sorted bin ``edges``: '<a', 'a-b', '>=z'."""
    edges = sorted(edges)
    if value < edges[0]:
        return f"<{edges[0]:g}"
    for lo, hi in itertools.pairwise(edges):
        if lo <= value < hi:
            return f"{lo:g}-{hi:g}"
    return f">={edges[-1]:g}"


def _edge(values: list[Any]) -> str:
    """A median, as an example bin edge."""
    return f"{float(np.median(np.asarray(values, dtype=float))):g}"


def _pick(named: dict[str, np.ndarray], wanted: str | None, role: str, own: bool) -> str:
    """The split used for ``role`` ("train"/"test")."""
    names = sorted(named)
    if wanted is not None:
        if wanted not in named:
            raise DataError(
                f"task labels: {role}_split = '{wanted}' is not a split of the dataset"
                f"{did_you_mean(wanted, names)} (splits: {', '.join(names)})"
            )
        return wanted
    like = [k for k in names if role in k.lower()]
    if len(like) != 1:
        whose = "the dataset's own splits" if own else "the splits"
        raise DataError(
            f"task labels: {whose} ({', '.join(names) or 'none'}) have no single one named "
            f"like '{role}'; set train_split and test_split to two of them"
        )
    return like[0]


class LabelsTask:
    def __init__(self, config: LabelsConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        store = ctx.prepare(dict(cfg.dataset))
        where = f"task labels ({cfg.dataset.get('name')})"
        values = [rec["labels"].get(cfg.label) for rec in store.records]
        if all(_missing(v) for v in values):
            keys = sorted({k for rec in store.records for k in rec["labels"]})
            raise DataError(
                f"{where}: no record has label '{cfg.label}'{did_you_mean(cfg.label, keys)} "
                f"(labels: {', '.join(keys) or 'none'})"
            )
        present = [v for v in values if not _missing(v)]
        bad = next((v for v in present if isinstance(v, (list, dict))), None)
        if bad is not None:
            raise DataError(
                f"{where}: label '{cfg.label}' holds {type(bad).__name__}s ({bad!r:.60}), not "
                "one class per record; pick a label with one value per record"
            )
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        if cfg.bins is not None:
            if not numeric:
                raise DataError(f"{where}: bins need a numeric label; '{cfg.label}' is not")
            values = [_binned(v, cfg.bins) if not _missing(v) else None for v in values]
            present = [v for v in values if v is not None]
        elif cont := next((v for v in present if isinstance(v, float) and not v.is_integer()),
                          None):  # fmt: skip
            raise DataError(
                f"{where}: label '{cfg.label}' is continuous (e.g. {cont}); this task predicts "
                f"classes: set bins, e.g. --set 'bins=[{_edge(present)}]', to predict ranges"
            )
        elif numeric and len(set(present)) > cfg.max_classes:
            raise DataError(
                f"{where}: label '{cfg.label}' is numeric with {len(set(present))} distinct "
                f"values (e.g. {present[0]}), a quantity rather than classes; set bins, e.g. "
                f"--set 'bins=[{_edge(present)}]', to predict ranges (or raise max_classes)"
            )
        values = [None if _missing(v) else cfg.merge.get(str(v), v) for v in values]
        found = sorted({str(v) for v in values if v is not None})
        if cfg.classes is not None:
            absent = [c for c in cfg.classes if c not in found]
            if absent:
                raise DataError(
                    f"{where}: classes {absent} are no value of label '{cfg.label}' (after "
                    f"merge); its values: {', '.join(found)}"
                )
            values = [v if v is not None and str(v) in cfg.classes else None for v in values]
        classes = list(cfg.classes) if cfg.classes is not None else found
        code = {c: i for i, c in enumerate(classes)}
        n = ctx.n_samples
        named = store.splits(list(cfg.split_fractions), ctx.seed)
        own = bool(store.meta.get("splits"))
        chosen = [
            _pick(named, cfg.train_split, "train", own),
            _pick(named, cfg.test_split, "test", own),
        ]
        if chosen[0] == chosen[1]:
            raise DataError(f"{where}: train and test are the same split '{chosen[0]}'")
        parts = []
        for split in chosen:
            recs = [int(r) for r in named[split] if not _missing(values[r])]
            counts = np.array([int(store.rec_len[r]) // n for r in recs], dtype=np.int64)
            if counts.sum() == 0:
                raise DataError(
                    f"{where}: split '{split}' has no labelled record of at least {n} samples "
                    "(the encoder's window); use more records or other split settings"
                )
            rec = np.repeat(np.asarray(recs, dtype=np.int64), counts)  # (N,) record of window
            first = np.repeat(np.cumsum(counts) - counts, counts)
            start = store.rec_start[rec] + (np.arange(rec.size) - first) * n
            y = np.array([code[str(values[r])] for r in rec], dtype=np.int64)
            part = LabelledWindows(
                store, start.astype(np.int64), n, y,
                np.asarray(store.patient_ids)[rec], np.asarray(store.record_ids)[rec],
            )  # fmt: skip
            part.side = hrv_features(part.rpeaks(), store.fs)
            parts.append(part)
        about = f"record label '{cfg.label}', {chosen[0]} -> {chosen[1]}"
        if cfg.merge:
            about += "; merged " + ", ".join(f"{a} -> {b}" for a, b in cfg.merge.items())
        if cfg.classes is not None:
            about += f"; classes {', '.join(classes)} (records of others left out)"
        return TaskData(parts[0], parts[1], classes, description=about,
                        side_names=list(HRV_FEATURES), aggregate=cfg.aggregate)  # fmt: skip


@hookimpl
def register_tasks() -> list[Spec]:
    return [
        Spec(
            name="labels",
            factory=LabelsTask,
            config=LabelsConfig,
            summary="any dataset's record label, non-overlapping windows, patient-wise split",
        )
    ]
