"""Evaluation: embed labelled windows with an encoder and score it under a protocol.

Protocols (all at several label fractions, drawn per patient with a seed):

* ``linear`` — logistic regression on frozen, standardised embeddings (class-balanced weights,
  since the scores are macro averages over imbalanced classes);
* ``knn`` — k-nearest neighbours (cosine distance) on the same embeddings;
* ``finetune`` — the encoder and a linear head trained end to end (from a random-init encoder
  this is the supervised-from-scratch baseline).

Models: an export folder, a run directory, a checkpoint inside one, or ``random`` (a random-init
encoder built from ``--recipe``: the baseline pretraining has to beat). Before scoring, the
leakage guard refuses a test set that shares a patient with the model's pretraining data.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_ecg.errors import PluginError, RecipeError, SslEcgError
from ssl_ecg.interfaces import Encoder
from ssl_ecg.outputs import atomic_write
from ssl_ecg.tasks import Baseline, BaselineContext, LabelledWindows, TaskContext, TaskData

PROTOCOLS = ("linear", "knn", "finetune")
# what the probe reads: the embedding, the task's side features, or both; ":record" = each
# record's embeddings standardised by that record's own mean and sd (a test-time choice that
# uses a test record's unlabelled windows; reported as such)
FEATURES = ("embedding", "side", "embedding+side", "embedding:record", "embedding:record+side")


@dataclasses.dataclass
class Model:
    contract: dict[str, Any]  # fs, leads, n_samples, preprocessing, dataset
    # dataset name -> patients pretrained on; empty for a random-init encoder or a baseline
    pretrained_patients: dict[str, list[str]]
    description: str
    encoder: Encoder | None = None
    baseline: Baseline | None = None  # a feature map that needs no pretraining
    # content fingerprints of the pretraining records, whatever dataset plugin read them
    pretrained_records: frozenset[str] = frozenset()


# ------------------------------------------------------------------ models
def load_model(
    spec: str, recipe: Path | None = None, sets: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Model:  # fmt: skip
    """An export folder, a run directory, a checkpoint, ``random`` or a baseline's name (the
    last two need a recipe for the data contract; ``settings`` are the baseline's own)."""
    from ssl_ecg.export import export, load_encoder
    from ssl_ecg.registry import get_registry

    path = Path(spec)
    if path.is_file() and path.suffix == ".pt" and path.name != "last.pt":
        run = path.parent.parent  # <run>/checkpoints/step_NNNNNNN.pt
        folder = run / f"export-{path.stem}"
        export(run, folder, path)
        encoder, meta = load_encoder(folder)
        desc = f"run {run} (step {meta['pretraining']['step']})"
        return Model(meta["data"], pretrained_patients(meta), desc, encoder=encoder,
                     pretrained_records=pretrained_records(meta))  # fmt: skip
    if path.is_file() and path.suffix == ".pt":
        path = path.parent.parent  # <run>/checkpoints/last.pt
    if (path / "encoder.json").is_file():
        encoder, meta = load_encoder(path)
        desc = f"export {path}"
    elif (path / "checkpoints" / "last.pt").is_file():
        folder = path / "export"
        export(path, folder)
        encoder, meta = load_encoder(folder)
        desc = f"run {path} (step {meta['pretraining']['step']})"
    elif spec == "random" or spec in get_registry().names("baseline"):
        return _recipe_model(spec, recipe, sets, settings or {})
    else:
        baselines = ", ".join(get_registry().names("baseline"))
        raise SslEcgError(
            f"{spec}: not a model; give an export folder (encoder.json), a run directory, its "
            f"checkpoints/last.pt, 'random' or a baseline ({baselines}) with --recipe"
        )
    return Model(meta["data"], pretrained_patients(meta), desc, encoder=encoder,
                 pretrained_records=pretrained_records(meta))  # fmt: skip


def pretrained_records(meta: dict[str, Any]) -> frozenset[str]:
    """Content fingerprints of every record an export was pretrained on."""
    sources = meta["pretraining"].get("sources") or []
    return frozenset(f for src in sources for f in src.get("fingerprints", []) if f)


def pretrained_patients(meta: dict[str, Any]) -> dict[str, list[str]]:
    """Per dataset, the patients an export was pretrained on."""
    out: dict[str, set[str]] = {}
    for src in meta["pretraining"].get("sources") or []:
        out.setdefault(src["dataset"], set()).update(src["patients"])
    if not out:  # an export from before pretraining had several sources
        out[meta["data"]["dataset"]] = set(meta["pretraining"]["patients"])
    return {k: sorted(v) for k, v in out.items()}


