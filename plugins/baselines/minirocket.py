"""MiniRocket random convolutional features (Dempster et al. 2021, aeon's implementation).

Fixed random dilated kernels; only their biases are fitted, from quantiles of the convolution
outputs on ``fit_windows`` training windows (no labels). The same linear probe as an encoder's
then reads the ~10,000 proportion-of-positive-values features: the strongest cheap random-feature
baseline for time series, and the fair reading of "a random encoder matches a pretrained one".
"""

from __future__ import annotations

import os

import numpy as np
from pydantic import Field

from ssl_ecg import Baseline, BaselineContext, Config, LabelledWindows, Spec, TaskData, hookimpl


class MiniRocketConfig(Config):
    n_kernels: int = Field(10_000, ge=84, description="features (a multiple of 84 is used)")
    fit_windows: int = Field(
        2_000, ge=1, description="training windows the biases are drawn from (seeded)"
    )
    n_jobs: int = Field(0, ge=0, description="threads; 0 = one per core")


class MiniRocket(Baseline):
    def __init__(self, config: MiniRocketConfig, context: BaselineContext) -> None:
        self.config = config
        self.context = context
        self.model = None

    def fit(self, task: TaskData) -> None:
        from aeon.transformations.collection.convolution_based import MiniRocket as Transform

        cfg = self.config
        train = task.train
        rng = np.random.default_rng(self.context.seed)
        idx = np.sort(rng.permutation(len(train))[: cfg.fit_windows])
        jobs = cfg.n_jobs or os.cpu_count() or 1
        self.model = Transform(n_kernels=cfg.n_kernels, n_jobs=jobs,
                               random_state=self.context.seed)  # fmt: skip
        self.model.fit(train.read(idx).astype(np.float32))

    def transform(self, windows: LabelledWindows) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("MiniRocket.transform before fit")
        out = []
        for a in range(0, len(windows), 2048):
            x = windows.read(np.arange(a, min(a + 2048, len(windows))))  # (B, C, T)
            out.append(np.asarray(self.model.transform(x.astype(np.float32)), dtype=np.float32))
        return np.concatenate(out)


@hookimpl
def register_baselines() -> list[Spec]:
    return [
        Spec(
            name="minirocket",
            factory=MiniRocket,
            config=MiniRocketConfig,
            summary="MiniRocket random convolutional features (aeon), fitted biases, no labels",
        )
    ]
