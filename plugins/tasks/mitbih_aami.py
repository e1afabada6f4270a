"""MIT-BIH beat classification, AAMI classes, inter-patient (de Chazal et al. 2004).

Windows of the encoder's length are centred on every annotated beat (start = beat -
``n_samples // 2``; a beat whose window would cross its record's ends is left out); the classes
are the AAMI (ANSI/AAMI EC57) groups N, S, V, F and Q. Training beats come from DS1, test beats
from DS2 (the ``mitbih`` dataset's own splits, record 202 left out of DS2 as the same subject as
201); N, S, V and F are scored, Q (a handful of unclassifiable beats once the paced records are
excluded: 8 in DS1, 7 in DS2) is reported only, and left out of the probe's training beats
unless ``train_q`` (eight examples of an unscored class, up-weighted by a class-balanced probe,
would only pull normal beats into Q).

Side features (``--features side`` / ``embedding+side``): per beat, the RR intervals before and
after it, the mean of the previous 10, each divided by the record's median RR, and before /
after, from the annotated beat positions (:func:`ssl_ecg.tasks.rr_features`). ``context_s``
sets the window around each beat (default: the encoder's own window), so the encoder itself can
see the neighbouring beats that the S class hinges on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.data.wfdb_io import resolve_path
from ssl_ecg.errors import DataError
from ssl_ecg.tasks import RR_FEATURES, LabelledWindows, TaskContext, TaskData, rr_features

CLASSES = ["N", "S", "V", "F", "Q"]
SCORED = ["N", "S", "V", "F"]
ROOT_HINT = "set the task's root to the MIT-BIH folder, e.g. --set root=path/to/mitbih-arrhythmia"


class MitbihAamiConfig(Config):
    root: str = Field(
        description="folder of the MIT-BIH records (100.hea, 100.dat, 100.atr, ...); a relative "
        "path is read from the recipe's folder"
    )
    records: list[str] | None = Field(None, description="only these records (tests, quick runs)")
    max_train_per_class: int | None = Field(
        None, ge=1, description="at most this many training beats per class (seeded)"
    )
    max_test: int | None = Field(None, ge=1, description="at most this many test beats (seeded)")
    train_q: bool = Field(False, description="train the probe on DS1's Q beats too")
    context_s: float | None = Field(
        None, gt=0, description="window around each beat (s); default: the encoder's window. "
        "A ViT needs a multiple of its patch; a CNN takes any length",
    )  # fmt: skip


class MitbihAami:
    def __init__(self, config: MitbihAamiConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        root = resolve_path(cfg.root, ctx.recipe_dir)
        if not (root.is_dir() and any(root.glob("*.hea"))):
            raise DataError(f"task mitbih-aami: {root}: no MIT-BIH records (*.hea); {ROOT_HINT}")
        table: dict[str, Any] = {"name": "mitbih", "root": str(root)}
        if cfg.records is not None:
            table["records"] = list(cfg.records)
        store = ctx.prepare(table)
        n = round(cfg.context_s * ctx.fs) if cfg.context_s else ctx.n_samples
        beats = np.asarray(store.beats, dtype=np.int64)  # (K,) global positions
        labels = np.asarray(store.beat_labels).astype(str)  # (K,)
        rec = np.searchsorted(store.rec_start, beats, side="right") - 1  # (K,)
        side = rr_features(beats, rec, store.fs)  # (K, 7) from every annotated beat
        start = beats - n // 2
        inside = (start >= store.rec_start[rec]) & (
            start + n <= store.rec_start[rec] + store.rec_len[rec]
        )
        y = np.array([CLASSES.index(c) if c in CLASSES else -1 for c in labels], dtype=np.int64)
        known = inside & (y >= 0)
        splits = store.splits([0.8, 0.1, 0.1], ctx.seed)
        if "DS1" not in splits or "DS2" not in splits:
            raise DataError(
                f"task mitbih-aami: the prepared data has no DS1/DS2 splits ({sorted(splits)}); "
                "its dataset must be 'mitbih'"
            )
        rng = np.random.default_rng(ctx.seed)
        parts = []
        for name in ("DS1", "DS2"):
            idx = np.flatnonzero(known & np.isin(rec, splits[name]))
            if idx.size == 0:
                raise DataError(
                    f"task mitbih-aami: no beats of {name} among the prepared records; "
                    f"records must include some of {name} (or leave 'records' unset)"
                )
            if name == "DS1" and not cfg.train_q:
                idx = idx[y[idx] != CLASSES.index("Q")]
            if name == "DS1" and cfg.max_train_per_class:
                idx = np.concatenate([
                    rng.permutation(group)[: cfg.max_train_per_class]
                    for c in range(len(CLASSES))
                    if (group := idx[y[idx] == c]).size
                ])  # fmt: skip
            if name == "DS2" and cfg.max_test and idx.size > cfg.max_test:
                idx = rng.choice(idx, cfg.max_test, replace=False)
            idx = np.sort(idx)
            pid = np.asarray(store.patient_ids)[rec[idx]]
            rid = np.asarray(store.record_ids)[rec[idx]]
            parts.append(LabelledWindows(store, start[idx], n, y[idx], pid, rid, side[idx]))
        about = f"MIT-BIH AAMI beats, DS1 -> DS2, {n / ctx.fs:g} s beat-centred windows"
        return TaskData(parts[0], parts[1], list(CLASSES), scored=list(SCORED),
                        description=about, side_names=list(RR_FEATURES),
                        beat_centred=True)  # fmt: skip


@hookimpl
def register_tasks() -> list[Spec]:
    return [
        Spec(
            name="mitbih-aami",
            factory=MitbihAami,
            config=MitbihAamiConfig,
            summary="MIT-BIH beats N/S/V/F (+Q), centred windows, train DS1, test DS2",
        )
    ]
