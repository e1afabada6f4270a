"""PTB-XL (PhysioNet ``ptb-xl``): 10-second 12-lead ECGs with SCP-ECG statements, read at 100 Hz.

Source: Wagner P, Strodthoff N, Bousseljot RD, et al., "PTB-XL, a large publicly available
electrocardiography dataset", Scientific Data 7:154 (2020), https://physionet.org/content/ptb-xl/.
Benchmark conventions: Strodthoff N, Wagner P, Schaeffter T, Samek W, "Deep learning for ECG
analysis: benchmarks and insights from PTB-XL", IEEE JBHI 25(5):1519-1528 (2021).

``root`` holds ``ptbxl_database.csv`` (one row per ECG: ``ecg_id``, ``patient_id``, ``age``,
``sex``, ``scp_codes``, ``strat_fold``, ``filename_lr``, ...), ``scp_statements.csv`` (SCP code
-> ``diagnostic`` flag and ``diagnostic_class``) and the 100 Hz records named by
``filename_lr`` (``records100/00000/00001_lr.{hea,dat}``), read with the shared WFDB reader.
Leads keep their header names with the standard case (the headers say ``AVR``, ``AVL``,
``AVF``; records carry ``aVR``, ``aVL``, ``aVF``): I, II, III, aVR, aVL, aVF, V1-V6.

Keys and record ids are ``str(ecg_id)``; the patient id is ``str(int(patient_id))``. Labels:

* ``superclasses``: the sorted diagnostic superclasses (NORM, MI, STTC, CD, HYP) of the record:
  every ``scp_codes`` entry with likelihood > 0 whose ``scp_statements.csv`` row has
  ``diagnostic == 1``, mapped through ``diagnostic_class`` (the benchmark mapping of Strodthoff
  et al. 2021). A record may have none (``[]``).
* ``scp_codes``: the statement -> likelihood dict as the database gives it.
* ``age`` (int, or None when absent; PTB-XL writes 300 for ages over 89), ``sex`` ("male" for
  0, "female" for 1, as PTB-XL codes it), ``strat_fold`` (1-10).

Splits (``splits()``): PTB-XL's recommended patient-wise split of its stratified folds,
"train" = folds 1-8, "val" = fold 9, "test" = fold 10 (no patient is in two folds).
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import math
from pathlib import Path
from typing import Annotated

from pydantic import Field

from ssl_ecg import (
    Config,
    DataError,
    DatasetContext,
    Record,
    RecordSource,
    Spec,
    did_you_mean,
    hookimpl,
)
from ssl_ecg.wfdb import files_identity, read_record, resolve_root

DATABASE = "ptbxl_database.csv"
STATEMENTS = "scp_statements.csv"
STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
SPLIT_FOLDS = {"train": range(1, 9), "val": (9,), "test": (10,)}
SEXES = {0: "male", 1: "female"}
COLUMNS = ("ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold", "filename_lr")
_CASE = {name.upper(): name for name in STANDARD_LEADS}

Fold = Annotated[int, Field(ge=1, le=10)]


class PtbxlConfig(Config):
    root: str = Field(
        description="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records100/); "
        "a relative path is read from the recipe's folder"
    )
    records: list[str] | None = Field(
        None, description="read only these ecg_ids (e.g. ['1', '2']); default: all"
    )
    folds: list[Fold] | None = Field(
        None, description="read only the records of these strat_folds (1-10); default: all"
    )


@dataclasses.dataclass(frozen=True)
class Row:
    """What this plugin keeps of one ``ptbxl_database.csv`` row."""

    patient_id: str
    age: int | None
    sex: str | None
    scp_codes: dict[str, float]
    strat_fold: int
    filename: str  # filename_lr: record path relative to root, no extension
    superclasses: list[str]


class Ptbxl(RecordSource):
    """The rows of ``ptbxl_database.csv`` (kept in memory); keys are ecg_ids ('1')."""

    def __init__(self, config: PtbxlConfig, root: Path, rows: dict[str, Row]) -> None:
        self.config = config
        self.root = root
        self.rows = rows
        self.leads = list(STANDARD_LEADS)

    def keys(self) -> list[str]:
        keys = list(self.rows)
        if self.config.records is not None:
            wanted = {_ecg_id(k) for k in self.config.records}
            for name in self.config.records:
                if _ecg_id(name) not in self.rows:
                    hint = did_you_mean(name, keys)
                    raise DataError(
                        f"{self.root / DATABASE}: has no ecg_id '{name}' (data.records){hint}"
                    )
            keys = [k for k in keys if k in wanted]
        if self.config.folds is not None:
            folds = set(self.config.folds)
            keys = [k for k in keys if self.rows[k].strat_fold in folds]
        return keys

    def load(self, key: str) -> Record:
        row = self.rows[key]
        rec = read_record(self.root / row.filename)
        return Record(
            signal=rec.signal,
            fs=rec.fs,
            leads=[standard_lead(name) for name in rec.leads],
            record_id=key,
            patient_id=row.patient_id,
            labels={
                "superclasses": list(row.superclasses),
                "scp_codes": dict(row.scp_codes),
                "age": row.age,
                "sex": row.sex,
                "strat_fold": row.strat_fold,
            },
            source=rec.source,
        )

    def identity(self) -> str:
        files = [self.root / Path(name).stem for name in (DATABASE, STATEMENTS)]  # the CSVs
        return files_identity(
            self.root, files + [self.root / self.rows[k].filename for k in self.keys()]
        )

    def splits(self) -> dict[str, list[str]]:
        keys = self.keys()
        return {
            name: [k for k in keys if self.rows[k].strat_fold in folds]
            for name, folds in SPLIT_FOLDS.items()
        }


def standard_lead(name: str) -> str:
    """A header's lead name in the standard case ('AVR' -> 'aVR'); others unchanged."""
    return _CASE.get(name.strip().upper(), name)


