"""Synthetic ECGs simulated with neurokit2 (ECGSYN): the embedded default dataset.

Reproducible under ``seed``; one simulated patient per record. Labels: ``heart_rate`` (bpm) and
``hr_band`` ("slow" / "fast", split at ``hr_band_bpm``), a categorical label for quick tests of
evaluation tasks.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ssl_ecg import Config, DatasetContext, Record, RecordSource, Spec, hookimpl

STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


class SyntheticConfig(Config):
    n_records: int = Field(24, ge=1, description="number of simulated records (one patient each)")
    duration_s: float = Field(60.0, ge=1, description="length of each record (s)")
    source_fs: float = Field(250.0, gt=0, description="rate the simulator samples at (Hz)")
    n_leads: int = Field(
        1, ge=1, le=12, description="1 = lead II (fast); >1 = standard 12-lead order"
    )
    heart_rate_min: float = Field(55.0, gt=20)
    heart_rate_max: float = Field(100.0, lt=250)
    noise: float = Field(0.01, ge=0, description="simulator noise (mV)")
    hr_band_bpm: float | None = Field(
        None, gt=0, description="heart rate splitting hr_band 'slow'/'fast' (default: midpoint)"
    )
    seed: int = 0

    @model_validator(mode="after")
    def _rates(self) -> SyntheticConfig:
        if self.heart_rate_min > self.heart_rate_max:
            raise ValueError("heart_rate_min must not exceed heart_rate_max")
        return self


class SyntheticECG(RecordSource):
    """Simulated records, one per key; record i is the same for the same seed."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.leads = ["II"] if config.n_leads == 1 else STANDARD_LEADS[: config.n_leads]
        mid = (config.heart_rate_min + config.heart_rate_max) / 2
        self.band = config.hr_band_bpm if config.hr_band_bpm is not None else mid

    def keys(self) -> list[str]:
        return [str(i) for i in range(self.config.n_records)]

    def record_id(self, key: str) -> str:
        """The id ``load(key)`` gives its record (a labels file may use it or the key)."""
        return f"synthetic-{self.config.seed}-{int(key):05d}"

    def load(self, key: str) -> Record:
        import neurokit2 as nk

        i = int(key)

        cfg = self.config
        rng = np.random.default_rng([cfg.seed, i])
        hr = float(rng.uniform(cfg.heart_rate_min, cfg.heart_rate_max))
        seed = int(rng.integers(2**31 - 1))
        kwargs = dict(
            duration=cfg.duration_s,
            sampling_rate=cfg.source_fs,
            heart_rate=hr,
            noise=cfg.noise,
            random_state=seed,
        )
        if cfg.n_leads == 1:
            sig = np.asarray(nk.ecg_simulate(method="ecgsyn", **kwargs))[None, :]
        else:
            sig = np.asarray(nk.ecg_simulate(method="multileads", **kwargs)).T[: cfg.n_leads]
        return Record(
            signal=sig.astype(np.float32),
            fs=cfg.source_fs,
            leads=list(self.leads),
            record_id=self.record_id(key),
            patient_id=f"synthetic-{cfg.seed}-{i:05d}",
            labels={"heart_rate": hr, "hr_band": "fast" if hr >= self.band else "slow"},
            source=f"synthetic record {i}",
        )


def build(config: SyntheticConfig, context: DatasetContext) -> SyntheticECG:
    return SyntheticECG(config)


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="synthetic",
            factory=build,
            config=SyntheticConfig,
            summary="seeded neurokit2 ECGSYN ECGs, 1-12 leads; needs no files",
        )
    ]
