"""PhysioNet/CinC Challenge 2020 and 2021 12-lead ECGs (WFDB header + MATLAB ``.mat`` signal).

Sources: Perez Alday EA et al., "Classification of 12-lead ECGs: the PhysioNet/Computing in
Cardiology Challenge 2020", Physiol Meas 41:124003 (2020); Reyna MA et al., "Will Two Do?
Varying Dimensions in Electrocardiography: the PhysioNet/Computing in Cardiology Challenge
2021", CinC 2021 (https://physionet.org/content/challenge-2021/).

Each record's header carries ``# Age:``, ``# Sex:`` and ``# Dx:`` (comma-separated SNOMED-CT
codes) comment lines; they become ``labels = {"dx": [...], "age": int | None, "sex":
"female" | "male" | None}``. Some headers put a date and time on the record line that ``wfdb``
refuses; :func:`ssl_ecg.data.wfdb_io.read_record` then reads them with its own parser. Records
are found recursively under ``root`` (or from a ``RECORDS`` file); each is its own patient (the
Challenge publishes no patient ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ssl_ecg import Config, DatasetContext, Record, RecordSource, Spec, hookimpl
from ssl_ecg.wfdb import files_identity, parse_comments, read_record, record_keys, resolve_root

STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SEXES = {"male": "male", "m": "male", "female": "female", "f": "female"}


class ChallengeConfig(Config):
    root: str = Field(
        description="folder holding the Challenge records (*.hea + *.mat, searched "
        "recursively); a relative path is read from the recipe's folder"
    )
    records: list[str] | None = Field(
        None, description="read only these records (names like 'E07500'); default: all"
    )


class PhysioNetChallenge(RecordSource):
    """Records under ``root``; keys are paths relative to it without extension."""

    def __init__(self, config: ChallengeConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self.leads = list(STANDARD_LEADS)

    def keys(self) -> list[str]:
        return record_keys(self.root, self.config.records, "Challenge")

    def load(self, key: str) -> Record:
        rec = read_record(self.root / key)
        name = Path(key).name
        return Record(
            signal=rec.signal,
            fs=rec.fs,
            leads=rec.leads,
            record_id=key,
            patient_id=name,
            labels=challenge_labels(parse_comments(rec.comments)),
            source=rec.source,
        )

    def identity(self) -> str:
        return files_identity(self.root, [self.root / k for k in self.keys()])


def challenge_labels(comments: dict[str, str]) -> dict[str, Any]:
    """``{"dx": [SNOMED-CT codes], "age": int | None, "sex": "female" | "male" | None}``."""
    dx = [code.strip() for code in comments.get("dx", "").split(",") if code.strip()]
    try:
        age: int | None = int(float(comments.get("age", "")))
    except (ValueError, OverflowError):  # 'NaN', 'Unknown', '' -> unknown
        age = None
    if age is not None and age < 0:
        age = None
    sex = SEXES.get(comments.get("sex", "").strip().lower())
    return {"dx": dx, "age": age, "sex": sex}


def build(config: ChallengeConfig, context: DatasetContext) -> PhysioNetChallenge:
    root = resolve_root(config.root, context.recipe_dir, "PhysioNet/CinC Challenge records")
    return PhysioNetChallenge(config, root)


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="physionet-challenge",
            factory=build,
            config=ChallengeConfig,
            summary="PhysioNet/CinC Challenge 2020/2021 12-lead ECGs with SNOMED-CT Dx, age, sex",
        )
    ]
