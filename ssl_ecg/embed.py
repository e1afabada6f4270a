"""Embeddings out: for one's own classifier, a notebook or another tool.

``ssl-ecg embed MODEL RECIPE -o embeddings.npz`` embeds every window of the recipe's data
(prepared under the model's own data contract: rate, leads, filters, normalisation), one row per
window or, with ``--per record``, per record (the mean of its windows), with the record id,
patient id, window start and the records' labels. From Python::

    import ssl_ecg
    enc = ssl_ecg.load_encoder("export/")           # an export folder, run directory or checkpoint
    z = enc.embed(signal, fs=300, leads=["ECG"], lead_map={"ECG": "II"})   # (n_windows, D)

``embed`` applies exactly what ``ssl-ecg data prepare`` applies to a record (lead selection,
band-pass, resampling, normalisation, the cache's dtype) and cuts the same windows, so a record
gives the same vectors both ways.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_ecg.errors import SslEcgError

PER = ("window", "record")


def _forward(
    encoder: Any, read: Any, n: int, device: torch.device, batch_size: int = 2048
) -> np.ndarray:
    """Pooled embeddings (n, D) of windows ``read(idx) -> (B, C, T)``, in batches."""
    out = np.empty((n, encoder.embed_dim), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, n, batch_size):
            idx = np.arange(lo, min(lo + batch_size, n))
            x = torch.from_numpy(np.ascontiguousarray(read(idx), dtype=np.float32)).to(device)
            out[idx] = encoder(x).float().cpu().numpy()
    return out


@dataclasses.dataclass
class LoadedEncoder:
    """An encoder with its data contract: ``embed`` takes raw signals."""

    encoder: Any  # ssl_ecg.Encoder, in eval mode
    contract: dict[str, Any]  # fs, leads, window_s, n_samples, preprocessing
    description: str = ""
    device: str = "cpu"

    @property
    def dim(self) -> int:
        return int(self.encoder.embed_dim)

    def embed(
        self, signal: np.ndarray, fs: float, leads: list[str] | None = None,
        lead_map: dict[str, str] | None = None, stride_s: float | None = None,
        batch_size: int = 2048,
    ) -> np.ndarray:  # fmt: skip
        """Embeddings (n_windows, D) of a raw recording ``signal`` (C, T) in millivolts at
        ``fs`` Hz with leads named ``leads`` (default: the model's): preprocessed as the model's
        data was (leads selected through synonyms and ``lead_map``, band-pass, resampling,
        normalisation), cut into the model's windows every ``stride_s`` (default: one window,
        no overlap)."""
        from ssl_ecg.config import PreprocessConfig
        from ssl_ecg.data.preprocess import process
        from ssl_ecg.data.record import Record

        c = self.contract
        x = np.asarray(signal)
        if x.ndim == 1:
            x = x[None, :]
        names = list(leads) if leads is not None else list(c["leads"])
        if x.ndim != 2 or x.shape[0] != len(names):
            raise SslEcgError(
                f"embed: signal of shape {np.shape(signal)} for {len(names)} lead(s) {names}; "
                "give a (leads, samples) array and one name per lead (leads=[...])"
            )
        stored = {k: v for k, v in c["preprocessing"].items() if k not in ("leads", "lead_map")}
        pre = PreprocessConfig.model_validate({**stored, "lead_map": dict(lead_map or {})})
        record = Record(x, float(fs), names, "array", "array", source="embed: signal")
        sig = process(record, pre, list(c["leads"]), rpeaks=False).signal  # (T, C) cache dtype
        n = int(c["n_samples"])
        hop = round((stride_s or c["window_s"]) * float(c["fs"]))
        if sig.shape[0] < n or hop < 1:
            raise SslEcgError(
                f"embed: the signal is {sig.shape[0] / float(c['fs']):.2f} s long after "
                f"resampling, shorter than the model's {c['window_s']:g} s window"
            )
        starts = np.arange(0, sig.shape[0] - n + 1, hop)
        views = np.lib.stride_tricks.sliding_window_view(sig, n, axis=0)  # (T-n+1, C, n)
        return _forward(self.encoder, lambda idx: views[starts[idx]], starts.size,
                        torch.device(self.device), batch_size)  # fmt: skip


def load_encoder(path: str | Path, device: str = "cpu") -> LoadedEncoder:
    """An export folder, run directory or checkpoint as a :class:`LoadedEncoder`."""
    from ssl_ecg.evaluation import load_model

    model = load_model(str(path))
    if model.encoder is None:
        raise SslEcgError(f"{path}: not an encoder (an export folder, run directory or checkpoint)")
    return LoadedEncoder(model.encoder.eval().to(device), model.contract, model.description,
                         device)  # fmt: skip


# ------------------------------------------------------------------ a recipe's data
def _label_columns(labels: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One array per label key: numbers as float (NaN where missing), else strings (''); a
    record's several labels (a list) as one string, joined by '; '."""
    keys = list(dict.fromkeys(k for lab in labels for k in lab))
    out = {}
    for key in keys:
        values = [lab.get(key) for lab in labels]
        values = ["; ".join(map(str, v)) if isinstance(v, list) else v for v in values]
        present = [v for v in values if v is not None]
        if not present or any(isinstance(v, dict) for v in present):
            continue
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            out[key] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            out[key] = np.array(["" if v is None else str(v) for v in values], dtype=str)
    return out


