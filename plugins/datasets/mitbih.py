"""MIT-BIH Arrhythmia Database (PhysioNet ``mitdb``): 48 half-hour two-lead records, 360 Hz.

Source: Moody GB, Mark RG, "The impact of the MIT-BIH Arrhythmia Database", IEEE Eng Med Biol
20(3):45-50 (2001), https://physionet.org/content/mitdb/. Records are read with ``wfdb``
(``rdrecord`` and ``rdann(record, "atr")``); leads keep their header names (MLII, V1, V2, V4, V5).

Beats and classes (read by :func:`ssl_ecg.data.wfdb_io.read_aami_beats`) follow ANSI/AAMI EC57
as used by de Chazal et al., "Automatic classification of heartbeats using ECG morphology and
heartbeat interval features", IEEE TBME 51(7):1196-1206 (2004). Beat symbols and AAMI class:

* N (normal, bundle branch block): ``N`` ``L`` ``R`` ``e`` ``j``
* S (supraventricular ectopic): ``A`` ``a`` ``J`` ``S``
* V (ventricular ectopic): ``V`` ``E``
* F (fusion): ``F``
* Q (paced, fusion of paced and normal, unclassifiable): ``/`` ``f`` ``Q``

Every other annotation is not a beat and is dropped: rhythm changes ``+``, signal quality ``~``,
comments ``"``, ``|`` isolated QRS-like artefacts, ``x`` non-conducted P waves, ``!`` ventricular
flutter waves and ``[`` ``]`` flutter onset/offset.

Splits (``splits()``): de Chazal's inter-patient DS1 (training) and DS2 (test). The MIT-BIH
directory states that records 201 and 202 come from one subject, so both carry patient id
``201``; with ``strict_inter_patient`` (default) record 202 leaves DS2 so that DS1 and DS2
share no patient. The paced records 102, 104, 107 and 217 are in neither list and are left out
by default (``exclude_paced``), as AAMI recommends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

PACED = ("102", "104", "107", "217")
SAME_PATIENT = {"202": "201"}  # MIT-BIH directory: records 201 and 202 are from one subject
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124",
       "201", "203", "205", "207", "208", "209", "215", "220", "223", "230")  # fmt: skip
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212",
       "213", "214", "219", "221", "222", "228", "231", "232", "233", "234")  # fmt: skip
LEADS = ["MLII", "V1", "V2", "V4", "V5"]


class MitbihConfig(Config):
    root: str = Field(
        description="folder holding the MIT-BIH records (100.hea, 100.dat, 100.atr, ...); "
        "a relative path is read from the recipe's folder"
    )
    records: list[str] | None = Field(
        None, description="read only these records (e.g. ['100', '101']); default: all"
    )
    exclude_paced: bool = Field(True, description="leave out the paced records 102, 104, 107, 217")
    strict_inter_patient: bool = Field(
        True,
        description="drop record 202 (same patient as 201, in DS1) from DS2; false gives "
        "de Chazal's exact DS1/DS2 lists",
    )


class MitbihArrhythmia(RecordSource):
    """The records under ``root``; keys are record names ('100')."""

    def __init__(self, config: MitbihConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self.leads = list(LEADS)

    def keys(self) -> list[str]:
        names = record_keys(self.root, self.config.records, "MIT-BIH")
        if self.config.exclude_paced:
            names = [n for n in names if n not in PACED]
        return names

    def load(self, key: str) -> Record:
        path = self.root / key
        rec = read_record(path)
        beats, classes = read_aami_beats(path, rec.signal.shape[1])  # (K,), (K,) inside
        return Record(
            signal=rec.signal,
            fs=rec.fs,
            leads=rec.leads,
            record_id=key,
            patient_id=SAME_PATIENT.get(key, key),
            labels={**demographics(rec.comments), "aami_counts": aami_counts(classes)},
            beats=beats,
            beat_labels=classes,
            source=rec.source,
        )

    def identity(self) -> str:
        return files_identity(self.root, [self.root / k for k in self.keys()])

    def splits(self) -> dict[str, list[str]]:
        keys = set(self.keys())
        ds2 = [r for r in DS2 if not (self.config.strict_inter_patient and r in SAME_PATIENT)]
        return {"DS1": [r for r in DS1 if r in keys], "DS2": [r for r in ds2 if r in keys]}


def demographics(comments: list[str]) -> dict[str, Any]:
    """Age and sex from the first header comment ('69 M 1085 1629 x1'; age -1 = unknown)."""
    fields = comments[0].split() if comments else []
    age = int(fields[0]) if fields and fields[0].lstrip("-").isdigit() else -1
    sex = {"M": "male", "F": "female"}.get(fields[1] if len(fields) > 1 else "")
    return {"age": age if age >= 0 else None, "sex": sex}


def build(config: MitbihConfig, context: DatasetContext) -> MitbihArrhythmia:
    root = resolve_root(config.root, context.recipe_dir, "MIT-BIH Arrhythmia records")
    return MitbihArrhythmia(config, root)


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="mitbih",
            factory=build,
            config=MitbihConfig,
            summary="MIT-BIH Arrhythmia (PhysioNet mitdb) with AAMI beat classes and DS1/DS2",
        )
    ]
