"""Reading WFDB records (PhysioNet's header + signal files) into numpy, with one-line errors.

Formats: the WFDB header and signal specifications (https://physionet.org/physiotools/wag/
header-5.htm, signal-5.htm). Records are read with the ``wfdb`` package
(https://wfdb.readthedocs.io). Some PhysioNet/CinC Challenge headers carry a date and time on the
record line that ``wfdb`` refuses (``11:14:08 05-Jun-2020``); for those this module parses the
header itself and reads the signal directly: MATLAB ``.mat`` files (``val``, the Challenge
2020/2021 layout) or format-16 ``.dat`` files.

Every bad input is a :class:`~ssl_ecg.errors.DataError` of one line naming the file and the
problem: missing or unreadable files, truncated signals, header/signal mismatches, NaNs and flat
leads. Nothing here names a particular dataset; ``wfdb`` is imported only when a record is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.errors import DataError, did_you_mean, one_line

FORMAT16_INVALID = -32768  # WFDB's "no sample" value in format 16
DEFAULT_GAIN = 200.0  # WFDB: an absent or zero gain means 200 ADC units per physical unit
DEFAULT_FS = 250.0  # WFDB: an absent sampling frequency means 250 Hz
UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}
BYTES_PER_SAMPLE = {
    "8": 1.0, "16": 2.0, "24": 3.0, "32": 4.0, "61": 2.0, "80": 1.0, "160": 2.0,
    "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}  # fmt: skip
_FORMAT = re.compile(r"^(\d+)(?:x(\d+))?(?::\d+)?(?:\+(\d+))?$")  # 16x1+24: fmt, spf, offset
_GAIN = re.compile(r"^([^(/]*)(?:\(([^)]*)\))?(?:/(.*))?$")  # 1000.0(0)/mV: gain, baseline, units
_FS = re.compile(r"^([^/(]*)(?:/[^(]*)?(?:\([^)]*\))?$")  # 500/1000(0): fs, counter freq, base
# the numpy type a WFDB signal format is stored as in a MATLAB .mat file (wfdb2mat)
MAT_DTYPES = {"8": "int8", "16": "int16", "32": "int32", "80": "uint8", "160": "uint16"}


@dataclasses.dataclass
class WfdbRecord:
    """One record's signal in millivolts and what its header says."""

    signal: np.ndarray  # (C, T) float32, mV
    fs: float
    leads: list[str]  # C names (the signal descriptions)
    n_samples: int  # samples per signal, as the header says (== T)
    comments: list[str]  # header comment lines without the leading '#'
    source: str  # the header file, for error messages


@dataclasses.dataclass(frozen=True)
class SignalLine:
    """One signal line of a header, as this module's own parser reads it."""

    file: str
    fmt: str
    samples_per_frame: int
    byte_offset: int
    gain: float  # ADC units per physical unit
    baseline: int  # ADC value of physical zero
    units: str
    lead: str


@dataclasses.dataclass(frozen=True)
class Header:
    """A header file as this module's own (lenient) parser reads it."""

    path: Path
    name: str
    n_sig: int
    fs: float
    n_samples: int | None
    signals: list[SignalLine]  # empty for a multi-segment record
    comments: list[str]
    multi_segment: bool = False

    @property
    def leads(self) -> list[str]:
        return [lead_name(s.lead, i) for i, s in enumerate(self.signals)]


# ------------------------------------------------------------------ paths and listings
def header_path(path: Path) -> Path:
    """``<record>.hea`` (record names may contain dots, so no ``with_suffix``)."""
    return Path(f"{path}.hea")


def lead_name(description: str | None, index: int) -> str:
    """A signal's description, or ``signal<i>`` when the header gives none."""
    return description.strip() if description and description.strip() else f"signal{index}"


def resolve_path(value: str, recipe_dir: Path) -> Path:
    """A path from a recipe: ``~`` expanded, relative paths read from the recipe's folder."""
    path = Path(value).expanduser()
    return (path if path.is_absolute() else Path(recipe_dir) / path).resolve()


def resolve_root(root: str, recipe_dir: Path, what: str) -> Path:
    """The data folder a recipe names; a :class:`DataError` when it does not exist."""
    path = resolve_path(root, recipe_dir)
    if not path.is_dir():
        raise DataError(
            f"{path}: folder not found; set data.root to the folder holding the {what} "
            f"(a relative path is read from the recipe's folder, {recipe_dir})"
        )
    return path


