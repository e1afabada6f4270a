"""Reading a prepared cache: records, splits, windows and batches, with flat memory.

Signals stay on disk (memory-mapped); a batch of windows is gathered from the maps on demand,
R-peaks per window come from one vectorised ``searchsorted`` over the stored peak list.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ssl_ecg.data.cache import CACHE_FORMAT, CACHE_RECORDS, CacheMeta, check_schema, read_json
from ssl_ecg.data.splits import patient_splits
from ssl_ecg.errors import DataError

if TYPE_CHECKING:
    from ssl_ecg.data.labels import LabelledSource

INDEX_KEYS = ("start", "n_samples", "shard", "present", "record_id", "patient_id")


@dataclasses.dataclass
class WindowBatch:
    signal: np.ndarray  # (B, C, T) float32
    lead_mask: np.ndarray  # (B, C) bool
    rpeaks: np.ndarray  # (B, K) int64 positions in the window, -1 = padding
    index: np.ndarray  # (B,) window indices
    patient: np.ndarray  # (B,) int64 index into the windows' patient_names
    segments: np.ndarray | None = None  # (S, B, C, T) adjacent windows, segments[0] = signal


class Store:
    """A prepared dataset on disk, checked when opened: ``meta.json`` against its schema
    (:class:`~ssl_ecg.data.cache.CacheMeta`), the index arrays against ``meta.json``, every
    signal shard's size against the index. A damaged cache is one :class:`DataError` line
    naming the file and saying to delete the folder and prepare again."""

    def __init__(self, folder: Path) -> None:
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            raise DataError(
                f"{folder}: not a prepared cache (no meta.json); run: ssl-ecg data prepare"
            )
        self.folder = folder
        fix = self.fix = (
            f"the cache is damaged: delete the folder {folder} and run ssl-ecg data prepare "
            "again (train and evaluate also rebuild it)"
        )
        raw = read_json(meta_file, fix)
        meta = check_schema(CacheMeta, raw, meta_file, fix)
        if meta.format != CACHE_FORMAT:
            raise DataError(f"{meta_file}: cache format {meta.format}, not {CACHE_FORMAT}; {fix}")
        if sum(meta.shards) != meta.n_samples or min(meta.shards) < 1:
            raise DataError(
                f"{meta_file}: 'shards' {meta.shards} do not add up to 'n_samples' "
                f"{meta.n_samples}; {fix}"
            )
        self.meta: dict[str, Any] = raw
        self.fs = float(meta.fs)
        self.leads: list[str] = list(meta.leads)
        c = len(self.leads)
        dtype = np.dtype(meta.dtype)
        index = _read_index(folder / "index.npz", meta.n_records, c, fix)
        self.shards = [
            _map_shard(folder / f"signal_{i:04d}.bin", dtype, n, c, fix)
            for i, n in enumerate(meta.shards)
        ]
        # global sample index where each shard starts
        sizes = np.asarray(meta.shards, dtype=np.int64)
        self.shard_base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.rec_start = index["start"].astype(np.int64)  # (R,) global sample index of each record
        self.rec_len = index["n_samples"].astype(np.int64)  # (R,)
        self.rec_shard = index["shard"].astype(np.int64)  # (R,)
        self.present = index["present"].reshape(-1, c)  # (R, C)
        self.record_ids = index["record_id"].tolist()
        self.patient_ids = index["patient_id"].tolist()
        self._check_index(folder / "index.npz", sizes, meta.splits)
        self._records: list[dict[str, Any]] | None = None
        # the labels file read for these records in this process (its columns, and the line
        # each value came from: LabelledSource.origin), or None; set by ssl_ecg.sources
        self.labelled: LabelledSource | None = None
        n_total = meta.n_samples
        self.rpeaks = _read_positions(folder / "rpeaks.npy", n_total, fix, ordered=True)
        self.beats = _read_positions(folder / "beats.npy", n_total, fix, ordered=False)
        self.beat_labels = _read_array(folder / "beat_labels.npy", fix)
        if self.beat_labels.shape != self.beats.shape:
            raise DataError(
                f"{folder / 'beat_labels.npy'}: {self.beat_labels.size} labels for "
                f"{self.beats.size} beats in beats.npy; {fix}"
            )

    def _check_index(self, file: Path, sizes: np.ndarray, splits: dict[str, list[str]]) -> None:
        """Every record lies inside its shard; record ids are unique and cover the splits."""
        n_shards = sizes.size
        bad = (self.rec_shard < 0) | (self.rec_shard >= n_shards) | (self.rec_len < 1)
        if not bad.any():
            base = self.shard_base[self.rec_shard]
            end = base + sizes[self.rec_shard]
            bad = (self.rec_start < base) | (self.rec_start + self.rec_len > end)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{file}: record {self.record_ids[i]} (samples {self.rec_start[i]}.."
                f"{self.rec_start[i] + self.rec_len[i]} of shard {self.rec_shard[i]}) lies outside "
                f"the signal shards meta.json lists; {self.fix}"
            )
        if len(set(self.record_ids)) != len(self.record_ids):
            raise DataError(f"{file}: record ids are not unique; {self.fix}")
        known = set(self.record_ids)
        for name, ids in splits.items():
            unknown = [r for r in ids if r not in known]
            if unknown:
                raise DataError(
                    f"{self.folder / 'meta.json'}: split '{name}' names record {unknown[0]}, which "
                    f"is not in index.npz; {self.fix}"
                )

    @property
    def records(self) -> list[dict[str, Any]]:
        """Per-record entries with labels (records.json, read and checked on first use)."""
        if self._records is None:
            file = self.folder / "records.json"
            raw = read_json(file, self.fix)
            check_schema(CACHE_RECORDS, raw, file, self.fix)
            ids = [r["record_id"] for r in raw]
            if ids != self.record_ids:
                n = len(self.record_ids)
                raise DataError(
                    f"{file}: lists {len(ids)} records that do not match the {n} of index.npz; "
                    f"{self.fix}"
                )
            self._records = raw
        return self._records

    def read_signals(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Signals (B, C, T) float32 of the windows starting at global samples ``starts`` (B,),
        gathered from the memory-mapped shards (a window never spans two records)."""
        out = np.empty((len(starts), length, len(self.leads)), dtype=np.float32)  # (B, T, C)
        shard = np.searchsorted(self.shard_base, starts, side="right") - 1
        local = starts - self.shard_base[shard]
        for i in range(len(starts)):
            out[i] = self.shards[shard[i]][local[i] : local[i] + length]
        return np.ascontiguousarray(out.transpose(0, 2, 1))

    # ------------------------------------------------------------- splits
    def splits(self, fractions: list[float], seed: int) -> dict[str, np.ndarray]:
        """Split name -> record indices: the dataset's own splits, else patient-wise seeded."""
        index = {rid: i for i, rid in enumerate(self.record_ids)}
        named = self.meta.get("splits") or {}
        if named:
            return {k: np.array([index[r] for r in v], dtype=np.int64) for k, v in named.items()}
        return patient_splits(self.patient_ids, fractions, seed)

    # ------------------------------------------------------------- windows
    def windows(
        self, window_s: float, stride_s: float | None, records: np.ndarray | None = None,
        n_segments: int = 1,
    ) -> Windows:  # fmt: skip
        """Every full window of the given records (default all); with ``n_segments`` > 1 only
        windows followed by n_segments - 1 more in the same record."""
        length, hop = round(window_s * self.fs), round((stride_s or window_s) * self.fs)
        return Windows(self, length, hop, records, n_segments)


