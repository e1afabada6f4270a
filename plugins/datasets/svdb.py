"""MIT-BIH Supraventricular Arrhythmia Database (PhysioNet ``svdb``): 78 half-hour two-lead
Holter records (800-894), 128 Hz.

Source: Greenwald SD, Patil RS, Mark RG, "Improved detection and classification of arrhythmias
in noise-stressed electrocardiograms using a multilayer perceptron", Computers in Cardiology
1990; Goldberger AL et al., "PhysioBank, PhysioToolkit, and PhysioNet", Circulation
101(23):e215-e220 (2000); https://physionet.org/content/svdb/. Chosen to supplement the MIT-BIH
Arrhythmia Database with supraventricular arrhythmias: extra S-rich data for AAMI beat
classification, a cross-database test set, or unlabelled Holter ECG for pretraining.

Records are read with ``wfdb``; leads keep their header names (``ECG1``, ``ECG2``). The ``.atr``
reference beat labels become AAMI classes N/S/V/F/Q with
:func:`ssl_ecg.data.wfdb_io.read_aami_beats` (ANSI/AAMI EC57 as de Chazal et al. 2004 use it:
``J`` and ``a`` count as S); other annotations (``|`` artefacts, ``~`` quality, ``+`` rhythm,
and the single ``B`` bundle-branch-block beat of unspecified type, which the table does not
list) are not beats. ``labels = {"aami_counts": {class: beats}}``. The database documentation
gives one record per subject, so each record is its own patient.

Splits: a fixed patient-wise halving, alternate records in number order ("train": 800, 802,
...; "test": 801, 803, ...), so that one half can be unlabelled pretraining data and the other a
cross-database test set that no pretraining saw (e.g. recipes/mitbih/*_ds1_svdb.toml and the
``mitbih-aami`` task's ``test = "svdb"``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ssl_ecg import Config, DatasetContext, Record, RecordSource, Spec, hookimpl
from ssl_ecg.wfdb import (
    aami_counts,
    files_identity,
    read_aami_beats,
    read_record,
    record_keys,
    resolve_root,
)

LEADS = ["ECG1", "ECG2"]


class SvdbConfig(Config):
    root: str = Field(
        description="folder holding the SVDB records (800.hea, 800.dat, 800.atr, ...); "
        "a relative path is read from the recipe's folder"
    )
    records: list[str] | None = Field(
        None, description="read only these records (e.g. ['800', '801']); default: all"
    )


class Svdb(RecordSource):
    """The records under ``root``; keys are record names ('800')."""

    def __init__(self, config: SvdbConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self.leads = list(LEADS)

    def keys(self) -> list[str]:
        return record_keys(self.root, self.config.records, "MIT-BIH Supraventricular Arrhythmia")

    def load(self, key: str) -> Record:
        path = self.root / key
        rec = read_record(path)
        beats, classes = read_aami_beats(path, rec.signal.shape[1])  # (K,), (K,) inside
        return Record(
            signal=rec.signal,
            fs=rec.fs,
            leads=rec.leads,
            record_id=key,
            patient_id=key,  # one subject per record (database documentation)
            labels={"aami_counts": aami_counts(classes)},
            beats=beats,
            beat_labels=classes,
            source=rec.source,
        )

    def identity(self) -> str:
        return files_identity(self.root, [self.root / k for k in self.keys()])

    def splits(self) -> dict[str, list[str]]:
        every = sorted(record_keys(self.root, None, "MIT-BIH Supraventricular Arrhythmia"))
        keys = set(self.keys())
        return {"train": [k for k in every[0::2] if k in keys],
                "test": [k for k in every[1::2] if k in keys]}  # fmt: skip


def build(config: SvdbConfig, context: DatasetContext) -> Svdb:
    root = resolve_root(config.root, context.recipe_dir, "SVDB records (800.hea, ...)")
    return Svdb(config, root)


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="svdb",
            factory=build,
            config=SvdbConfig,
            summary="MIT-BIH Supraventricular Arrhythmia (PhysioNet svdb), AAMI beat classes",
        )
    ]
