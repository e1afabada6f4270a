"""PTB-XL diagnostic superclasses, multi-label (the benchmark of Strodthoff et al., IEEE JBHI
25(5):1519-1528, 2021, on Wagner et al.'s PTB-XL, Sci Data 7:154, 2020).

The ``ptbxl`` dataset is prepared under the encoder's data contract. Every full, non-overlapping
window of the encoder's length (stride = the window) of a record carries the record's multi-hot
superclasses over the classes NORM, MI, STTC, CD, HYP (``y`` (N, 5) float32; the record label
``superclasses``: diagnostic SCP statements with likelihood > 0 mapped through
``scp_statements.csv``). Records without any diagnostic superclass stay in, with an all-zero row.
Train = the records of ``train_folds`` (default 1-8), test = those of ``test_folds`` (default
10); PTB-XL's strat_folds are patient-wise, and a patient found in both is a DataError. Fold 9
(validation) is unused by default.

Side features: heart-rate variability of each window from the R-peaks detected at prepare time
(:func:`ssl_ecg.tasks.hrv_features`: mean RR, SDNN, RMSSD, pNN50, CVSD, number of beats).
"""

from __future__ import annotations

from typing import Annotated

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
    hookimpl,
    hrv_features,
)
from ssl_ecg.wfdb import resolve_path

CLASSES = ["NORM", "MI", "STTC", "CD", "HYP"]
WHERE = "task ptbxl-superclass"
ROOT_HINT = (
    "set the task's root to the PTB-XL folder (ptbxl_database.csv, scp_statements.csv, "
    "records100/), e.g. --set root=path/to/ptb-xl"
)

Fold = Annotated[int, Field(ge=1, le=10)]


class PtbxlSuperclassConfig(Config):
    root: str = Field(
        description="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/); a "
        "relative path is read from the recipe's folder"
    )
    train_folds: list[Fold] = Field(
        default_factory=lambda: list(range(1, 9)), description="strat_folds to train on"
    )
    test_folds: list[Fold] = Field(
        default_factory=lambda: [10], description="strat_folds to test on"
    )

    @model_validator(mode="after")
    def _check(self) -> PtbxlSuperclassConfig:
        if not self.train_folds or not self.test_folds:
            raise ValueError("train_folds and test_folds must each name at least one fold")
        shared = sorted(set(self.train_folds) & set(self.test_folds))
        if shared:
            raise ValueError(f"train_folds and test_folds share fold(s) {shared}")
        return self


class PtbxlSuperclass:
    def __init__(self, config: PtbxlSuperclassConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        root = resolve_path(cfg.root, ctx.recipe_dir)
        if not (root / "ptbxl_database.csv").is_file():
            raise DataError(f"{WHERE}: {root}: no ptbxl_database.csv; {ROOT_HINT}")
        folds = sorted(set(cfg.train_folds) | set(cfg.test_folds))
        store = ctx.prepare({"name": "ptbxl", "root": str(root), "folds": folds})
        labels = [rec["labels"] for rec in store.records]
        fold = np.array([int(lab["strat_fold"]) for lab in labels])  # (R,)
        y_rec = np.array(
            [[c in (lab.get("superclasses") or []) for c in CLASSES] for lab in labels],
            dtype=np.float32,
        ).reshape(-1, len(CLASSES))  # (R, 5)
        patients = np.asarray(store.patient_ids)
        train = np.flatnonzero(np.isin(fold, cfg.train_folds))
        test = np.flatnonzero(np.isin(fold, cfg.test_folds))
        both = sorted(set(patients[train]) & set(patients[test]))
        if both:
            raise DataError(
                f"{WHERE}: {root / 'ptbxl_database.csv'}: patient(s) {', '.join(both[:5])} "
                f"have records in train folds {cfg.train_folds} and test folds {cfg.test_folds}; "
                "PTB-XL's strat_folds must be patient-wise"
            )
        n = ctx.n_samples
        parts = []
        for name, recs in (("train", train), ("test", test)):
            counts = store.rec_len[recs].astype(np.int64) // n  # full windows per record
            if counts.sum() == 0:
                raise DataError(
                    f"{WHERE}: no {name} record (folds "
                    f"{cfg.train_folds if name == 'train' else cfg.test_folds}) is {n} samples "
                    "long (the encoder's window); use other folds or a shorter window"
                )
            rec = np.repeat(recs, counts)  # (N,) record of each window
            first = np.repeat(np.cumsum(counts) - counts, counts)
            start = store.rec_start[rec] + (np.arange(rec.size) - first) * n
            part = LabelledWindows(
                store, start.astype(np.int64), n, y_rec[rec],
                patients[rec], np.asarray(store.record_ids)[rec],
            )  # fmt: skip
            part.side = hrv_features(part.rpeaks(), store.fs)
            parts.append(part)
        about = (
            f"PTB-XL diagnostic superclasses, folds {cfg.train_folds} -> {cfg.test_folds}, "
            f"{n / ctx.fs:g} s windows"
        )
        return TaskData(parts[0], parts[1], list(CLASSES), multilabel=True, description=about,
                        side_names=list(HRV_FEATURES))  # fmt: skip


@hookimpl
def register_tasks() -> list[Spec]:
    return [
        Spec(
            name="ptbxl-superclass",
            factory=PtbxlSuperclass,
            config=PtbxlSuperclassConfig,
            summary="PTB-XL multi-label superclasses NORM/MI/STTC/CD/HYP, train folds 1-8, test 10",
        )
    ]