def _recipe_model(
    name: str, recipe_path: Path | None, sets: list[str] | None, settings: dict[str, Any]
) -> Model:
    """A random-init encoder, or a baseline, under the data contract of a recipe."""
    from ssl_ecg.build import build_encoder
    from ssl_ecg.recipe import _validate, load_recipe
    from ssl_ecg.registry import get_registry
    from ssl_ecg.runtime import data_contract, seed_everything
    from ssl_ecg.sources import recipe_leads

    if recipe_path is None:
        raise SslEcgError(f"MODEL '{name}' needs --recipe naming the data settings (and encoder)")
    recipe = load_recipe(recipe_path, sets)
    leads = recipe_leads(recipe)
    contract = data_contract(recipe, leads)
    if name == "random":
        seed_everything(recipe.train.seed)
        encoder = build_encoder(recipe, leads)
        return Model(contract, {}, f"random init ({recipe_path})", encoder=encoder.eval())
    spec = get_registry().get("baseline", name)
    config = _validate(spec.config, settings, f"baseline {name}")
    ctx = BaselineContext(float(contract["fs"]), list(leads), recipe.train.seed)
    return Model(contract, {}, f"baseline {name}", baseline=spec.factory(config, ctx))


# ------------------------------------------------------------------ tasks
def contract_data(
    contract: dict[str, Any], table: dict[str, Any], path: Path, seed: int,
    data: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """A dataset table (``[data]``-like, plus ``data``: the ``--set data.KEY=VALUE`` keys) as a
    :class:`~ssl_ecg.recipe.DataRecipe` under a model's data contract: its rate, leads, filters
    and normalisation; how the dataset names its leads (``lead_map``) stays the table's."""
    from ssl_ecg.recipe import data_recipe

    # the model's preprocessing, except how a dataset names its leads (a task may map them)
    stored = {k: v for k, v in contract["preprocessing"].items() if k not in ("leads", "lead_map")}
    data = dict(data or {})
    fixed = [k for k in data if k in stored or k == "leads"]
    if fixed:
        key = fixed[0]
        have = contract["leads"] if key == "leads" else stored[key]
        raise SslEcgError(
            f"--set data.{key}: the model's data contract fixes it ({have!r}); data is read "
            "under the model's own preprocessing (map lead names with data.lead_map)"
        )
    doc = {**table, **data, **stored, "leads": list(contract["leads"])}
    return data_recipe(doc, path, seed)


def load_task(
    name: str, settings: dict[str, Any], model: Model, seed: int, where: Path,
    data: dict[str, Any] | None = None, cv: bool = False,
) -> TaskData:  # fmt: skip
    """Build task ``name`` with ``settings``; its data is prepared under the model's contract
    (``data``: extra dataset keys, e.g. ``labels_file``, for every dataset the task reads).
    ``cv``: the task is cross-validated over its train and test windows pooled, so a seeded
    val share (``split_fractions``, unless set) goes to train: no record is left out."""
    from ssl_ecg.registry import get_registry
    from ssl_ecg.sources import prepare

    try:
        spec = get_registry().get("task", name)
    except PluginError as exc:
        raise SslEcgError(f"--task: {exc}") from None
    config = task_config(spec, settings)
    fractions = getattr(config, "split_fractions", None)
    if cv and "split_fractions" not in settings and fractions and len(fractions) == 3:
        pooled = [fractions[0] + fractions[1], 0.0, fractions[2]]
        config = task_config(spec, {**settings, "split_fractions": pooled})
    c = model.contract

    def prepare_data(table: dict[str, Any]) -> Any:
        return prepare(contract_data(c, table, where / f"task {name}", seed, data)).store

    ctx = TaskContext(float(c["fs"]), list(c["leads"]), int(c["n_samples"]), seed, where,
                      prepare_data)  # fmt: skip
    try:
        return spec.factory(config, ctx).load()
    except RecipeError as exc:  # drop the pseudo recipe path the task's data is named by
        text = str(exc).removeprefix(f"{where / f'task {name}'}: ")
        raise SslEcgError(f"task {name}: {text}") from None


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


# ------------------------------------------------------------------ protocol pieces
def label_fraction(windows: LabelledWindows, fraction: float, seed: int) -> np.ndarray:
    """Indices of a labelled subset drawn per patient: from each (patient, class) group keep
    ceil(fraction * n) windows (at least one), chosen at random with ``seed``."""
    n = len(windows)
    if fraction >= 1:
        return np.arange(n)
    y = windows.y if windows.y.ndim == 1 else np.zeros(n, dtype=np.int64)
    keys = np.char.add(windows.patients.astype(str), np.char.add("|", y.astype(str)))
    rng = np.random.default_rng(seed)
    keep = []
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        take = max(1, math.ceil(fraction * members.size))
        keep.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(keep))


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


