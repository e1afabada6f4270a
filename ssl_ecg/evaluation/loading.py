"""A task's data under a model's contract, the leakage guard, and labelled subsets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.errors import PluginError, RecipeError, SslEcgError
from ssl_ecg.evaluation.models import Model, contract_data
from ssl_ecg.tasks import LabelledWindows, TaskContext, TaskData

# the setting of a task that reads any dataset: a [data]-like table (``evaluate --data`` sets it)
DATASET = "dataset"


def load_task(
    name: str, settings: dict[str, Any], model: Model, seed: int, where: Path,
    data: dict[str, Any] | None = None, cv: bool = False, data_file: Path | None = None,
) -> TaskData:  # fmt: skip
    """Build task ``name`` with ``settings``; its data is prepared under the model's contract
    (``data``: extra dataset keys, e.g. ``labels_file``, for every dataset the task reads;
    ``data_file``: a recipe whose ``[data]`` is the task's ``dataset`` setting, its relative
    paths read from its folder). ``cv``: the task is cross-validated over its train and test
    windows pooled, so a seeded val share (``split_fractions``, unless set) goes to train: no
    record is left out."""
    from ssl_ecg.registry import get_registry
    from ssl_ecg.sources import prepare

    try:
        spec = get_registry().get("task", name)
    except PluginError as exc:
        raise SslEcgError(f"--task: {exc}") from None
    if data_file is not None:
        settings = with_data_file(spec, name, settings, data_file)
    config = task_config(spec, settings)
    fractions = getattr(config, "split_fractions", None)
    if cv and "split_fractions" not in settings and fractions and len(fractions) == 3:
        pooled = [fractions[0] + fractions[1], 0.0, fractions[2]]
        config = task_config(spec, {**settings, "split_fractions": pooled})
    c = model.contract
    pseudo = where / f"task {name}"  # names a table typed on the command line

    def prepare_data(table: dict[str, Any]) -> Any:
        own = data_file is not None and table == settings.get(DATASET)
        return prepare(contract_data(c, table, data_file if own else pseudo, seed, data)).store

    ctx = TaskContext(float(c["fs"]), list(c["leads"]), int(c["n_samples"]), seed, where,
                      prepare_data)  # fmt: skip
    try:
        return spec.factory(config, ctx).load()
    except RecipeError as exc:  # drop the pseudo recipe path the task's data is named by
        raise SslEcgError(f"task {name}: {str(exc).removeprefix(f'{pseudo}: ')}") from None


def with_data_file(
    spec: Any, name: str, settings: dict[str, Any], data_file: Path
) -> dict[str, Any]:
    """``settings`` with the ``[data]`` of recipe ``data_file`` as the task's ``dataset``
    setting (a task that reads a user's data names it so); refused where the task has no such
    setting or the settings already give one."""
    from ssl_ecg.evaluation.models import recipe_data_table

    if DATASET not in spec.config.model_fields:
        raise SslEcgError(
            f"--data {data_file}: task {name} reads its own data (it has no '{DATASET}' "
            "setting); set where with its settings (--set KEY=VALUE), or use a task with a "
            f"'{DATASET}' setting (ssl-ecg list-plugins --kind task)"
        )
    if DATASET in settings:
        raise SslEcgError(
            f"--data {data_file} and --set {DATASET}...: give the task's dataset one way: "
            f"--data RECIPE reads that recipe's [data] (change one of its keys with --set "
            f"data.KEY=VALUE), --set '{DATASET}={{...}}' types the table"
        )
    return {**settings, DATASET: recipe_data_table(data_file)}


def task_config(spec: Any, settings: dict[str, Any]) -> Any:
    """A task's validated settings; errors say how to set them on the command line."""
    from ssl_ecg.recipe import _validate

    try:
        return _validate(spec.config, settings, "task")
    except RecipeError as exc:
        raise RecipeError(
            f"{exc}; set task settings with --set KEY=VALUE, e.g. --set root=DIR"
        ) from None


def leakage(model: Model, task: TaskData) -> list[str]:
    """Test patients the model saw during pretraining: patients of a source of the same
    dataset, and patients of test records whose content the model pretrained on (the same
    files read through another dataset plugin, e.g. ``wfdb`` vs ``mitbih``)."""
    test = task.test
    shared = set(model.pretrained_patients.get(_dataset(test), [])) & set(test.patients.tolist())
    if model.pretrained_records:
        index = {rid: i for i, rid in enumerate(test.store.record_ids)}
        for rid, patient in set(zip(test.records.tolist(), test.patients.tolist(), strict=True)):
            if test.store.records[index[rid]].get("fingerprint") in model.pretrained_records:
                shared.add(patient)
    return sorted(shared)


def _dataset(windows: LabelledWindows) -> str:
    return str(windows.store.meta["dataset"]["name"])


def label_fraction(
    windows: LabelledWindows, fraction: float, seed: int, by_record: bool = False
) -> np.ndarray:
    """Indices of a labelled subset drawn per patient: from each (patient, class) group keep
    ceil(fraction * n) windows (at least one), chosen at random with ``seed``. With
    ``by_record`` (tasks scored per record, e.g. PTB-XL's reduced training sets) keep every
    window of ceil(fraction * R) records drawn at random instead."""
    n = len(windows)
    if fraction >= 1:
        return np.arange(n)
    if by_record:
        names = np.unique(windows.records.astype(str))
        take = max(1, math.ceil(fraction * names.size))
        chosen = np.random.default_rng(seed).choice(names, size=take, replace=False)
        return np.flatnonzero(np.isin(windows.records.astype(str), chosen))
    y = windows.y if windows.y.ndim == 1 else np.zeros(n, dtype=np.int64)
    keys = np.char.add(windows.patients.astype(str), np.char.add("|", y.astype(str)))
    rng = np.random.default_rng(seed)
    keep = []
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        take = max(1, math.ceil(fraction * members.size))
        keep.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(keep))


def patient_holdout(windows: LabelledWindows, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask (N,) of the windows of a seeded ``fraction`` of the patients (at least
    one, never all): a validation part that shares no patient with the rest."""
    names = np.unique(windows.patients.astype(str))
    if names.size < 2:
        return np.zeros(len(windows), dtype=bool)
    take = min(max(1, round(fraction * names.size)), names.size - 1)
    chosen = np.random.default_rng(seed).choice(names, size=take, replace=False)
    return np.isin(windows.patients.astype(str), chosen)
