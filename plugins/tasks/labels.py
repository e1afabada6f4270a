"""A generic task for any dataset plugin whose records carry a label and a patient id.

Every full, non-overlapping window of a labelled record inherits the record's label (records
without it are left out); the split is the dataset's own ``train``/``test`` when it defines
them, else patient-wise and seeded (``split_fractions`` = train, val, test).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.errors import DataError, did_you_mean
from ssl_ecg.tasks import LabelledWindows, TaskContext, TaskData


class LabelsConfig(Config):
    dataset: dict[str, Any] = Field(description="the dataset's [data] table, e.g. {name = 'wfdb'}")
    label: str = Field(description="key of the record labels to predict, e.g. 'sex'")
    split_fractions: list[float] = Field(default_factory=lambda: [0.7, 0.1, 0.2])


class LabelsTask:
    def __init__(self, config: LabelsConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        store = ctx.prepare(dict(cfg.dataset))
        values = [rec["labels"].get(cfg.label) for rec in store.records]
        if all(v is None for v in values):
            keys = sorted({k for rec in store.records for k in rec["labels"]})
            raise DataError(
                f"task labels: no record has label '{cfg.label}'{did_you_mean(cfg.label, keys)} "
                f"(labels: {', '.join(keys) or 'none'})"
            )
        classes = sorted({str(v) for v in values if v is not None})
        n = ctx.n_samples
        named = store.splits(cfg.split_fractions, ctx.seed)
        if not {"train", "test"} <= set(named):
            raise DataError(f"task labels: the dataset's splits {sorted(named)} have no train/test")
        parts = []
        for name in ("train", "test"):
            starts, ys, recs = [], [], []
            for r in named[name]:
                if values[r] is None:
                    continue
                k = int(store.rec_len[r]) // n
                starts.append(store.rec_start[r] + np.arange(k) * n)
                ys.append(np.full(k, classes.index(str(values[r]))))
                recs.append(np.full(k, r))
            rec = np.concatenate(recs) if recs else np.zeros(0, dtype=np.int64)
            parts.append(LabelledWindows(
                store, np.concatenate(starts).astype(np.int64) if starts else rec,
                n, np.concatenate(ys).astype(np.int64) if ys else rec,
                np.asarray(store.patient_ids)[rec], np.asarray(store.record_ids)[rec],
            ))  # fmt: skip
        return TaskData(parts[0], parts[1], classes, description=f"record label '{cfg.label}'")


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
