"""Multi-label SNOMED-CT diagnosis on PhysioNet/CinC 2021 12-lead records (Reyna et al. 2021).

One window per record (its first ``n_samples``), the classes are the Dx codes with at least
``min_count`` positive records, and records are split patient-wise (seeded) into train and test.
Small by design on the 50-record sample: it shows the 12-lead, multi-label plumbing end to end.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import Field

from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.errors import DataError
from ssl_ecg.tasks import LabelledWindows, TaskContext, TaskData


class Cinc2021DxConfig(Config):
    root: str = Field(
        description="folder of the challenge records (relative to the working folder)"
    )
    min_count: int = Field(3, ge=1, description="keep Dx codes with at least this many records")
    test_fraction: float = Field(0.3, gt=0, lt=1, description="patients held out for testing")


class Cinc2021Dx:
    def __init__(self, config: Cinc2021DxConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        store = ctx.prepare({"name": "physionet-challenge", "root": str(ctx.recipe_dir / cfg.root)})
        n = ctx.n_samples
        usable = np.flatnonzero(store.rec_len >= n)
        dx = [list(store.records[i]["labels"].get("dx") or []) for i in range(len(store.records))]
        counts = Counter(code for i in usable for code in dx[i])
        classes = [c for c, k in counts.most_common() if k >= cfg.min_count]
        if not classes:
            raise DataError(f"cinc2021-dx: no Dx code has {cfg.min_count} records; lower min_count")
        y = np.array([[c in dx[i] for c in classes] for i in usable], dtype=np.float32)  # (R, K)
        splits = store.splits([1 - cfg.test_fraction, 0.0, cfg.test_fraction], ctx.seed)
        parts = []
        for name in ("train", "test"):
            pick = np.isin(usable, splits[name])
            recs = usable[pick]
            parts.append(LabelledWindows(
                store, store.rec_start[recs].astype(np.int64), n, y[pick],
                np.asarray(store.patient_ids)[recs], np.asarray(store.record_ids)[recs],
            ))  # fmt: skip
        return TaskData(parts[0], parts[1], classes, multilabel=True,
                        description="CinC 2021 Dx codes, one window per record")  # fmt: skip


@hookimpl
def register_tasks() -> list[Spec]:
    return [
        Spec(
            name="cinc2021-dx",
            factory=Cinc2021Dx,
            config=Cinc2021DxConfig,
            summary="multi-label SNOMED-CT Dx on 12-lead challenge records, patient-wise split",
        )
    ]
