"""What a probe reads: a model's embeddings, the task's side features, or both."""

from __future__ import annotations

import numpy as np
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.evaluation.models import Model
from ssl_ecg.interfaces import Encoder
from ssl_ecg.tasks import LabelledWindows, TaskData

# what the probe reads: the embedding, the task's side features, or both; ":record" = each
# record's embeddings standardised by that record's own mean and sd (a test-time choice that
# uses a test record's unlabelled windows; reported as such)
FEATURES = ("embedding", "side", "embedding+side", "embedding:record", "embedding:record+side")


@torch.no_grad()
def embed(encoder: Encoder, windows: LabelledWindows, device: torch.device,
          batch_size: int = 256, progress: bool = False) -> np.ndarray:  # fmt: skip
    """Pooled embeddings (N, D) of every window, in batches."""
    from rich.progress import Progress

    encoder = encoder.to(device).eval()
    out = np.empty((len(windows), encoder.embed_dim), dtype=np.float32)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("embed", total=len(windows))
        for lo in range(0, len(windows), batch_size):
            idx = np.arange(lo, min(lo + batch_size, len(windows)))
            x = torch.from_numpy(windows.read(idx)).to(device)
            try:
                out[idx] = encoder(x).float().cpu().numpy()
            except (ValueError, RuntimeError) as exc:
                if lo:
                    raise
                raise SslEcgError(
                    f"the encoder cannot embed the task's windows of {windows.length} samples "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0]}); choose a window length "
                    "it takes (e.g. the task's context_s)"
                ) from None
            bar.update(task, advance=idx.size)
    return out


def features_of(
    model: Model, task: TaskData, device: torch.device, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The model's features (N, D) of the task's train and test windows."""
    if model.baseline is not None:
        model.baseline.fit(task)
        return model.baseline.transform(task.train), model.baseline.transform(task.test)
    assert model.encoder is not None
    return (embed(model.encoder, task.train, device, progress=progress),
            embed(model.encoder, task.test, device, progress=progress))  # fmt: skip


def check_features(features: list[str], task: TaskData, task_name: str, protocol: str) -> None:
    """Refuse a features setting the task or protocol cannot honour, in one line."""
    for f in features:
        if f not in FEATURES:
            raise SslEcgError(f"--features '{f}': choose from {', '.join(FEATURES)}")
        if f.endswith("side") and not task.side_names:
            raise SslEcgError(
                f"--features {f}: task {task_name} computes no side features; "
                "use --features embedding"
            )
        if f != "embedding" and protocol == "finetune":
            raise SslEcgError(f"--features {f}: fine-tuning reads the signal only; use embedding")


def per_record(z: np.ndarray, records: np.ndarray) -> np.ndarray:
    """Embeddings (N, D) standardised within each record (mean 0, sd 1 per dimension)."""
    out = np.empty_like(z)
    for rec in np.unique(records):
        mine = records == rec
        out[mine] = (z[mine] - z[mine].mean(0)) / (z[mine].std(0) + 1e-6)
    return out


def _design(feature: str, z: np.ndarray | None, windows: LabelledWindows) -> np.ndarray:
    """The probe's input (N, F) for one features setting."""
    parts = []
    if feature.startswith("embedding") and z is not None:
        parts.append(per_record(z, windows.records) if ":record" in feature else z)
    if feature.endswith("side") and windows.side is not None:
        parts.append(windows.side)
    return np.concatenate(parts, axis=1)
