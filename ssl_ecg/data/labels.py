"""Record labels from a CSV/TSV file, for any dataset plugin (``[data] labels_file``).

The file's first column is the record id, the others are label columns; a header row is
optional: the first row is a header unless its first cell is the id of a record of the data
(else :class:`csv.Sniffer` decides). Without a header a single label column is called
``label`` and further ones ``label_2``, ``label_3``... Values that read as numbers become
numbers, empty cells are missing. An id matches a record by the record's id or by the last part
of its key (``training/A00001`` matches ``A00001``).

Ids of the data without a row in the file, and ids of the file that are no record of the data,
are an error by default (counted, the first few named); with ``--skip-bad`` or
``skip_unlabelled = true`` the unlabelled records are left out and listed in ``skipped.json``.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

from ssl_ecg.data.cache import read_text
from ssl_ecg.data.record import Record, RecordSource
from ssl_ecg.errors import DataError

SHOWN = 5  # ids named in an error


def _value(cell: str) -> Any:
    """A cell as int, float or str; empty is None."""
    text = cell.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _rows(file: Path) -> list[list[str]]:
    """The file's non-empty rows, delimiter (comma, tab, semicolon) sniffed."""
    fix = "data.labels_file names the labels file, a CSV or TSV of record id, labels"
    text = read_text(file, fix, DataError, encoding="utf-8-sig")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel_tab if "\t" in text.splitlines()[0] else csv.excel
    rows = [[c.strip() for c in r] for r in csv.reader(text.splitlines(), dialect)]
    rows = [r for r in rows if any(r)]
    if not rows or max(len(r) for r in rows) < 2:
        raise DataError(
            f"{file}: needs a record id column and at least one label column (CSV or TSV)"
        )
    return rows


class LabelTable:
    """The labels of a file: record id -> {column: value}."""

    def __init__(self, file: Path, ids: set[str]) -> None:
        self.file = file
        rows = _rows(file)
        first = rows[0]
        header = first[0] not in ids
        if header and not ids & {r[0] for r in rows[1:]}:  # no id matches: ask the sniffer
            header = csv.Sniffer().has_header("\n".join(",".join(r) for r in rows[:20]))
        width = max(len(r) for r in rows)
        if header:
            names = [n or f"label_{i}" for i, n in enumerate(first[1:], 1)]
            rows = rows[1:]
        else:
            names = ["label"] + [f"label_{i}" for i in range(2, width)]
        names += [f"label_{i}" for i in range(len(names) + 1, width)]
        self.columns = names
        self.rows: dict[str, dict[str, Any]] = {}
        for line, row in enumerate(rows, 2 if header else 1):
            rid = row[0]
            if rid in self.rows:
                raise DataError(f"{file}: line {line}: record id '{rid}' is listed twice")
            values = {n: _value(c) for n, c in zip(names, row[1:], strict=False)}
            self.rows[rid] = {k: v for k, v in values.items() if v is not None}
        self.digest = hashlib.sha256(file.read_bytes()).hexdigest()


class LabelledSource(RecordSource):
    """A dataset plugin's records with the labels of a file merged into each record's own
    (the file's win). ``skip``: leave unlabelled records out instead of refusing them."""

    def __init__(self, inner: RecordSource, file: Path, skip: bool = False) -> None:
        self.inner = inner
        self.file = file
        self.skip = skip
        keys = inner.keys()
        self._ids = {k: inner.record_id(k) for k in keys}
        candidates = set(self._ids.values()) | {Path(k).name for k in keys}
        self.table = LabelTable(file, candidates)
        by_id = {rid: k for k, rid in self._ids.items()}
        by_name: dict[str, list[str]] = {}
        for k in keys:
            by_name.setdefault(Path(k).name, []).append(k)
        self._row: dict[str, str] = {}  # key -> id in the file
        self.unknown: list[str] = []  # ids of the file that match no record
        for rid in self.table.rows:
            key = by_id.get(rid) or (by_name.get(rid, [None])[0] if len(by_name.get(rid, [])) == 1
                                     else None)  # fmt: skip
            if key is None:
                self.unknown.append(rid)
            else:
                self._row[key] = rid
        self.unlabelled = [k for k in keys if k not in self._row]

    @property
    def leads(self) -> list[str]:  # type: ignore[override]
        return list(self.inner.leads)

    def check(self, skip: bool = False) -> None:
        """Refuse records without a row and rows without a record (unless skipping)."""
        if self.skip or skip or not (self.unlabelled or self.unknown):
            return
        parts = []
        if self.unlabelled:
            ids = [self._ids[k] for k in self.unlabelled]
            parts.append(f"{len(ids)} record(s) of the data have no row ({_first(ids)})")
        if self.unknown:
            parts.append(f"{len(self.unknown)} id(s) are no record of the data "
                         f"({_first(self.unknown)})")  # fmt: skip
        raise DataError(
            f"{self.file}: {'; '.join(parts)}; fix the file, or leave unlabelled records out "
            "with --skip-bad or data.skip_unlabelled = true"
        )

    def keys(self) -> list[str]:
        every = self.inner.keys()
        return [k for k in every if k in self._row] if self.skip else every

    def skipped(self) -> list[dict[str, str]]:
        if not self.skip:
            return []
        return [
            *({"record": self._ids[k], "reason": f"no row in {self.file.name}"}
              for k in self.unlabelled),
            *({"record": f"{self.file.name}:{rid}", "reason": "id of the labels file matches no "
               "record of the data"} for rid in self.unknown),
        ]  # fmt: skip

    def record_id(self, key: str) -> str:
        return self._ids.get(key, key)

    def load(self, key: str) -> Record:
        if key not in self._row:
            raise DataError(f"{self.file}: no row for record '{self._ids.get(key, key)}'")
        record = self.inner.load(key)
        record.labels = {**record.labels, **self.table.rows[self._row[key]]}
        return record

    def identity(self) -> str:
        return hashlib.sha256(
            f"{self.inner.identity()}|labels:{self.file}:{self.table.digest}".encode()
        ).hexdigest()

    def splits(self) -> dict[str, list[str]]:
        return self.inner.splits()


def _first(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN])
    return shown + (f", ... {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")
