"""Record labels from a CSV/TSV file, for any dataset plugin (``[data] labels_file``).

The file's first column is the record id, the others are label columns; a header row is
optional: the first row is a header unless its first cell is the id of a record of the data
(else :class:`csv.Sniffer` decides). Without a header a single label column is called
``label`` and further ones ``label_2``, ``label_3``... Values that read as numbers become
numbers, empty cells are missing. A cell quoted over several lines holds several labels, one a
line (``"Left atrial hypertrophy<newline>Left ventricular hypertrophy"``): it is read as a list
of them (repeats dropped), never as one joined word; a task scores such a list as several labels
or refuses it (the ``labels`` task: ``multilabel = true``, or ``merge`` them into one class). An
id matches a record by the record's id or by the last part of its key (``training/A00001``
matches ``A00001``).

Ids of the data without a row in the file, and ids of the file that are no record of the data,
are an error by default (counted, the first few named); with ``--skip-bad`` or
``skip_unlabelled = true`` the unlabelled records are left out and listed in ``skipped.json``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

from ssl_ecg.data.cache import read_text
from ssl_ecg.data.record import Record, RecordSource
from ssl_ecg.errors import DataError

SHOWN = 5  # ids named in an error


def _scalar(text: str) -> Any:
    """One value as int, float or str."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _value(cell: str) -> Any:
    """A cell as int, float or str; a cell over several lines as a list of its lines' values
    (empty lines and repeats dropped; a single one left is that value); empty is None."""
    parts = list(dict.fromkeys(_scalar(p.strip()) for p in cell.splitlines() if p.strip()))
    if not parts:
        return None
    return parts if len(parts) > 1 else parts[0]


def _parse(text: str, dialect: Any, file: Path) -> list[tuple[int, list[str]]]:
    """(line the row starts on, its cells) of every row; a quoted cell may span lines."""
    out: list[tuple[int, list[str]]] = []
    for strict in (True, False):  # strict only to find a quote left open to the end
        reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=strict)
        out, start = [], 1
        try:
            for row in reader:
                out.append((start, row))
                start = reader.line_num + 1
        except csv.Error as exc:
            if "end of data" in str(exc):
                raise DataError(
                    f'{file}: line {start}: a quote (") opens a cell that never closes; close '
                    "it (a cell of several labels is one quoted cell, one label a line)"
                ) from None
            continue
        break
    return out


def _rows(file: Path) -> list[tuple[int, list[str]]]:
    """(line, cells) of the file's non-empty rows, delimiter (comma, tab, semicolon) sniffed."""
    fix = "data.labels_file names the labels file, a CSV or TSV of record id, labels"
    text = read_text(file, fix, DataError, encoding="utf-8-sig")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        first = text.splitlines()[0] if text.strip() else ""
        dialect = csv.excel_tab if "\t" in first else csv.excel
    rows = [(n, [c.strip() for c in r]) for n, r in _parse(text, dialect, file)]
    rows = [(n, r) for n, r in rows if any(r)]
    if not rows or max(len(r) for _, r in rows) < 2:
        raise DataError(
            f"{file}: needs a record id column and at least one label column (CSV or TSV)"
        )
    return rows


def _has_header(rows: list[list[str]]) -> bool:
    """The sniffer's guess on the first rows (written back as CSV: cells may span lines)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows[:20])
    try:
        return csv.Sniffer().has_header(buffer.getvalue())
    except csv.Error:
        return True


class LabelTable:
    """The labels of a file: record id -> {column: value}, and the line each row starts on."""

    def __init__(self, file: Path, ids: set[str]) -> None:
        self.file = file
        rows = _rows(file)
        first = rows[0][1]
        header = first[0] not in ids
        if header and not ids & {r[0] for _, r in rows[1:]}:  # no id matches: ask the sniffer
            header = _has_header([r for _, r in rows])
        width = max(len(r) for _, r in rows)
        if header:
            names = [" ".join(n.split()) or f"label_{i}" for i, n in enumerate(first[1:], 1)]
            rows = rows[1:]
        else:
            names = ["label"] + [f"label_{i}" for i in range(2, width)]
        names += [f"label_{i}" for i in range(len(names) + 1, width)]
        self.columns = names
        self.rows: dict[str, dict[str, Any]] = {}
        self.lines: dict[str, int] = {}  # record id -> line of the file its row starts on
        for line, row in rows:
            rid = row[0]
            if "\n" in rid or "\r" in rid:
                raise DataError(f"{file}: line {line}: the record id cell spans several lines "
                                f"({rid!r:.60}); an id is one line")  # fmt: skip
            if rid in self.rows:
                raise DataError(f"{file}: line {line}: record id '{rid}' is listed twice")
            values = {n: _value(c) for n, c in zip(names, row[1:], strict=False)}
            self.rows[rid] = {k: v for k, v in values.items() if v is not None}
            self.lines[rid] = line
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

    def origin(self, record_id: str, column: str) -> str | None:
        """Where record ``record_id``'s value of ``column`` was read ("labels.csv: line 7
        (record A07), column 'dx'"), or None when the file has no such row or column."""
        key = next((k for k, rid in self._ids.items() if rid == record_id), record_id)
        row = self._row.get(key)
        if row is None or column not in self.table.columns:
            return None
        return f"{self.file}: line {self.table.lines[row]} (record {row}), column '{column}'"

    def identity(self) -> str:
        return hashlib.sha256(
            f"{self.inner.identity()}|labels:{self.file}:{self.table.digest}".encode()
        ).hexdigest()

    def splits(self) -> dict[str, list[str]]:
        return self.inner.splits()


def _first(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN])
    return shown + (f", ... {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")