def identity_probe(
    z: np.ndarray, windows: LabelledWindows, seed: int, per_patient: int = 400
) -> dict[str, Any]:
    """How well the features tell the patient, and the label, among the training patients.

    Each patient's windows are cut in time: a linear probe is fitted on the first half of
    every patient's windows and scored (balanced accuracy) on the second half, once predicting
    the patient and once the label. A pretraining that learns who the patient is rather than
    what the beat is scores high on the first and low on the second."""
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(seed)
    names, pid = np.unique(windows.patients.astype(str), return_inverse=True)
    fit, test = [], []
    for p in range(names.size):
        idx = np.flatnonzero(pid == p)
        idx = idx[np.argsort(windows.start[idx], kind="stable")]
        half = idx.size // 2
        fit.append(rng.permutation(idx[:half])[:per_patient])
        test.append(rng.permutation(idx[half:])[:per_patient])
    a, b = np.concatenate(fit), np.concatenate(test)
    out: dict[str, Any] = {
        "n_patients": int(names.size),
        "n_fit": int(a.size),
        "n_test": int(b.size),
    }
    proba = fit_predict("linear", z[a], pid[a], z[b], int(names.size), False, 10, seed)
    out["patient_balanced_accuracy"] = float(balanced_accuracy_score(pid[b], proba.argmax(1)))
    y = windows.y
    if y.ndim == 1 and np.unique(y[a]).size > 1:
        k = int(y.max()) + 1
        proba = fit_predict("linear", z[a], y[a], z[b], k, False, 10, seed)
        out["label_balanced_accuracy"] = float(balanced_accuracy_score(y[b], proba.argmax(1)))
    return out