def find_records(root: Path) -> list[Path]:
    """Record paths (no extension) under ``root``, sorted by their path relative to ``root``.

    Uses ``root/RECORDS`` when present (an entry ending in ``/`` is a sub-database, listed the
    same way); otherwise every ``*.hea`` below ``root``, recursively.
    """
    listing = root / "RECORDS"
    if listing.is_file():
        found: list[Path] = []
        for name in _read_records_file(listing):
            if name.endswith("/"):
                found.extend(find_records(root / name.rstrip("/")))
            else:
                found.append(root / name)
    else:
        found = [p.with_name(p.name[: -len(".hea")]) for p in root.rglob("*.hea") if p.is_file()]
    return sorted(set(found), key=lambda p: p.relative_to(root).as_posix())


def record_keys(root: Path, wanted: list[str] | None, what: str) -> list[str]:
    """Keys (paths relative to ``root``, no extension) of the records under ``root``, or of
    the ``wanted`` ones (given by key or by record name); an unknown name is a DataError."""
    keys = [p.relative_to(root).as_posix() for p in find_records(root)]
    if not keys:
        raise DataError(f"{root}: no {what} records found (no RECORDS or *.hea files)")
    return select_keys(root, keys, wanted)


def select_keys(root: Path, keys: list[str], wanted: list[str] | None) -> list[str]:
    """``keys`` (of records under ``root``), or the ``wanted`` ones, given by key or by record
    name; an unknown name is a DataError."""
    if wanted is None:
        return keys
    known = set(keys) | {Path(k).name for k in keys}
    for name in wanted:
        if name not in known:
            hint = did_you_mean(name, known)
            raise DataError(f"{root}: has no record '{name}' (data.records){hint}")
    chosen = set(wanted)
    return [k for k in keys if k in chosen or Path(k).name in chosen]


def _read_records_file(listing: Path) -> list[str]:
    try:
        lines = listing.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"{listing}: cannot read ({exc.strerror})") from exc
    return [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]