def embed_recipe(
    model_spec: str, recipe: Path, out: Path, *, per: str = "window",
    data: dict[str, Any] | None = None, stride_s: float | None = None, device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Embed every window (or record) of a recipe's data with a model and write ``out``
    (``.npz``, or ``.parquet`` when pyarrow is installed). Returns a summary."""
    from ssl_ecg.evaluation import contract_data, load_model
    from ssl_ecg.evaluation.models import recipe_data_table
    from ssl_ecg.sources import prepare_all

    _check_request(out, per)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = load_model(model_spec, recipe if model_spec == "random" else None)
    if model.encoder is None:
        raise SslEcgError(f"{model_spec}: a baseline has no embeddings; give an encoder")
    table = recipe_data_table(recipe)
    c = model.contract
    rec = contract_data(c, table, recipe, 0, data)
    hop_s = stride_s or table.get("stride_s") or c["window_s"]
    dev = torch.device(device)
    encoder = model.encoder.eval().to(dev)
    columns: dict[str, list[np.ndarray]] = {}
    parts: list[np.ndarray] = []
    for prepared in prepare_all(rec, progress=progress):
        store = prepared.store
        windows = store.windows(c["window_s"], hop_s)
        z = _forward(encoder, lambda idx, w=windows: w.read(idx).signal, len(windows), dev)
        recs = windows.record
        if per == "record":
            z, recs, n_windows = _per_record(z, recs)
            starts = np.zeros(recs.size)
        else:
            starts, n_windows = windows.offset / store.fs, np.ones(len(windows), dtype=np.int64)
        parts.append(z)
        labels = [store.records[i]["labels"] for i in recs]
        cols = {
            "record_id": np.asarray(store.record_ids, dtype=str)[recs],
            "patient_id": np.asarray(store.patient_ids, dtype=str)[recs],
            "dataset": np.full(recs.size, store.meta["dataset"]["name"]),
            "start_s": np.asarray(starts, dtype=np.float64),
            "n_windows": np.asarray(n_windows, dtype=np.int64),
            **{f"label:{k}": v for k, v in _label_columns(labels).items()},
        }
        for key, value in cols.items():
            columns.setdefault(key, []).append(value)
    z = np.concatenate(parts)
    merged = {k: np.concatenate(v) for k, v in columns.items() if len(v) == len(parts)}
    _save(out, z, merged)
    return {"rows": int(z.shape[0]), "dim": int(z.shape[1]), "per": per, "out": str(out),
            "model": model.description}  # fmt: skip


def _check_request(out: Path, per: str) -> None:
    if per not in PER:
        raise SslEcgError(f"--per '{per}': choose one of {', '.join(PER)}")
    if out.suffix not in (".npz", ".parquet"):
        raise SslEcgError(f"-o {out}: write a .npz file (or .parquet, with pyarrow installed)")
    if out.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SslEcgError(
                f"-o {out}: writing parquet needs pyarrow (pip install pyarrow); or write .npz"
            ) from None


def _per_record(z: np.ndarray, recs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean embedding (R, D) of each record's windows, the records (R,) and window counts."""
    names, inverse = np.unique(recs, return_inverse=True)
    sums = np.zeros((names.size, z.shape[1]))
    np.add.at(sums, inverse.ravel(), z)
    counts = np.bincount(inverse.ravel(), minlength=names.size)
    return (sums / counts[:, None]).astype(np.float32), names, counts


def _save(out: Path, z: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """``embedding`` (N, D) float32 and the columns, written whole or not at all."""
    from ssl_ecg.outputs import atomic_write

    if out.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = pa.array(z.reshape(-1))
        embedding = pa.FixedSizeListArray.from_arrays(flat, z.shape[1])
        table = pa.table({**columns, "embedding": embedding})
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        atomic_write(out, buffer.getvalue().to_pybytes())
        return
    buffer = io.BytesIO()
    np.savez(buffer, embedding=z, **columns)
    atomic_write(out, buffer.getvalue())
