"""The handcrafted baseline: a downsampled waveform, which the task's side features join.

Per lead, the window (or, for beat-centred windows, its central ``beat_s`` seconds: the beat
itself) is averaged into ``points`` equal bins. With ``record_median`` (default) the median
waveform of the record's windows is subtracted, so the features say how a beat differs from
that patient's usual beat (as the RR features are divided by the record's median RR): a test-time
use of each test record's unlabelled windows, chosen over the raw waveform by a patient-grouped
5-fold cross-validation within MIT-BIH DS1 (macro-F1 0.421 vs 0.408:
benchmarks/handcrafted_cv.py; RESULTS.md).

Scored with ``--features embedding+side`` this is the classic inter-patient beat classifier's
input (RR intervals + beat morphology, e.g. de Chazal et al. 2004; Zhang et al. 2014) under the
same linear probe an encoder gets: the "is an encoder worth it at all" line.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ssl_ecg import Baseline, BaselineContext, Config, LabelledWindows, Spec, TaskData, hookimpl


class HandcraftedConfig(Config):
    beat_s: float = Field(0.6, gt=0, description="span kept around the centre of a beat (s)")
    points: int = Field(40, ge=2, description="samples per lead after bin-averaging")
    record_median: bool = Field(
        True, description="subtract the median waveform of each record's windows"
    )


class Handcrafted(Baseline):
    def __init__(self, config: HandcraftedConfig, context: BaselineContext) -> None:
        self.config = config
        self.context = context
        self.crop = False

    def fit(self, task: TaskData) -> None:
        self.crop = task.beat_centred

    def transform(self, windows: LabelledWindows) -> np.ndarray:
        n = windows.length
        lo, hi = 0, n
        if self.crop:
            half = min(n // 2, round(self.config.beat_s * self.context.fs / 2))
            lo, hi = n // 2 - half, n // 2 + half
        points = min(self.config.points, hi - lo)
        edges = np.linspace(lo, hi, points + 1).round().astype(np.int64)  # (P+1,)
        out = []
        for a in range(0, len(windows), 4096):
            x = windows.read(np.arange(a, min(a + 4096, len(windows))))  # (B, C, T)
            binned = np.add.reduceat(x[..., lo:hi], edges[:-1] - lo, axis=-1)  # (B, C, P)
            out.append((binned / np.diff(edges)).reshape(len(x), -1))
        z = np.concatenate(out).astype(np.float32)  # (N, C * P)
        if self.config.record_median:
            for rec in np.unique(windows.records):
                mine = windows.records == rec
                z[mine] -= np.median(z[mine], axis=0)
        return z


@hookimpl
def register_baselines() -> list[Spec]:
    return [
        Spec(
            name="handcrafted",
            factory=Handcrafted,
            config=HandcraftedConfig,
            summary="downsampled beat/window waveform (+ the task's side features): no learning",
        )
    ]