class Windows:
    """Fixed-length windows over a :class:`Store`, readable in batches."""

    def __init__(
        self, store: Store, length: int, hop: int, records: np.ndarray | None,
        n_segments: int = 1,
    ) -> None:  # fmt: skip
        if length < 1 or hop < 1:
            raise DataError("window_s and stride_s must be at least one sample long")
        self.store = store
        self.length = length
        self.n_segments = n_segments
        recs = np.arange(store.rec_len.size) if records is None else np.asarray(records)
        lens = store.rec_len[recs]
        span = length * n_segments  # samples a window and its following segments cover
        counts = np.where(lens >= span, 1 + (lens - span) // hop, 0)
        self.record = np.repeat(recs, counts)  # (N,) record of each window
        first = np.repeat(np.cumsum(counts) - counts, counts)
        self.offset = (np.arange(counts.sum()) - first) * hop  # (N,) start within the record
        self.start = store.rec_start[self.record] + self.offset  # (N,) global start
        self.rp_lo = np.searchsorted(store.rpeaks, self.start)
        self.rp_hi = np.searchsorted(store.rpeaks, self.start + length)
        names, of_record = np.unique(np.asarray(store.patient_ids, dtype=str), return_inverse=True)
        self.patient_names: list[str] = names.tolist()
        self.patient = of_record.ravel()[self.record]  # (N,) patient index of each window

    def __len__(self) -> int:
        return int(self.record.size)

    def read(self, idx: np.ndarray) -> WindowBatch:
        """Gather windows ``idx`` (B,) from the shards: signals (B, C, T) as float32."""
        idx = np.asarray(idx)
        st = self.store
        rec = self.record[idx]
        signal = st.read_signals(self.start[idx], self.length)
        lo, hi = self.rp_lo[idx], self.rp_hi[idx]
        k = int((hi - lo).max(initial=0))
        pos = lo[:, None] + np.arange(k)[None, :]  # (B, K)
        valid = pos < hi[:, None]
        peaks = np.asarray(st.rpeaks[np.minimum(pos, max(st.rpeaks.size - 1, 0))]) if k else pos
        peaks = np.where(valid, peaks - self.start[idx][:, None], -1)
        segments = None
        if self.n_segments > 1:
            later = [st.read_signals(self.start[idx] + s * self.length, self.length)
                     for s in range(1, self.n_segments)]  # fmt: skip
            segments = np.stack([signal, *later])
        return WindowBatch(signal, st.present[rec], peaks.astype(np.int64), idx,
                           self.patient[idx].astype(np.int64), segments)  # fmt: skip


def _read_index(file: Path, n_records: int, c: int, fix: str) -> dict[str, np.ndarray]:
    """The arrays of ``index.npz``, each checked for its kind and for ``n_records`` entries."""
    if not file.is_file():
        raise DataError(f"{file}: not found; {fix}")
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [k for k in INDEX_KEYS if k not in archive.files]
            if missing:
                raise DataError(f"{file}: has no array '{missing[0]}'; {fix}")
            arrays = {k: np.asarray(archive[k]) for k in INDEX_KEYS}
    except DataError:
        raise
    except Exception as exc:  # zipfile, zlib, numpy format and OS errors on a damaged file
        raise DataError(f"{file}: not a readable numpy archive ({_one_line(exc)}); {fix}") from None
    kinds = {"start": "iu", "n_samples": "iu", "shard": "iu", "present": "b",
             "record_id": "U", "patient_id": "U"}  # fmt: skip
    for key, kind in kinds.items():
        a = arrays[key]
        want = n_records * c if key == "present" else n_records
        if a.dtype.kind not in kind or a.ndim not in (1, 2) or a.size != want:
            raise DataError(
                f"{file}: array '{key}' is {a.dtype} of shape {a.shape}, expected {want} "
                f"entries for the {n_records} records of meta.json; {fix}"
            )
    return arrays


def _map_shard(file: Path, dtype: np.dtype, n: int, c: int, fix: str) -> np.memmap:
    """Signal shard ``file`` as an (n, c) memory map, after checking its size."""
    need = n * c * dtype.itemsize
    try:
        size = file.stat().st_size
    except OSError:
        raise DataError(f"{file}: signal shard not found; {fix}") from None
    if size != need:
        raise DataError(
            f"{file}: {size} bytes, but meta.json says {n} samples x {c} leads of {dtype} "
            f"({need} bytes); {fix}"
        )
    try:
        return np.memmap(file, dtype=dtype, mode="r", shape=(n, c))
    except (OSError, ValueError) as exc:
        raise DataError(f"{file}: cannot map the signal shard ({_one_line(exc)}); {fix}") from None


def _read_array(file: Path, fix: str) -> np.ndarray:
    """A 1-D ``.npy`` array, memory-mapped when it can be."""
    if not file.is_file():
        raise DataError(f"{file}: not found; {fix}")
    try:
        a = np.load(file, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError on damaged files
        raise DataError(f"{file}: not a readable .npy array ({_one_line(exc)}); {fix}") from None
    if a.ndim != 1:
        raise DataError(f"{file}: holds an array of shape {a.shape}, not a list; {fix}")
    return a


def _read_positions(file: Path, n_samples: int, fix: str, ordered: bool) -> np.ndarray:
    """Global sample positions in ``[0, n_samples)`` (sorted when ``ordered``: R-peaks are
    searched with ``searchsorted``)."""
    a = _read_array(file, fix)
    if a.dtype.kind not in "iu":
        raise DataError(f"{file}: holds {a.dtype} values, not sample positions; {fix}")
    if a.size and (a.min() < 0 or a.max() >= n_samples):
        raise DataError(f"{file}: positions outside the {n_samples} samples of the cache; {fix}")
    if ordered and a.size and bool((np.diff(a) < 0).any()):
        raise DataError(f"{file}: positions are not sorted; {fix}")
    return a


def _one_line(exc: BaseException) -> str:
    text = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


class MixedWindows:
    """The windows of several sources read as one set: global window ``i`` belongs to the
    source whose range of indices holds it. Patients are named ``source:patient``, so ids of
    two datasets never collide. ``order`` draws an epoch so that a source's share of the
    windows is its weight's share of the weights, whatever its size."""

    def __init__(self, parts: list[Windows], weights: list[float], names: list[str]) -> None:
        self.parts = parts
        self.length = parts[0].length
        sizes = np.array([len(p) for p in parts], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (S+1,)
        self.patient_names = [f"{n}:{p}" for n, part in zip(names, parts, strict=True)
                              for p in part.patient_names]  # fmt: skip
        self.patient_base = np.cumsum([0] + [len(p.patient_names) for p in parts])[:-1]
        w = np.asarray(weights, dtype=np.float64)
        total = w[sizes > 0].sum()
        share = np.where(sizes > 0, w / total, 0.0) if total > 0 else np.zeros_like(w)
        self.probs = np.repeat(share / np.maximum(sizes, 1), sizes)  # (N,) per window

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def order(self, generator: Any) -> Any:
        """One epoch of window indices (N,): a permutation for one source, else drawn with
        replacement by weight (torch, seeded by ``generator``)."""
        import torch

        if len(self.parts) == 1:
            return torch.randperm(len(self), generator=generator)
        probs = torch.from_numpy(self.probs)
        return torch.multinomial(probs, len(self), replacement=True, generator=generator)

    def read(self, idx: np.ndarray) -> WindowBatch:
        """Gather windows ``idx`` (B,) from their sources."""
        idx = np.asarray(idx)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        batches = {}
        for s in np.unique(part):
            mine = np.flatnonzero(part == s)
            batches[int(s)] = (mine, self.parts[s].read(idx[mine] - self.offsets[s]))
        if len(batches) == 1:
            ((s, (_, wb)),) = batches.items()
            wb.patient = wb.patient + self.patient_base[s]
            wb.index = idx
            return wb
        b = idx.size
        first = next(iter(batches.values()))[1]
        k = max(wb.rpeaks.shape[1] for _, wb in batches.values())
        out = WindowBatch(
            np.empty((b, *first.signal.shape[1:]), dtype=np.float32),
            np.empty((b, first.lead_mask.shape[1]), dtype=bool),
            np.full((b, k), -1, dtype=np.int64), idx, np.empty(b, dtype=np.int64),
            None if first.segments is None else
            np.empty((first.segments.shape[0], b, *first.signal.shape[1:]), dtype=np.float32),
        )  # fmt: skip
        for s, (mine, wb) in batches.items():
            out.signal[mine] = wb.signal
            out.lead_mask[mine] = wb.lead_mask
            out.rpeaks[mine, : wb.rpeaks.shape[1]] = wb.rpeaks
            out.patient[mine] = wb.patient + self.patient_base[s]
            if out.segments is not None and wb.segments is not None:
                out.segments[:, mine] = wb.segments
        return out