def fit_predict(protocol: str, z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
                n_classes: int, multilabel: bool, k: int, seed: int) -> np.ndarray:  # fmt: skip
    """Probabilities (N_test, K) of a linear or kNN probe fitted on frozen features (a class
    without training examples gets probability 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(z_train)
    a, b = scaler.transform(z_train), scaler.transform(z_test)
    if protocol == "linear":
        clf: Any = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    else:
        clf = KNeighborsClassifier(n_neighbors=min(k, len(a)), metric="cosine", weights="distance")
    if multilabel:
        clf = OneVsRestClassifier(clf)
        proba = clf.fit(a, y_train).predict_proba(b)
        return proba
    classes = np.unique(y_train)
    proba_present = clf.fit(a, y_train).predict_proba(b)
    proba = np.zeros((len(b), n_classes), dtype=np.float64)
    proba[:, classes] = proba_present
    return proba


def finetune_predict(encoder: Encoder, train: LabelledWindows, test: LabelledWindows,
                     n_classes: int, multilabel: bool, steps: int, device: torch.device,
                     seed: int) -> np.ndarray:  # fmt: skip
    """Train encoder + linear head end to end (AdamW, class-balanced loss); test probabilities."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(encoder.embed_dim, n_classes)
    model = torch.nn.Sequential(encoder, head).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    y = torch.from_numpy(train.y)
    if multilabel:
        pos = y.float().mean(0).clamp(1e-3, 1 - 1e-3)
        loss_fn: Any = torch.nn.BCEWithLogitsLoss(pos_weight=((1 - pos) / pos).to(device))
    else:
        counts = torch.bincount(y, minlength=n_classes).float().clamp(min=1)
        weight = (counts.sum() / counts / n_classes).to(device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(train), size=min(128, len(train)))
        x = torch.from_numpy(train.read(idx)).to(device)
        target = y[idx].to(device)
        loss = loss_fn(model(x), target.float() if multilabel else target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    outs = []
    with torch.no_grad():
        for lo in range(0, len(test), 256):
            x = torch.from_numpy(test.read(np.arange(lo, min(lo + 256, len(test))))).to(device)
            logits = model(x).float()
            outs.append((logits.sigmoid() if multilabel else logits.softmax(-1)).cpu().numpy())
    return np.concatenate(outs)


# ------------------------------------------------------------------ the whole evaluation
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


def _key(feature: str, fraction: float) -> str:
    return f"{feature}|{fraction}"


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


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a model is scored: the probe, its inputs and its budget."""

    name: str = "linear"  # linear | knn | finetune
    k: int = 10  # kNN neighbours
    finetune_steps: int = 300
    seed: int = 0
    n_boot: int = 1000


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
    return summary


def _predict(
    model: Model, task: TaskData, how: Protocol, feature: str, fraction: float,
    z_train: np.ndarray | None, z_test: np.ndarray | None, dev: torch.device,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(indices of the training windows used, test probabilities) of one probe fit."""
    idx = label_fraction(task.train, fraction, how.seed)
    if how.name == "finetune":
        assert model.encoder is not None
        encoder = copy.deepcopy(model.encoder)
        proba = finetune_predict(encoder, task.train.subset(idx), task.test, len(task.classes),
                                 task.multilabel, how.finetune_steps, dev, how.seed)  # fmt: skip
        return idx, proba
    x_train = _design(feature, z_train, task.train)
    x_test = _design(feature, z_test, task.test)
    proba = fit_predict(how.name, x_train[idx], task.train.y[idx], x_test, len(task.classes),
                        task.multilabel, how.k, how.seed)  # fmt: skip
    return idx, proba


def scoring_units(
    windows: LabelledWindows, proba: np.ndarray, aggregate: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, proba, patients)`` of what is scored: the windows themselves, or one row per
    record (``"record"``: the mean of its windows' probabilities; ``"max"``: their maximum per
    class), in sorted record order."""
    if aggregate == "window":
        return windows.y, proba, windows.patients
    names, rec = np.unique(windows.records.astype(str), return_inverse=True)
    rec = rec.ravel()
    proba = np.asarray(proba, dtype=np.float64)
    if aggregate == "max":
        out = np.full((names.size, proba.shape[1]), -np.inf)
        np.maximum.at(out, rec, proba)
    else:
        out = np.zeros((names.size, proba.shape[1]))
        np.add.at(out, rec, proba)
        out /= np.bincount(rec, minlength=names.size)[:, None]
    first = np.unique(rec, return_index=True)[1]  # (R,) first window of each record
    return windows.y[first], out, windows.patients[first]


def _report(task: TaskData, proba: np.ndarray, how: Protocol, n_boot: int | None = None) -> dict:
    """The scores of test probabilities (windows, or records when the task aggregates)."""
    from ssl_ecg.metrics import report

    y, p, groups = scoring_units(task.test, proba, task.aggregate)
    boot = how.n_boot if n_boot is None else n_boot
    r = report(y, p, task.classes, task.scored, task.multilabel, groups, boot, how.seed)
    r["unit"] = "window" if task.aggregate == "window" else f"record ({task.aggregate})"
    return r


def _score(
    model: Model, task: TaskData, how: Protocol, features: list[str], fractions: list[float],
    z_train: np.ndarray | None, z_test: np.ndarray | None, dev: torch.device,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:  # fmt: skip
    """Test probabilities and reports, keyed ``features|fraction``."""
    probas: dict[str, np.ndarray] = {}
    reports: dict[str, dict[str, Any]] = {}
    for feature in features:
        for fraction in fractions:
            idx, proba = _predict(model, task, how, feature, fraction, z_train, z_test, dev)
            key = _key(feature, fraction)
            probas[key] = proba
            r = _report(task, proba, how)
            r["n_train"] = int(idx.size)
            # at least one window per (patient, class) is kept: say what was really used
            r["label_fraction_used"] = idx.size / max(len(task.train), 1)
            r["train_patients"] = len(set(task.train.patients[idx].tolist()))
            reports[key] = r
    return probas, reports


# ------------------------------------------------------------------ cross-validation
AGGREGATES = ("window", "record", "max")
CV_SCORES = ("macro_f1", "macro_auroc", "accuracy")


def pool(task: TaskData, task_name: str) -> LabelledWindows:
    """The task's train and test windows as one set (for cross-validation)."""
    a, b = task.train, task.test
    if a.store is not b.store and a.store.folder != b.store.folder:
        raise SslEcgError(
            f"--cv: task {task_name} reads its train and test windows from two datasets; "
            "cross-validate a task whose splits come from one dataset"
        )
    if a.length != b.length or (a.side is None) != (b.side is None):
        raise SslEcgError(f"--cv: task {task_name}'s train and test windows differ in form")
    return LabelledWindows(
        a.store, np.concatenate([a.start, b.start]), a.length, np.concatenate([a.y, b.y]),
        np.concatenate([a.patients, b.patients]), np.concatenate([a.records, b.records]),
        None if a.side is None else np.concatenate([a.side, b.side]),
    )  # fmt: skip


def cv_folds(
    windows: LabelledWindows, k: int, seed: int, aggregate: str = "window", task_name: str = ""
) -> np.ndarray:
    """Fold (0..k-1) of every window: scikit-learn's ``StratifiedGroupKFold`` (shuffled,
    seeded) with patients as groups and the label as strata, so no patient is in two folds;
    a record-level task is split record by record (a record's windows share its fold)."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    if windows.y.ndim != 1:
        raise SslEcgError(f"--cv: task {task_name} is multi-label; cross-validate single-label")
    patients = windows.patients.astype(str)
    n_patients = np.unique(patients).size
    if not 2 <= k <= n_patients:
        raise SslEcgError(
            f"--cv {k}: needs 2 to {n_patients} folds (the task has {n_patients} patients)"
        )
    unit = np.arange(len(windows))
    if aggregate != "window":  # one row per record
        _, unit = np.unique(windows.records.astype(str), return_inverse=True)
        unit = unit.ravel()
    first = np.unique(unit, return_index=True)[1]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of_unit = np.full(first.size, -1, dtype=np.int64)
    with warnings.catch_warnings():  # "the least populated class has only n members"
        warnings.simplefilter("ignore", UserWarning)
        for f, (_, test) in enumerate(
            splitter.split(np.zeros(first.size), windows.y[first], patients[first])
        ):
            fold_of_unit[test] = f
    return fold_of_unit[unit]


def _cross_validate(
    model: Model, task: TaskData, how: Protocol, features: list[str], fractions: list[float],
    z: np.ndarray | None, folds: np.ndarray, dev: torch.device,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:  # fmt: skip
    """Out-of-fold probabilities of the pooled windows and their reports (``_score``'s form),
    each with ``cv``: the folds' own scores, their mean and sd."""
    probas: dict[str, np.ndarray] = {}
    reports: dict[str, dict[str, Any]] = {}
    k = int(folds.max()) + 1
    for feature in features:
        for fraction in fractions:
            oof = np.zeros((len(task.test), len(task.classes)))
            per_fold, n_train, used = [], [], []
            for f in range(k):
                tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
                part = dataclasses.replace(task, train=task.test.subset(tr),
                                           test=task.test.subset(te))  # fmt: skip
                zs = (None, None) if z is None else (z[tr], z[te])
                idx, proba = _predict(model, part, how, feature, fraction, *zs, dev)
                oof[te] = proba
                r = _report(part, proba, how, n_boot=0)
                per_fold.append({"fold": f, "n_test": int(te.size), **{
                    s: r[s] for s in CV_SCORES}})  # fmt: skip
                n_train.append(int(idx.size))
                used.append(idx.size / max(tr.size, 1))
            key = _key(feature, fraction)
            probas[key] = oof
            r = _report(task, oof, how)
            r["n_train"] = round(float(np.mean(n_train)))
            r["label_fraction_used"] = float(np.mean(used))
            r["train_patients"] = None
            r["cv"] = {
                "k": k, "folds": per_fold,
                "mean": {s: _stat(per_fold, s, np.mean) for s in CV_SCORES},
                "sd": {s: _stat(per_fold, s, np.std) for s in CV_SCORES},
            }  # fmt: skip
            reports[key] = r
    return probas, reports


def _stat(rows: list[dict[str, Any]], name: str, fn: Any) -> float | None:
    values = [r[name] for r in rows if r[name] is not None]
    return float(fn(values)) if values else None


def _write(
    summary: dict[str, Any], probas: dict[str, np.ndarray], task: TaskData, out_dir: Path,
    folds: np.ndarray | None = None,
) -> None:  # fmt: skip
    """predictions.npz, results.md, confusion.png, then results.json: each file whole or not
    at all, results.json last (its presence means the rest is there)."""
    buffer = io.BytesIO()
    extra = {} if folds is None else {"fold": folds}
    np.savez_compressed(
        buffer, fingerprint=np.array(summary["test_set"]), y=task.test.y,
        patients=task.test.patients.astype(str), records=task.test.records.astype(str),
        start=task.test.start, **extra,
        **{f"proba:{key}": p.astype(np.float32) for key, p in probas.items()},
    )  # fmt: skip
    atomic_write(out_dir / "predictions.npz", buffer.getvalue())
    atomic_write(out_dir / "results.md", markdown(summary))
    if not task.multilabel:
        feature, fraction = summary["features"][-1], summary["label_fractions"][-1]
        last = summary["results"][feature][str(fraction)]
        title = f"{summary['model']}: {feature}, {fraction:.0%} labels"
        plot_confusion(np.asarray(last["confusion"]), task.classes, out_dir / "confusion.png",
                       title)  # fmt: skip
    atomic_write(out_dir / "results.json", json.dumps(summary, indent=1))


def _fmt(value: float | None, ci: list[float | None] | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if ci and None not in ci:
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{value:.3f}"


def pct(x: float) -> str:
    """A fraction as a percentage with 3 significant digits: 0.0001 -> '0.01 %'."""
    return f"{100 * x:.3g} %"


def _labels(requested: float, used: float | None) -> str:
    """The label fraction asked for, and what was used when that differs by over 10 %."""
    if used is None or abs(used - requested) <= 0.1 * requested:
        return pct(requested)
    return f"{pct(requested)} (used {pct(used)})"


def fmt_delta(d: dict[str, Any] | None) -> str:
    """A paired difference as ``+0.012 [-0.010, 0.031]``, bold when the interval excludes 0."""
    if not d or d.get("delta") is None:
        return "–"
    lo, hi = d["ci"]
    text = f"{d['delta']:+.3f}"
    if lo is None:
        return text
    text += f" [{lo:+.3f}, {hi:+.3f}]"
    return f"**{text}**" if lo > 0 or hi < 0 else text


def markdown(summary: dict[str, Any]) -> str:
    """The results as a markdown table: one row per features setting and label fraction."""
    unit = summary.get("aggregate", "window")
    scored_as = "" if unit == "window" else (
        f"Scored per record ({summary.get('test_records')} records; window probabilities "
        f"{'averaged' if unit == 'record' else 'max-pooled'}). ")  # fmt: skip
    cv = summary.get("cv")
    if cv:
        counts = (f"{cv}-fold cross-validation over {summary['n_test']} windows "
                  f"({summary['test_patients']} patients; folds grouped by patient, stratified "
                  "by label): scores of the pooled out-of-fold predictions, and the folds' "
                  "mean ± sd. ")  # fmt: skip
    else:
        counts = (f"{summary['n_train']} training / {summary['n_test']} test windows "
                  f"({summary['test_patients']} test patients). ")  # fmt: skip
    lines = [
        f"# {summary['task']} — {summary['protocol']} — {summary['model']}",
        "",
        f"{counts}{scored_as}95 % bootstrap CIs over test patients. "
        "Δ: paired difference (same resampled patients), bold when its interval excludes 0.",
        "",
    ]
    reports = [(f, fr, r) for f, by in summary["results"].items() for fr, r in by.items()]
    scored = reports[0][2].get("scored") or reports[0][2]["classes"]
    labels = list(dict.fromkeys(lab for *_, r in reports for lab in r.get("delta", {})))
    head = ["features", "labels", "n train", "macro-F1", "macro AUROC",
            *[f"F1 {c}" for c in scored], *[f"Δ macro-F1 vs {lab}" for lab in labels]]  # fmt: skip
    if cv:
        head[5:5] = ["folds macro-F1", "folds macro AUROC"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for feature, fraction, r in reports:
        delta = r.get("delta", {})
        row = [feature, _labels(float(fraction), r.get("label_fraction_used")), str(r["n_train"]),
               _fmt(r["macro_f1"], r["ci"].get("macro_f1")),
               _fmt(r["macro_auroc"], r["ci"].get("macro_auroc")),
               *[_fmt(r["per_class"][c]["f1"]) for c in scored],
               *[fmt_delta(delta.get(lab, {}).get("macro_f1")) for lab in labels]]  # fmt: skip
        if cv:
            row[5:5] = [_pm(r["cv"], "macro_f1"), _pm(r["cv"], "macro_auroc")]
        lines.append("| " + " | ".join(row) + " |")
    if summary["leakage"]["allowed"]:
        lines += ["", f"**Leakage allowed**: {summary['leakage']['shared_test_patients']}"]
    return "\n".join(lines) + "\n"


def _pm(cv: dict[str, Any], name: str) -> str:
    """The folds' mean ± sd of a score."""
    mean, sd = cv["mean"].get(name), cv["sd"].get(name)
    return "–" if mean is None else f"{mean:.3f} ± {sd:.3f}"


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rows[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
