"""Patient-wise, seeded splits: a patient never sits in two splits."""

from __future__ import annotations

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


def patient_splits(
    patient_ids: list[str], fractions: list[float], seed: int
) -> dict[str, np.ndarray]:
    """Record indices per split; patients (not records) are shuffled and cut by ``fractions``."""
    patients = sorted(set(patient_ids))
    order = np.random.default_rng(seed).permutation(len(patients))
    groups = np.split(order, np.cumsum(_counts(fractions, len(patients)))[:-1])
    split_of = {}
    for name, group in zip(SPLIT_NAMES, groups, strict=True):
        for p in group:
            split_of[patients[p]] = name
    out = {name: [] for name in SPLIT_NAMES}
    for i, pid in enumerate(patient_ids):
        out[split_of[pid]].append(i)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


def _counts(fractions: list[float], n: int) -> list[int]:
    """Patients per split: largest remainders, and at least one for every non-zero fraction
    when there are enough patients."""
    exact = np.asarray(fractions, dtype=float) * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts))[: n - counts.sum()]:
        counts[i] += 1
    for i in range(len(counts)):
        if fractions[i] > 0 and counts[i] == 0 and counts.max() > 1:
            counts[int(np.argmax(counts))] -= 1
            counts[i] += 1
    return counts.tolist()
