"""The whole evaluation: check the request, embed, score every setting, write the results."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_ecg.errors import SslEcgError
from ssl_ecg.evaluation.compare import Comparison, _deltas, test_fingerprint
from ssl_ecg.evaluation.crossval import _cross_validate, cv_folds, pool
from ssl_ecg.evaluation.features import FEATURES, check_features, embed, features_of
from ssl_ecg.evaluation.loading import leakage
from ssl_ecg.evaluation.models import Model
from ssl_ecg.evaluation.probes import identity_probe
from ssl_ecg.evaluation.report import _write
from ssl_ecg.evaluation.scoring import AGGREGATES, PROTOCOLS, Protocol, _score
from ssl_ecg.tasks import TaskData


def check_request(
    protocol: str, fractions: list[float], features: list[str], compare: list[Comparison]
) -> None:
    """Refuse what cannot be honoured before any data is read: one line each."""
    if protocol not in PROTOCOLS:
        raise SslEcgError(f"--protocol '{protocol}': choose one of {', '.join(PROTOCOLS)}")
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise SslEcgError(
            f"--label-fraction {fractions or '(none)'}: give fractions in (0, 1], e.g. 0.01,0.1,1"
        )
    if not features:
        raise SslEcgError(f"--features: give at least one of {', '.join(FEATURES)}")
    for f in features:
        if f not in FEATURES:
            raise SslEcgError(f"--features '{f}': choose from {', '.join(FEATURES)}")
    for comp in compare:
        if not (comp.folder / "predictions.npz").is_file():
            raise SslEcgError(
                f"--compare {comp.folder}: no predictions.npz there; give the results folder "
                "of an earlier ssl-ecg evaluate on the same task"
            )


def _check_model(
    model: Model, task: TaskData, task_name: str, protocol: str, allow_leakage: bool
) -> list[str]:
    """Refuse what cannot be scored; the test patients the model was pretrained on."""
    if task.aggregate not in AGGREGATES:
        raise SslEcgError(
            f"task {task_name}: aggregate '{task.aggregate}': choose one of {', '.join(AGGREGATES)}"
        )
    if protocol == "finetune" and model.encoder is None:
        raise SslEcgError(f"--protocol finetune: {model.description} has no encoder to fine-tune")
    shared = leakage(model, task)
    if shared and not allow_leakage:
        raise SslEcgError(
            f"leakage: {len(shared)} test patient(s) of task {task_name} (e.g. "
            f"{', '.join(shared[:5])}) were in the pretraining data of {model.description}; "
            "pretrain without them (e.g. MIT-BIH DS1 only) or pass --allow-leakage, which is "
            "recorded in the results"
        )
    return shared


def _features(
    model: Model, task: TaskData, pooled: bool, dev: torch.device, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test features; cross-validation's pooled windows are embedded once."""
    if pooled and model.encoder is not None:
        z = embed(model.encoder, task.test, dev, progress=progress)
        return z, z
    return features_of(model, task, dev, progress)


def evaluate(
    model: Model, task_name: str, task: TaskData, protocol: str, fractions: list[float],
    out_dir: Path, *, features: list[str] | None = None,
    compare: list[Comparison] | None = None, seed: int = 0, allow_leakage: bool = False,
    k: int = 10, finetune_steps: int = 300, n_boot: int = 1000, device: str = "auto",
    progress: bool = False, identity: bool = False, cv: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Score ``model`` on ``task`` for every features setting and label fraction; write
    results.json, results.md, confusion.png and predictions.npz (for paired comparisons).

    ``cv`` = K > 1: K-fold cross-validation over the task's train and test windows pooled
    (folds grouped by patient, stratified by label, seeded); each report is that of the pooled
    out-of-fold predictions (patient-bootstrap interval as usual) plus the folds' mean and sd."""
    from ssl_ecg.runtime import pick_device

    features = list(features or ["embedding"])
    check_request(protocol, fractions, features, list(compare or []))
    check_features(features, task, task_name, protocol)
    folds = None
    if cv:
        task = dataclasses.replace(task, test=pool(task, task_name))
        task.train = task.test
        folds = cv_folds(task.test, cv, seed, task.aggregate, task_name)
    shared = _check_model(model, task, task_name, protocol, allow_leakage)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    t0 = time.perf_counter()
    how = Protocol(protocol, k, finetune_steps, seed, n_boot)
    z_train = z_test = None
    if protocol != "finetune" and (identity or any("embedding" in f for f in features)):
        z_train, z_test = _features(model, task, folds is not None, dev, progress)
    if folds is None:
        probas, reports = _score(model, task, how, features, fractions, z_train, z_test, dev)
    else:
        probas, reports = _cross_validate(model, task, how, features, fractions, z_train, folds,
                                          dev)  # fmt: skip
    fingerprint = test_fingerprint(task.test)
    deltas = _deltas(list(compare or []), probas, task, fingerprint, n_boot, seed)
    results: dict[str, dict[str, Any]] = {f: {} for f in features}
    for key, r in reports.items():
        feature, fraction = key.split("|")
        results[feature][fraction] = {**r, "delta": deltas[key]}
    summary = {
        "model": model.description, "task": task_name, "task_description": task.description,
        "protocol": protocol, "features": features, "side_features": list(task.side_names),
        "label_fractions": fractions, "seed": seed, "contract": model.contract,
        "n_train": len(task.train), "n_test": len(task.test),
        "test_patients": len(set(task.test.patients.tolist())), "test_set": fingerprint,
        "aggregate": task.aggregate, "cv": int(cv) if folds is not None else None,
        "test_records": len(set(task.test.records.tolist())),
        "leakage": {"shared_test_patients": shared, "allowed": bool(shared and allow_leakage)},
        "results": results,
        "identity": identity_probe(z_train, task.train, seed) if identity and z_train is not None
        else None,
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {dev}",
    }  # fmt: skip
    _write(summary, probas, task, out_dir, folds)
    _log_scores(model, summary)
    return summary


def _log_scores(model: Model, summary: dict[str, Any]) -> None:
    """A run's scores also go to its ``[[loggers]]`` (if its recipe names any)."""
    if model.run_dir is not None:
        from ssl_ecg.loggers import log_evaluation

        log_evaluation(model.run_dir, model.step or 0, summary)