def files_identity(root: Path, records: list[Path]) -> str:
    """sha256 over (path relative to ``root``, size, mtime_ns) of every ``<record>.*`` file.

    Plain strings, not Paths: 20,000 records are 40,000 files, and ``Path.relative_to`` on each
    cost more than the ``stat`` calls themselves."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for record in records:
        folder, name = os.path.split(os.fspath(record))
        wanted[folder].add(name)
    base = os.fspath(root) + os.sep
    rows: list[tuple[str, int, int]] = []
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # a missing folder is reported when its records are read
        for entry in entries:
            if "." in entry.name and entry.name.rsplit(".", 1)[0] in names and entry.is_file():
                st = entry.stat()
                rel = entry.path[len(base) :] if entry.path.startswith(base) else entry.path
                rows.append((rel.replace(os.sep, "/"), st.st_size, st.st_mtime_ns))
    digest = hashlib.sha256()
    for row in sorted(rows):
        digest.update(repr(row).encode())
    return digest.hexdigest()


# ------------------------------------------------------------------ header comments
def parse_comments(comments: list[str]) -> dict[str, str]:
    """``# Key: value`` comment lines as ``{"key": "value"}`` (keys lowercased; lines without a
    colon are skipped; a later line overwrites an earlier one with the same key)."""
    out: dict[str, str] = {}
    for line in comments:
        text = line.strip().lstrip("#").strip()
        key, sep, value = text.partition(":")
        if sep and key.strip():
            out[key.strip().lower()] = value.strip()
    return out


# ------------------------------------------------------------------ own header parser
def read_header(path: Path) -> Header:
    """Parse ``<path>.hea`` without ``wfdb`` (lenient: anything after the sample count on the
    record line is ignored). Multi-segment headers are returned without signals."""
    hea = header_path(path)
    text = _read_text(hea)
    body, comments = _header_lines(hea, text)
    name, n_sig, fs, n_samples = _parse_record_line(hea, body[0])
    if "/" in name:
        return Header(hea, name, n_sig, fs, n_samples, [], comments, multi_segment=True)
    if len(body) - 1 < n_sig:
        raise DataError(
            f"{hea}: the record line says {n_sig} signals but {len(body) - 1} signal lines follow"
        )
    signals = [_parse_signal_line(hea, s) for s in body[1 : 1 + n_sig]]
    return Header(hea, name, n_sig, fs, n_samples, signals, comments)


def _read_text(hea: Path) -> str:
    if not hea.is_file():
        raise DataError(f"{hea}: header file not found")
    try:
        return hea.read_text(errors="replace")
    except OSError as exc:
        raise DataError(f"{hea}: cannot read the header ({exc.strerror})") from exc


def _header_lines(hea: Path, text: str) -> tuple[list[str], list[str]]:
    """(record and signal lines, comment lines without '#'); the record line comes first."""
    lines = [s.strip() for s in text.splitlines()]
    comments = [s.lstrip("#").strip() for s in lines if s.startswith("#")]
    body = [s for s in lines if s and not s.startswith("#")]
    if not body:
        raise DataError(f"{hea}: empty header (no record line)")
    return body, comments


def _parse_record_line(hea: Path, line: str) -> tuple[str, int, float, int | None]:
    """``name[/segments] n_sig [fs[/counter[(base)]] [n_samples [anything]]]``."""
    fields = line.split()
    try:
        n_sig = int(fields[1])
        n_samples = int(fields[3]) if len(fields) > 3 else None
    except (IndexError, ValueError):
        raise DataError(f"{hea}: malformed record line '{line}'") from None
    fs = _parse_fs(hea, fields[2]) if len(fields) > 2 else DEFAULT_FS
    return fields[0], n_sig, fs, n_samples


def _parse_fs(hea: Path, field: str) -> float:
    """The sampling frequency of a record line's ``fs[/counter[(base)]]`` field.

    Checked here because ``wfdb`` reads a rate it cannot parse as its 250 Hz default ('abc',
    'nan', '-5') or cuts it short ('3.6e2' as 3.6 Hz) without a word."""
    found = _FS.match(field)
    try:
        fs = float(found.group(1)) if found else math.nan
    except ValueError:
        fs = math.nan
    if not (math.isfinite(fs) and fs > 0):
        raise DataError(
            f"{hea}: sampling frequency '{field}' on the record line is not a positive number of "
            "Hz; write the rate as the record line's third field (e.g. 'rec 12 500 5000')"
        )
    return fs


def _parse_signal_line(hea: Path, line: str) -> SignalLine:
    """``file format[xspf][:skew][+offset] gain[(baseline)][/units] res zero init cksum block
    description`` (the description is the rest of the line)."""
    parts = line.split(maxsplit=8)
    fmt = _FORMAT.match(parts[1]) if len(parts) > 1 else None
    gain = _GAIN.match(parts[2]) if len(parts) > 2 else _GAIN.match("")
    if fmt is None or gain is None:
        raise DataError(f"{hea}: malformed signal line '{line}'")
    try:
        adc_zero = int(parts[4]) if len(parts) > 4 else 0
        value = float(gain.group(1)) if gain.group(1) else DEFAULT_GAIN
        baseline = int(gain.group(2)) if gain.group(2) else adc_zero
    except ValueError:
        raise DataError(f"{hea}: malformed signal line '{line}'") from None
    return SignalLine(
        file=parts[0],
        fmt=fmt.group(1),
        samples_per_frame=int(fmt.group(2) or 1),
        byte_offset=int(fmt.group(3) or 0),
        gain=value or DEFAULT_GAIN,
        baseline=baseline,
        units=gain.group(3) or "mV",
        lead=parts[8] if len(parts) > 8 else "",
    )


# ------------------------------------------------------------------ reading records
def read_record(path: Path) -> WfdbRecord:
    """Read ``<path>.hea`` and its signal into millivolts (NaN/flat checks happen in preprocess).

    ``wfdb`` reads it; a header that ``wfdb`` cannot parse is read by this module's own parser
    (``.mat`` or format-16 ``.dat`` signals only). Signals in MATLAB ``.mat`` files are always
    read by name with scipy and checked (a ``val`` matrix of leads x samples of the header's
    format), never as raw bytes at the header's byte offset, which scrambles the leads of a
    transposed, renamed or float matrix. The sampling rate is the header's own field, checked
    here. Bad input raises a one-line DataError.
    """
    import wfdb

    path = Path(path)
    hea = header_path(path)
    body, _ = _header_lines(hea, _read_text(hea))  # missing or unreadable: say so before wfdb
    fs = _parse_record_line(hea, body[0])[2]
    try:
        head = wfdb.rdheader(str(path))
    except Exception as exc:  # wfdb rejects some real headers (e.g. Challenge date/time)
        return _read_fallback(read_header(path), one_line(exc))
    files = list(getattr(head, "file_name", None) or [])
    if files and all(name.lower().endswith(".mat") for name in files):
        return _read_fallback(read_header(path), "")
    record = _read_with_wfdb(path, hea, head)
    record.fs = fs
    return record


def _read_with_wfdb(path: Path, hea: Path, head: Any) -> WfdbRecord:
    import wfdb

    files = list(dict.fromkeys(getattr(head, "file_name", None) or []))
    for name in files:
        if not (path.parent / name).is_file():
            raise DataError(f"{path.parent / name}: signal file not found (named in {hea})")
        if name.lower().endswith(".mat"):  # beside .dat files: check it before wfdb reads it
            idx = [i for i, f in enumerate(head.file_name) if f == name]
            fmts = {str(head.fmt[i]) for i in idx}
            _read_mat(path.parent / name, hea, len(idx), head.sig_len, fmts)
    try:
        rec = wfdb.rdrecord(str(path))
    except Exception as exc:  # wfdb raises assorted errors on short or odd signal files
        raise _signal_error(path, hea, head, exc) from exc
    signal = rec.p_signal  # (T, C) float64, physical units
    if signal is None:
        raise DataError(f"{hea}: wfdb returned no physical signal")
    n_samples = head.sig_len if head.sig_len is not None else signal.shape[0]
    _check_shape(hea, files, signal.shape[1], signal.shape[0], head.n_sig, n_samples)
    units = rec.units or [None] * head.n_sig
    scale = np.array([_to_mv(hea, u, i) for i, u in enumerate(units)])  # (C,)
    leads = [lead_name(n, i) for i, n in enumerate(rec.sig_name or [None] * head.n_sig)]
    return WfdbRecord(
        signal=(signal * scale).T.astype(np.float32),
        fs=float(rec.fs),
        leads=leads,
        n_samples=int(n_samples),
        comments=list(rec.comments or []),
        source=str(hea),
    )


def _signal_error(path: Path, hea: Path, head: Any, exc: Exception) -> DataError:
    """Explain why wfdb could not read the signal: truncated file, mismatch, or its message."""
    files = list(getattr(head, "file_name", None) or [])
    for name in dict.fromkeys(files):
        file = path.parent / name
        idx = [i for i, f in enumerate(files) if f == name]
        if name.lower().endswith(".mat"):  # raises the specific error
            _read_mat(file, hea, len(idx), head.sig_len, {str(head.fmt[i]) for i in idx})
        expected = _expected_bytes(head, idx)
        size = file.stat().st_size
        if expected is not None and size < expected:
            fmt = head.fmt[idx[0]]
            return DataError(
                f"{file}: truncated: {size} bytes, but {hea.name} says {head.sig_len} samples "
                f"of {len(idx)} signal(s) in format {fmt} ({expected} bytes)"
            )
    return DataError(f"{hea}: cannot read the signal: {one_line(exc)}")


def _expected_bytes(head: Any, idx: list[int]) -> int | None:
    """Bytes a signal file needs for the header's sample count, or None if unknown."""
    if head.sig_len is None:
        return None
    per_frame = 0.0
    for i in idx:
        bps = BYTES_PER_SAMPLE.get(str(head.fmt[i]))
        if bps is None:
            return None
        per_frame += bps * ((head.samps_per_frame or [1] * len(head.fmt))[i] or 1)
    offset = (head.byte_offset or [0] * len(head.fmt))[idx[0]] or 0
    return int(offset + np.ceil(head.sig_len * per_frame))