def _ecg_id(value: str) -> str:
    text = str(value).strip()
    return str(int(text)) if text.isdigit() else text


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(
            f"{path}: not found; set data.root to the PTB-XL folder holding {DATABASE}, "
            f"{STATEMENTS} and records100/"
        )
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def read_statements(path: Path) -> dict[str, str]:
    """SCP code -> diagnostic superclass, for the codes whose ``diagnostic`` flag is 1."""
    rows = _read_csv(path)
    if not rows:
        return {}
    code_col = next(iter(rows[0]))  # the first, unnamed column holds the code
    missing = [c for c in ("diagnostic", "diagnostic_class") if c not in rows[0]]
    if missing:
        raise DataError(f"{path}: has no column '{missing[0]}'")
    out: dict[str, str] = {}
    for row in rows:
        flag = (row["diagnostic"] or "").strip()
        if flag and float(flag) == 1 and (row["diagnostic_class"] or "").strip():
            out[row[code_col].strip()] = row["diagnostic_class"].strip()
    return out


def superclasses(scp_codes: dict[str, float], statements: dict[str, str]) -> list[str]:
    """Sorted superclasses of the diagnostic statements with likelihood > 0."""
    return sorted({statements[c] for c, p in scp_codes.items() if c in statements and p > 0})


def read_database(root: Path) -> dict[str, Row]:
    """``ptbxl_database.csv`` as ecg_id -> :class:`Row`, ordered by ecg_id."""
    path = root / DATABASE
    rows = _read_csv(path)
    statements = read_statements(root / STATEMENTS)
    if rows:
        missing = [c for c in COLUMNS if c not in rows[0]]
        if missing:
            raise DataError(f"{path}: has no column '{missing[0]}'")
    out: dict[str, Row] = {}
    for line, row in enumerate(rows, start=2):
        try:
            ecg_id = str(int(float(row["ecg_id"])))
            codes = ast.literal_eval(row["scp_codes"] or "{}")
            if not isinstance(codes, dict):
                raise ValueError("scp_codes is not a dict")
            codes = {str(k): float(v) for k, v in codes.items()}
            out[ecg_id] = Row(
                patient_id=str(int(float(row["patient_id"]))),
                age=_number(row["age"]),
                sex=_sex(row["sex"]),
                scp_codes=codes,
                strat_fold=int(float(row["strat_fold"])),
                filename=row["filename_lr"].strip(),
                superclasses=superclasses(codes, statements),
            )
        except (ValueError, SyntaxError, TypeError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: line {line}: bad row ({why})") from exc
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _number(text: str | None) -> int | None:
    value = float(text) if text and text.strip() else math.nan
    return None if math.isnan(value) else int(value)


def _sex(text: str | None) -> str | None:
    code = _number(text)
    return None if code is None else SEXES.get(code)


def build(config: PtbxlConfig, context: DatasetContext) -> Ptbxl:
    root = resolve_root(config.root, context.recipe_dir, f"PTB-XL files ({DATABASE}, records100/)")
    return Ptbxl(config, root, read_database(root))


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="ptbxl",
            factory=build,
            config=PtbxlConfig,
            summary="PTB-XL 12-lead 10-s ECGs at 100 Hz, diagnostic superclasses, folds 1-8/9/10",
        )
    ]
