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

Cross-database test (``test = "svdb"``): the probe still learns on DS1 beats and is scored on
the MIT-BIH Supraventricular Arrhythmia Database (``svdb_root``; by default its "test" half,
which the shipped DS1 + SVDB pretraining recipes never read), N, S and V scored.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ssl_ecg import (
    RR_FEATURES,
    Config,
    DataError,
    LabelledWindows,
    Spec,
    TaskContext,
    TaskData,
    hookimpl,
    rr_features,
)
from ssl_ecg.wfdb import resolve_path

CLASSES = ["N", "S", "V", "F", "Q"]
SCORED = ["N", "S", "V", "F"]
SCORED_SVDB = ["N", "S", "V"]  # SVDB has 23 F beats in 39 h: F is reported, not averaged
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
    test: Literal["DS2", "svdb"] = Field(
        "DS2", description="test beats: MIT-BIH DS2, or the SVDB (cross-database: svdb_root)"
    )
    svdb_root: str | None = Field(None, description="folder of the SVDB records (800.hea, ...)")
    svdb_split: str | None = Field(
        "test", description="SVDB records to test on: its 'test' half (never in the shipped "
        "pretraining recipes), 'train', or null for all 78",
    )  # fmt: skip
    svdb_records: list[str] | None = Field(None, description="only these SVDB records")
    svdb_lead_map: dict[str, str] = Field(
        default_factory=lambda: {"ECG1": "MLII"},
        description="SVDB lead names -> the encoder's (its first lead is a modified lead II)",
    )


def _beats(store: Any, n: int) -> tuple[np.ndarray, ...]:
    """Every annotated beat whose centred window of ``n`` samples fits its record: global start
    (K,), class index (K,), record index (K,), RR side features (K, 7)."""
    beats = np.asarray(store.beats, dtype=np.int64)  # (K,) global positions
    labels = np.asarray(store.beat_labels).astype(str)  # (K,)
    rec = np.searchsorted(store.rec_start, beats, side="right") - 1  # (K,)
    side = rr_features(beats, rec, store.fs)  # (K, 7) from every annotated beat
    start = beats - n // 2
    inside = (start >= store.rec_start[rec]) & (
        start + n <= store.rec_start[rec] + store.rec_len[rec]
    )
    y = np.array([CLASSES.index(c) if c in CLASSES else -1 for c in labels], dtype=np.int64)
    keep = inside & (y >= 0)
    return start[keep], y[keep], rec[keep], side[keep]


def _windows(store: Any, beats: tuple[np.ndarray, ...], idx: np.ndarray, n: int) -> LabelledWindows:
    start, y, rec, side = beats
    idx = np.sort(idx)
    pid = np.asarray(store.patient_ids)[rec[idx]]
    rid = np.asarray(store.record_ids)[rec[idx]]
    return LabelledWindows(store, start[idx], n, y[idx], pid, rid, side[idx])


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
        beats = _beats(store, n)
        splits = store.splits([0.8, 0.1, 0.1], ctx.seed)
        if "DS1" not in splits or "DS2" not in splits:
            raise DataError(
                f"task mitbih-aami: the prepared data has no DS1/DS2 splits ({sorted(splits)}); "
                "its dataset must be 'mitbih'"
            )
        rng = np.random.default_rng(ctx.seed)
        y, rec = beats[1], beats[2]
        idx = self._pick(np.isin(rec, splits["DS1"]), "DS1")
        if not cfg.train_q:
            idx = idx[y[idx] != CLASSES.index("Q")]
        if cfg.max_train_per_class:
            idx = np.concatenate([
                rng.permutation(group)[: cfg.max_train_per_class]
                for c in range(len(CLASSES))
                if (group := idx[y[idx] == c]).size
            ])  # fmt: skip
        train = _windows(store, beats, idx, n)
        if cfg.test == "svdb":
            test_store, test_beats = self._svdb(n)
            test_idx = self._pick(np.ones(test_beats[0].size, dtype=bool), "the SVDB")
        else:
            test_store, test_beats = store, beats
            test_idx = self._pick(np.isin(rec, splits["DS2"]), "DS2")
        if cfg.max_test and test_idx.size > cfg.max_test:
            test_idx = rng.choice(test_idx, cfg.max_test, replace=False)
        test = _windows(test_store, test_beats, test_idx, n)
        where = "DS2" if cfg.test == "DS2" else f"SVDB ({cfg.svdb_split or 'all'} records)"
        about = f"MIT-BIH AAMI beats, DS1 -> {where}, {n / ctx.fs:g} s beat-centred windows"
        scored = SCORED if cfg.test == "DS2" else SCORED_SVDB
        return TaskData(train, test, list(CLASSES), scored=list(scored), description=about,
                        side_names=list(RR_FEATURES), beat_centred=True)  # fmt: skip

    @staticmethod
    def _pick(mask: np.ndarray, name: str) -> np.ndarray:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            raise DataError(
                f"task mitbih-aami: no beats of {name} among the prepared records; "
                f"records must include some of {name} (or leave 'records' unset)"
            )
        return idx

    def _svdb(self, n: int) -> tuple[Any, tuple[np.ndarray, ...]]:
        cfg, ctx = self.config, self.context
        if cfg.svdb_root is None:
            raise DataError(
                "task mitbih-aami: test = 'svdb' needs svdb_root, e.g. --set svdb_root=path/to/svdb"
            )
        root = resolve_path(cfg.svdb_root, ctx.recipe_dir)
        if not (root.is_dir() and any(root.glob("8*.hea"))):
            raise DataError(f"task mitbih-aami: {root}: no SVDB records (800.hea, ...)")
        table: dict[str, Any] = {"name": "svdb", "root": str(root), "lead_map": cfg.svdb_lead_map}
        if cfg.svdb_records is not None:
            table["records"] = list(cfg.svdb_records)
        store = ctx.prepare(table)
        beats = _beats(store, n)
        if cfg.svdb_split is not None:
            splits = store.splits([0.8, 0.1, 0.1], ctx.seed)
            if cfg.svdb_split not in splits:
                raise DataError(
                    f"task mitbih-aami: svdb_split = '{cfg.svdb_split}' is not an SVDB split "
                    f"({', '.join(splits)})"
                )
            keep = np.isin(beats[2], splits[cfg.svdb_split])
            beats = tuple(b[keep] for b in beats)
        return store, beats


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
