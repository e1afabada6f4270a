"""Any folder of WFDB records (PhysioNet's header + signal format), found recursively.

Format: https://physionet.org/physiotools/wag/header-5.htm; read with the ``wfdb`` package
(https://wfdb.readthedocs.io) through :mod:`ssl_ecg.data.wfdb_io`. Records come from a
``RECORDS`` file in ``root`` when there is one, else from every ``*.hea`` below it. Labels are the
header's ``# Key: value`` comment lines (keys lowercased). Each record is its own patient unless
``patient_key`` names a comment that holds a patient id.

Limitation: without a ``RECORDS`` file, the segment headers of a multi-segment record are found
as records of their own.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import Field

from ssl_ecg import (
    Config,
    DataError,
    DatasetContext,
    Record,
    RecordSource,
    Spec,
    SslEcgError,
    hookimpl,
)
from ssl_ecg.data.memo import recall, remember
from ssl_ecg.wfdb import (
    files_identity,
    parse_comments,
    read_header,
    read_record,
    record_keys,
    resolve_root,
    select_keys,
)


class WfdbConfig(Config):
    root: str = Field(
        description="folder of WFDB records (*.hea + signal files, searched recursively, or "
        "listed in a RECORDS file); a relative path is read from the recipe's folder"
    )
    records: list[str] | None = Field(
        None, description="read only these records (paths relative to root, no extension)"
    )
    leads_hint: list[str] | None = Field(
        None,
        description="lead names the records may carry; default: read from every header "
        "(one pass over the headers, no signals)",
    )
    patient_key: str | None = Field(
        None,
        description="header comment key holding the patient id (e.g. 'patient' for "
        "'# Patient: 17'); default: the record list's patient column, else one patient per "
        "record",
    )
    record_list: str | None = Field(
        None,
        description="CSV listing the records: a 'path' column (relative to root, no "
        "extension), as MIMIC-IV-ECG's record_list.csv; default: root/record_list.csv when "
        "present (a RECORDS file or a search for *.hea otherwise)",
    )
    patient_column: str = Field(
        "subject_id", description="column of the record list holding the patient id"
    )


class WfdbFolder(RecordSource):
    """Records under ``root``; keys are paths relative to it without extension ('sub/rec1')."""

    def __init__(self, config: WfdbConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self._leads: list[str] | None = list(config.leads_hint) if config.leads_hint else None
        self._listed: dict[str, str | None] | None = None  # the record list, once read

    @property
    def leads(self) -> list[str]:  # type: ignore[override]
        """Lead names over all headers in first-seen order (headers only; remembered for the
        same files between commands: 20,000 headers take seconds to read)."""
        if self._leads is None:
            identity = self.identity()
            self._leads = recall("wfdb-leads", identity)
            if self._leads is None:
                self._leads = scan_leads([self.root / k for k in self.keys()])
                remember("wfdb-leads", identity, self._leads)
        return self._leads

    def keys(self) -> list[str]:
        if self.listed:
            return select_keys(self.root, sorted(self.listed), self.config.records)
        return record_keys(self.root, self.config.records, "WFDB")

    @property
    def listed(self) -> dict[str, str | None]:
        """The record list (read once): ``{key: patient or None}``; {} when there is none."""
        if self._listed is None:
            self._listed = self._read_list()
        return self._listed

    def _read_list(self) -> dict[str, str | None]:
        """``{key: patient or None}`` of the record list CSV; {} when there is none."""
        name = self.config.record_list
        file = self.root / (name or "record_list.csv")
        if name is None and not file.is_file():
            return {}
        try:
            with file.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise DataError(f"{file}: cannot read the record list ({exc.strerror})") from None
        if not rows or "path" not in rows[0]:
            raise DataError(f"{file}: a record list needs a 'path' column (data.record_list)")
        col = self.config.patient_column
        return {r["path"].strip().strip("/"): (r.get(col) or None) for r in rows}

    def load(self, key: str) -> Record:
        rec = read_record(self.root / key)
        labels = parse_comments(rec.comments)
        patient = self._patient(key, labels, rec.source)
        if self.config.patient_key:  # the patient id, not a label to predict
            labels = {k: v for k, v in labels.items() if k != self.config.patient_key.lower()}
        return Record(
            signal=rec.signal,
            fs=rec.fs,
            leads=rec.leads,
            record_id=key,
            patient_id=patient,
            labels=labels,
            source=rec.source,
        )

    def _patient(self, key: str, labels: dict[str, str], source: str) -> str:
        name = self.config.patient_key
        if name is None:
            return self.listed.get(key) or key
        value = labels.get(name.lower(), "")
        if not value:
            raise DataError(f"{source}: no '# {name}: ...' comment (data.patient_key = '{name}')")
        return value

    def identity(self) -> str:
        listing = [self.root / (self.config.record_list or "record_list.csv")]
        listing = [p.with_suffix("") for p in listing if self.listed and p.is_file()]
        return files_identity(self.root, [*listing, *(self.root / k for k in self.keys())])


def scan_leads(paths: list[Path]) -> list[str]:
    """Union of the headers' lead names, first-seen order; unreadable headers are skipped here
    (reading their record reports them)."""
    seen: dict[str, None] = {}
    for path in paths:
        try:
            leads = read_header(path).leads
        except SslEcgError:
            continue
        seen.update(dict.fromkeys(leads))
    return list(seen)


def build(config: WfdbConfig, context: DatasetContext) -> WfdbFolder:
    return WfdbFolder(config, resolve_root(config.root, context.recipe_dir, "WFDB records"))


@hookimpl
def register_datasets() -> list[Spec]:
    return [
        Spec(
            name="wfdb",
            factory=build,
            config=WfdbConfig,
            summary="any folder of WFDB records (recursive); header comments become labels",
        )
    ]