def _read_fallback(header: Header, why: str) -> WfdbRecord:
    """Read a record whose header wfdb rejects (``why``), or whose signals are all in ``.mat``
    files (``why`` empty), from this module's own parse."""
    hea = header.path
    if header.multi_segment:
        raise DataError(f"{hea}: wfdb cannot parse this multi-segment header ({why})")
    rows = []  # per signal file: (c, T) raw ADC values
    for name in dict.fromkeys(s.file for s in header.signals):
        lines = [s for s in header.signals if s.file == name]
        rows.append(_read_raw(hea, hea.parent / name, lines, header.n_samples, why))
    raw = np.concatenate(rows, axis=0)  # (C, T)
    n_samples = header.n_samples if header.n_samples is not None else raw.shape[1]
    files = list(dict.fromkeys(s.file for s in header.signals))
    _check_shape(hea, files, raw.shape[0], raw.shape[1], header.n_sig, n_samples)
    gain = np.array([s.gain for s in header.signals])[:, None]
    baseline = np.array([s.baseline for s in header.signals])[:, None]
    scale = np.array([_to_mv(hea, s.units, i) for i, s in enumerate(header.signals)])[:, None]
    signal = (raw - baseline) / gain * scale  # (C, T) mV
    invalid = np.array([s.fmt == "16" for s in header.signals])[:, None] & (raw == FORMAT16_INVALID)
    signal[invalid] = np.nan
    return WfdbRecord(
        signal=signal.astype(np.float32),
        fs=header.fs,
        leads=header.leads,
        n_samples=int(n_samples),
        comments=header.comments,
        source=str(hea),
    )


