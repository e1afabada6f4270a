"""Paired comparisons: another evaluation of the same test windows, and the differences."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.errors import SslEcgError
from ssl_ecg.evaluation.scoring import _key, scoring_units
from ssl_ecg.tasks import LabelledWindows, TaskData


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Another evaluation of the same test windows to report a paired difference against."""

    label: str  # e.g. "random" or "handcrafted"
    folder: Path  # its results folder (predictions.npz)
    features: str | None = None  # its features setting to compare with (default: the same)


def test_fingerprint(windows: LabelledWindows) -> str:
    """Identity of a test set (records, window starts and lengths, labels)."""
    h = hashlib.sha256()
    for part in (windows.records.astype(str), windows.start, np.asarray(windows.y)):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(str(windows.length).encode())
    return h.hexdigest()[:16]


def _deltas(
    comparisons: list[Comparison], probas: dict[str, np.ndarray], task: TaskData,
    fingerprint: str, n_boot: int, seed: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Paired differences per our key, per comparison: {key: {label: delta}}."""
    from ssl_ecg.metrics import paired_delta

    out: dict[str, dict[str, Any]] = {k: {} for k in probas}
    for comp in comparisons:
        file = comp.folder / "predictions.npz"
        if not file.is_file():
            raise SslEcgError(f"--compare {comp.folder}: no predictions.npz (run evaluate there)")
        ref = np.load(file)
        if str(ref["fingerprint"]) != fingerprint:
            raise SslEcgError(
                f"--compare {comp.folder}: scored other test windows than this evaluation "
                "(another task, context or data contract); compare evaluations of one test set"
            )
        for key, proba in probas.items():
            feature, fraction = key.split("|")
            other = f"proba:{_key(comp.features or feature, float(fraction))}"
            if other not in ref:
                continue
            y, mine, groups = scoring_units(task.test, proba, task.aggregate)
            _, theirs, _ = scoring_units(task.test, ref[other], task.aggregate)
            d = paired_delta(y, mine, theirs, task.classes, task.scored, task.multilabel,
                             groups, n_boot, seed)  # fmt: skip
            d["features"] = comp.features or feature
            out[key][comp.label] = d
    return out
