"""The PTB-XL benchmark (Strodthoff, Wagner, Schaeffter, Samek, "Deep learning for ECG analysis:
benchmarks and insights from PTB-XL", IEEE JBHI 25(5):1519-1528, 2021; arXiv 2004.13701; code
helme/ecg_ptbxl_benchmarking) on Wagner et al.'s PTB-XL (Sci Data 7:154, 2020), as its SSL use by
Mehari & Strodthoff 2022 (hhi-aml/ecg-selfsupervised) scores it.

Label sets (``labels``), built from ``scp_statements.csv`` exactly as the benchmark's
``compute_label_aggregations`` / ``select_data`` (code/utils/utils.py) build them:

* ``all`` (71 on full PTB-XL): every SCP statement of the record;
* ``diagnostic`` (44): the statements flagged ``diagnostic``;
* ``subdiagnostic`` (23) / ``superdiagnostic`` (5): their ``diagnostic_subclass`` /
  ``diagnostic_class``;
* ``form`` (19) / ``rhythm`` (12): the statements flagged ``form`` / ``rhythm``.

As in the benchmark's code, every statement of ``scp_codes`` counts whatever its likelihood
(rhythm statements such as SR carry likelihood 0; a likelihood > 0 rule would drop them), and a
record none of whose statements is in the set is left out. Labels absent from the training folds
are dropped (on full PTB-XL none are; on a sample some are), and so are the records left without
a label. Folds (PTB-XL's patient-wise ``strat_fold``): ``train_folds`` 1-8, ``val_folds`` 9 (model
selection and early stopping for fine-tuning), ``test_folds`` 10.

Windows (Strodthoff et al. 2021 §IV-A): ``window_s`` (default: the encoder's window; 2.5 s in the
benchmark) cut with stride ``stride_s`` (default half the window: 1.25 s) from every record of
every split. Training windows are the fixed crops for frozen-feature probes; fine-tuning draws a
random crop of each training record instead (the benchmark's random 2.5 s crops). Validation and
test predictions are aggregated per record by their maximum (the benchmark's choice, the
headline ``aggregate = "max"``) and by their mean (Mehari & Strodthoff's, reported beside it),
and scored per record: macro AUROC over the labels with both classes in the test records, with
the patient bootstrap.

Side features: heart-rate variability of each window (:func:`ssl_ecg.tasks.hrv_features`).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Literal

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
from ssl_ecg.data.store import Store
from ssl_ecg.wfdb import resolve_path

WHERE = "task ptbxl"
ROOT_HINT = (
    "set the task's root to the PTB-XL folder (ptbxl_database.csv, scp_statements.csv, "
    "records100/), e.g. --set root=path/to/ptb-xl"
)
LabelSet = Literal["all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm"]
# label set -> (scp_statements.csv flag column, column naming the label; None = the code)
LABEL_SETS: dict[str, tuple[str | None, str | None]] = {
    "all": (None, None),
    "diagnostic": ("diagnostic", None),
    "subdiagnostic": ("diagnostic", "diagnostic_subclass"),
    "superdiagnostic": ("diagnostic", "diagnostic_class"),
    "form": ("form", None),
    "rhythm": ("rhythm", None),
}
Fold = Annotated[int, Field(ge=1, le=10)]


class PtbxlConfig(Config):
    root: str = Field(
        description="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/); a "
        "relative path is read from the recipe's folder"
    )
    labels: LabelSet = Field(
        "superdiagnostic",
        description="the benchmark's label set: all (71), diagnostic (44), subdiagnostic (23), "
        "superdiagnostic (5), form (19), rhythm (12)",
    )
    train_folds: list[Fold] = Field(default_factory=lambda: list(range(1, 9)))
    val_folds: list[Fold] = Field(
        default_factory=lambda: [9], description="model selection (fine-tuning); [] for none"
    )
    test_folds: list[Fold] = Field(default_factory=lambda: [10])
    window_s: float | None = Field(
        None, gt=0, description="window length (s); default: the encoder's (benchmark: 2.5)"
    )
    stride_s: float | None = Field(
        None, gt=0, description="stride of the windows (s); default: half the window"
    )
    aggregate: Literal["max", "record"] = Field(
        "max", description="the headline record aggregation: max (benchmark) or record (mean)"
    )

    @model_validator(mode="after")
    def _check(self) -> PtbxlConfig:
        if not self.train_folds or not self.test_folds:
            raise ValueError("train_folds and test_folds must each name at least one fold")
        parts = (self.train_folds, self.val_folds, self.test_folds)
        for i, a in enumerate(parts):
            for b in parts[i + 1 :]:
                if set(a) & set(b):
                    shared = sorted(set(a) & set(b))
                    raise ValueError(f"train/val/test folds share fold(s) {shared}")
        return self


def read_label_map(path: Path, label_set: str) -> dict[str, str]:
    """SCP code -> label of ``label_set`` (codes outside the set are absent; ``all``: every
    statement of the file maps to itself)."""
    flag, column = LABEL_SETS[label_set]
    if not path.is_file():
        raise DataError(f"{WHERE}: {path}: not found; {ROOT_HINT}")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DataError(f"{WHERE}: {path}: no statements")
    code_col = next(iter(rows[0]))  # the first, unnamed column holds the code
    for name in (flag, column):
        if name is not None and name not in rows[0]:
            raise DataError(f"{WHERE}: {path}: has no column '{name}'")
    out: dict[str, str] = {}
    for row in rows:
        code = row[code_col].strip()
        if flag is not None and (row[flag] or "").strip() not in ("1", "1.0"):
            continue
        label = code if column is None else (row[column] or "").strip()
        if label and label != "nan":
            out[code] = label
    return out


def record_labels(store: Store, label_map: dict[str, str], label_set: str) -> list[list[str]]:
    """The sorted labels of each prepared record (every statement, whatever its likelihood)."""
    out = []
    for rec in store.records:
        codes = rec["labels"].get("scp_codes") or {}
        if label_set == "all":  # the benchmark's all_scp: the record's statements themselves
            out.append(sorted(codes))
        else:
            out.append(sorted({label_map[c] for c in codes if c in label_map}))
    return out


def windows(
    store: Store, recs: np.ndarray, y_rec: np.ndarray, n: int, stride: int
) -> LabelledWindows:
    """Windows of ``n`` samples every ``stride`` of records ``recs`` (each record at least one,
    its start), with each record's span for random crops."""
    lens = store.rec_len[recs].astype(np.int64)  # (R,)
    counts = np.where(lens >= n, (lens - n) // stride + 1, 0)  # (R,)
    rec = np.repeat(recs, counts)  # (N,) record of each window
    first = np.repeat(np.cumsum(counts) - counts, counts)
    start = store.rec_start[rec] + (np.arange(rec.size) - first) * stride
    span = np.stack([store.rec_start[rec], store.rec_start[rec] + store.rec_len[rec]], 1)
    return LabelledWindows(
        store, start.astype(np.int64), n, y_rec[rec], np.asarray(store.patient_ids)[rec],
        np.asarray(store.record_ids)[rec], span=span.astype(np.int64),
    )  # fmt: skip


class Ptbxl:
    def __init__(self, config: PtbxlConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def _split(self, fold: np.ndarray, patients: np.ndarray, root: Path) -> list[np.ndarray]:
        cfg = self.config
        parts = [np.flatnonzero(np.isin(fold, f))
                 for f in (cfg.train_folds, cfg.val_folds, cfg.test_folds)]  # fmt: skip
        for (a, name_a), (b, name_b) in (((0, "train"), (2, "test")), ((1, "val"), (2, "test"))):
            both = sorted(set(patients[parts[a]]) & set(patients[parts[b]]))
            if both:
                raise DataError(
                    f"{WHERE}: {root / 'ptbxl_database.csv'}: patient(s) {', '.join(both[:5])} "
                    f"have records in {name_a} and {name_b} folds; PTB-XL's strat_folds must "
                    "be patient-wise"
                )
        return parts

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        root = resolve_path(cfg.root, ctx.recipe_dir)
        if not (root / "ptbxl_database.csv").is_file():
            raise DataError(f"{WHERE}: {root}: no ptbxl_database.csv; {ROOT_HINT}")
        label_map = read_label_map(root / "scp_statements.csv", cfg.labels)
        folds = sorted(set(cfg.train_folds) | set(cfg.val_folds) | set(cfg.test_folds))
        store = ctx.prepare({"name": "ptbxl", "root": str(root), "folds": folds})
        labels = record_labels(store, label_map, cfg.labels)
        fold = np.array([int(rec["labels"]["strat_fold"]) for rec in store.records])  # (R,)
        parts = self._split(fold, np.asarray(store.patient_ids), root)
        classes = sorted({c for i in parts[0] for c in labels[i]})  # present in training
        if not classes:
            raise DataError(f"{WHERE}: no training record (folds {cfg.train_folds}) has a "
                            f"'{cfg.labels}' label")  # fmt: skip
        y_rec = np.array(
            [[c in set(lab) for c in classes] for lab in labels], dtype=np.float32
        ).reshape(-1, len(classes))  # (R, K) fmt: skip
        keep = y_rec.any(1)  # the benchmark leaves out records without a label of the set
        n = round(cfg.window_s * ctx.fs) if cfg.window_s else ctx.n_samples
        stride = max(1, round(cfg.stride_s * ctx.fs) if cfg.stride_s else n // 2)
        out = []
        for name, recs in zip(("train", "val", "test"), parts, strict=True):
            part = windows(store, recs[keep[recs]], y_rec, n, stride)
            if len(part) == 0 and name != "val":
                raise DataError(f"{WHERE}: no labelled {name} record is {n} samples long; use "
                                "a shorter window_s or other folds")  # fmt: skip
            part.side = hrv_features(part.rpeaks(), store.fs)
            out.append(part if len(part) else None)
        about = (
            f"PTB-XL '{cfg.labels}' ({len(classes)} labels), folds {cfg.train_folds} -> "
            f"{cfg.test_folds} (val {cfg.val_folds}), {n / ctx.fs:g} s windows every "
            f"{stride / ctx.fs:g} s, records scored by the {cfg.aggregate} of their windows"
        )
        other = "record" if cfg.aggregate == "max" else "max"
        return TaskData(out[0], out[2], classes, multilabel=True, description=about,
                        side_names=list(HRV_FEATURES), aggregate=cfg.aggregate,
                        also_aggregate=[other], val=out[1], random_crops=True)  # fmt: skip


@hookimpl
def register_tasks() -> list[Spec]:
    return [
        Spec(
            name="ptbxl",
            factory=Ptbxl,
            config=PtbxlConfig,
            summary="PTB-XL benchmark: label sets all/diagnostic/sub-/superdiagnostic/form/"
            "rhythm, folds 1-8/9/10, windows aggregated per record (max, mean)",
        )
    ]