def _read_raw(
    hea: Path, file: Path, lines: list[SignalLine], n_samples: int | None, why: str
) -> np.ndarray:
    """Raw ADC values (c, T) of the signals ``lines`` stored in ``file``."""
    if not file.is_file():
        raise DataError(f"{file}: signal file not found (named in {hea})")
    if file.suffix.lower() == ".mat":
        return _read_mat(file, hea, len(lines), n_samples, {s.fmt for s in lines})
    fmts = {(s.fmt, s.samples_per_frame) for s in lines}
    if fmts != {("16", 1)}:
        fmt = ", ".join(sorted(f for f, _ in fmts))
        raise DataError(
            f"{hea}: wfdb cannot parse this header ({why}) and the fallback reader handles "
            f".mat and format-16 .dat signals only, not format {fmt}"
        )
    return _read_dat16(file, hea, len(lines), lines[0].byte_offset, n_samples)


def _read_mat(
    file: Path, hea: Path, n_sig: int, n_samples: int | None, fmts: set[str]
) -> np.ndarray:
    """``val`` (n_sig, T) of a MATLAB file, as the PhysioNet/CinC Challenges store signals:
    leads x samples, of the integer type of the header's format (:data:`MAT_DTYPES`)."""
    import scipy.io

    try:
        found = scipy.io.loadmat(str(file))
    except Exception as exc:  # scipy raises ValueError/TypeError on short or corrupt files
        raise DataError(f"{file}: truncated or unreadable MATLAB file ({one_line(exc)})") from exc
    if "val" not in found:
        names = ", ".join(k for k in found if not k.startswith("__")) or "no variables"
        raise DataError(
            f"{file}: holds no 'val' matrix (it holds {names}); store the signal as 'val', "
            f"leads x samples, as {hea.name} and the PhysioNet Challenge files expect"
        )
    val = np.asarray(found["val"])
    t = n_samples if n_samples is not None else (val.shape[0] if val.ndim == 2 else -1)
    if val.ndim == 2 and val.shape == (t, n_sig) and t != n_sig:
        raise DataError(
            f"{file}: 'val' is {t}x{n_sig} (samples x leads) but {hea.name} lists {n_sig} "
            f"signals of {t} samples: the matrix is transposed; store it as {n_sig}x{t}"
        )
    if val.ndim != 2 or val.shape[0] != n_sig:
        raise DataError(
            f"{file}: holds a {'x'.join(map(str, val.shape))} 'val' matrix but {hea.name} "
            f"lists {n_sig} signals"
        )
    if n_samples is not None and val.shape[1] != n_samples:
        raise DataError(
            f"{file}: holds {val.shape[1]} samples per signal but {hea.name} says {n_samples}"
        )
    fmt = ", ".join(sorted(fmts))
    want = MAT_DTYPES.get(fmt)
    if want is None:
        raise DataError(
            f"{hea}: format {fmt} for the .mat signal {file.name}; a .mat file stores one of "
            f"formats {', '.join(MAT_DTYPES)} ({', '.join(MAT_DTYPES.values())})"
        )
    if (val.dtype.kind, val.dtype.itemsize) != (np.dtype(want).kind, np.dtype(want).itemsize):
        raise DataError(
            f"{file}: 'val' holds {val.dtype} values but {hea.name} says format {fmt}, i.e. "
            f"{want} ADC units; store the ADC values as {want} (or fix the header's format)"
        )
    return val.astype(np.float64)


