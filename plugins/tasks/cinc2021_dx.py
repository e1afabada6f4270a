"""Multi-label SNOMED-CT diagnosis on PhysioNet/CinC 2021 12-lead records (Reyna et al. 2021).

One window per record (its first ``n_samples``; shorter records are left out). The classes are
the Dx codes with at least ``min_count`` positive records among those windows, most frequent
first; ``y`` is multi-hot (N, K) float32. Records are split patient-wise and seeded: the store's
``splits([1 - test_fraction, 0, test_fraction], seed)``, train = "train", test = "test". Small by
design on the 50-record sample: it shows the 12-lead, multi-label plumbing end to end.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import Field

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

ROOT_HINT = (
    "set the task's root to the folder of the challenge records (*.hea + *.mat), "
    "e.g. --set root=path/to/cinc2021-12lead-sample"
)


class Cinc2021DxConfig(Config):
    root: str = Field(
        description="folder of the challenge records (*.hea + *.mat); a relative path is read "
        "from the recipe's folder"
    )
    min_count: int = Field(3, ge=1, description="keep Dx codes with at least this many records")
    test_fraction: float = Field(
        0.3, gt=0, lt=1, description="fraction of patients held out for testing (rest: train)"
    )


class Cinc2021Dx:
    def __init__(self, config: Cinc2021DxConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        root = resolve_path(cfg.root, ctx.recipe_dir)
        if not (root.is_dir() and any(root.rglob("*.hea"))):
            raise DataError(f"task cinc2021-dx: {root}: no challenge records (*.hea); {ROOT_HINT}")
        store = ctx.prepare({"name": "physionet-challenge", "root": str(root)})
        n = ctx.n_samples
        usable = np.flatnonzero(store.rec_len >= n)
        if usable.size == 0:
            raise DataError(
                f"task cinc2021-dx: no record is {n} samples long (the encoder's window); "
                "use an encoder with a shorter window"
            )
        dx = [list(rec["labels"].get("dx") or []) for rec in store.records]
        counts = Counter(code for i in usable for code in set(dx[i]))
        classes = [c for c, k in counts.most_common() if k >= cfg.min_count]
        if not classes:
            raise DataError(
                f"task cinc2021-dx: no Dx code has {cfg.min_count} records; lower min_count"
            )
        y = np.array([[c in dx[i] for c in classes] for i in usable], dtype=np.float32)  # (R, K)
        splits = store.splits([1 - cfg.test_fraction, 0.0, cfg.test_fraction], ctx.seed)
        if not {"train", "test"} <= set(splits):
            raise DataError(
                f"task cinc2021-dx: the dataset's own splits {sorted(splits)} have no train/test"
            )
        parts = []
        for name in ("train", "test"):
            pick = np.isin(usable, splits[name])
            recs = usable[pick]
            if recs.size == 0:
                raise DataError(
                    f"task cinc2021-dx: the {name} split is empty ({usable.size} usable records); "
                    "change test_fraction or use more records"
                )
            part = LabelledWindows(
                store, store.rec_start[recs].astype(np.int64), n, y[pick],
                np.asarray(store.patient_ids)[recs], np.asarray(store.record_ids)[recs],
            )  # fmt: skip
            part.side = hrv_features(part.rpeaks(), store.fs)
            parts.append(part)
        return TaskData(parts[0], parts[1], classes, multilabel=True,
                        description="CinC 2021 Dx codes, one window per record",
                        side_names=list(HRV_FEATURES))  # fmt: skip


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
