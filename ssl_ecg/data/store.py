"""Reading a prepared cache: records, splits, windows and batches, with flat memory.

Signals stay on disk (memory-mapped); a batch of windows is gathered from the maps on demand,
R-peaks per window come from one vectorised ``searchsorted`` over the stored peak list.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.data.splits import patient_splits
from ssl_ecg.errors import DataError


@dataclasses.dataclass
class WindowBatch:
    signal: np.ndarray  # (B, C, T) float32
    lead_mask: np.ndarray  # (B, C) bool
    rpeaks: np.ndarray  # (B, K) int64 positions in the window, -1 = padding
    index: np.ndarray  # (B,) window indices


class Store:
    """A prepared dataset on disk."""

    def __init__(self, folder: Path) -> None:
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            raise DataError(
                f"{folder}: not a prepared cache (no meta.json); run: ssl-ecg data prepare"
            )
        self.folder = folder
        self.meta: dict[str, Any] = json.loads(meta_file.read_text())
        index = np.load(folder / "index.npz")
        self.fs = float(self.meta["fs"])
        self.leads: list[str] = list(self.meta["leads"])
        c = len(self.leads)
        dtype = np.dtype(self.meta["dtype"])
        self.shards = [
            np.memmap(folder / f"signal_{i:04d}.bin", dtype=dtype, mode="r", shape=(n, c))
            for i, n in enumerate(self.meta["shards"])
        ]
        # global sample index where each shard starts
        sizes = np.asarray(self.meta["shards"], dtype=np.int64)
        self.shard_base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.rec_start = index["start"]  # (R,) global sample index of each record
        self.rec_len = index["n_samples"]  # (R,)
        self.rec_shard = index["shard"].astype(np.int64)  # (R,)
        self.present = index["present"].reshape(-1, c)  # (R, C)
        self.record_ids = index["record_id"].tolist()
        self.patient_ids = index["patient_id"].tolist()
        self._records: list[dict[str, Any]] | None = None
        self.rpeaks = np.load(folder / "rpeaks.npy", mmap_mode="r")
        self.beats = np.load(folder / "beats.npy", mmap_mode="r")
        self.beat_labels = np.load(folder / "beat_labels.npy", mmap_mode="r")

    @property
    def records(self) -> list[dict[str, Any]]:
        """Per-record entries with labels (records.json, read on first use)."""
        if self._records is None:
            self._records = json.loads((self.folder / "records.json").read_text())
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
        self, window_s: float, stride_s: float | None, records: np.ndarray | None = None
    ) -> Windows:
        """Every full window of the given records (default all)."""
        length, hop = round(window_s * self.fs), round((stride_s or window_s) * self.fs)
        return Windows(self, length, hop, records)


class Windows:
    """Fixed-length windows over a :class:`Store`, readable in batches."""

    def __init__(self, store: Store, length: int, hop: int, records: np.ndarray | None) -> None:
        if length < 1 or hop < 1:
            raise DataError("window_s and stride_s must be at least one sample long")
        self.store = store
        self.length = length
        recs = np.arange(store.rec_len.size) if records is None else np.asarray(records)
        lens = store.rec_len[recs]
        counts = np.where(lens >= length, 1 + (lens - length) // hop, 0)
        self.record = np.repeat(recs, counts)  # (N,) record of each window
        first = np.repeat(np.cumsum(counts) - counts, counts)
        self.offset = (np.arange(counts.sum()) - first) * hop  # (N,) start within the record
        self.start = store.rec_start[self.record] + self.offset  # (N,) global start
        self.rp_lo = np.searchsorted(store.rpeaks, self.start)
        self.rp_hi = np.searchsorted(store.rpeaks, self.start + length)

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
        return WindowBatch(signal, st.present[rec], peaks.astype(np.int64), idx)