def _read_dat16(
    file: Path, hea: Path, n_sig: int, offset: int, n_samples: int | None
) -> np.ndarray:
    """Format-16 samples (little-endian int16, interleaved by frame) as (n_sig, T)."""
    size = file.stat().st_size - offset
    count = n_samples * n_sig if n_samples is not None else size // 2 // n_sig * n_sig
    if size < 2 * count:
        raise DataError(
            f"{file}: truncated: {size + offset} bytes, but {hea.name} says {n_samples} samples "
            f"of {n_sig} signal(s) in format 16 ({2 * count + offset} bytes)"
        )
    data = np.fromfile(file, dtype="<i2", count=count, offset=offset)
    return data.reshape(-1, n_sig).T.astype(np.float64)


def _check_shape(
    hea: Path, files: list[str], n_sig: int, n_read: int, n_sig_header: int, n_samples: int
) -> None:
    where = ", ".join(files) or hea.name
    if n_sig != n_sig_header:
        raise DataError(f"{hea}: lists {n_sig_header} signals but {where} holds {n_sig}")
    if n_read != n_samples:
        raise DataError(
            f"{where}: truncated or mismatched: read {n_read} samples per signal but "
            f"{hea.name} says {n_samples}"
        )


def _to_mv(hea: Path, units: str | None, index: int) -> float:
    """Factor from a signal's units to millivolts (absent units mean mV, as in WFDB)."""
    key = (units or "mV").strip().lower()
    if key not in UNIT_TO_MV:
        raise DataError(
            f"{hea}: signal {index} is in '{units}', not a voltage (mV, uV or V); "
            "only ECG voltages can be read"
        )
    return UNIT_TO_MV[key]


# ------------------------------------------------------------------ annotations and checks
def read_annotations(path: Path, extension: str = "atr") -> tuple[np.ndarray, list[str]]:
    """Sample positions (K,) int64 and symbols of the annotation file ``<path>.<extension>``."""
    import wfdb

    file = Path(f"{path}.{extension}")
    if not file.is_file():
        raise DataError(f"{file}: annotation file not found")
    try:
        ann = wfdb.rdann(str(path), extension)
    except Exception as exc:  # wfdb raises assorted errors on corrupt annotation files
        raise DataError(f"{file}: cannot read the annotations ({one_line(exc)})") from exc
    return np.asarray(ann.sample, dtype=np.int64), list(ann.symbol)


# ------------------------------------------------------------------ AAMI beat classes
# ANSI/AAMI EC57 beat classes as used by de Chazal et al., IEEE TBME 51(7):1196-1206 (2004):
# N = normal and bundle branch block (N L R e j), S = supraventricular ectopic (A a J S),
# V = ventricular ectopic (V E), F = fusion (F), Q = paced, paced fusion, unclassifiable (/ f Q).
# Every other annotation symbol (rhythm '+', quality '~', comments '"', artefacts '|', ...) is
# not a beat.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
AAMI: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}


def read_aami_beats(
    path: Path, n_samples: int, extension: str = "atr"
) -> tuple[np.ndarray, np.ndarray]:
    """Beats of the annotation file ``<path>.<extension>`` as AAMI classes.

    Returns positions (K,) int64 and classes (K,) ``<U1`` (one of :data:`AAMI_CLASSES`) of the
    annotations whose symbol is a beat in :data:`AAMI`, keeping only those inside a signal of
    ``n_samples`` samples (0 <= position < n_samples). Bad files raise a one-line DataError.
    """
    samples, symbols = read_annotations(path, extension)
    keep = np.array([s in AAMI for s in symbols], dtype=bool)  # (K_all,)
    beats = samples[keep]  # (K,)
    kept = np.asarray(symbols, dtype=object)[keep]
    classes = np.array([AAMI[s] for s in kept], dtype="<U1")
    inside = (beats >= 0) & (beats < n_samples)
    return beats[inside], classes[inside]


def aami_counts(classes: np.ndarray) -> dict[str, int]:
    """Beats per AAMI class, every class present (zeros included)."""
    classes = np.asarray(classes)
    return {c: int((classes == c).sum()) for c in AAMI_CLASSES}
