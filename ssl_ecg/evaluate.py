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

import dataclasses
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
from ssl_ecg.tasks import LabelledWindows, TaskContext, TaskData

PROTOCOLS = ("linear", "knn", "finetune")


@dataclasses.dataclass
class Model:
    encoder: Encoder
    contract: dict[str, Any]  # fs, leads, n_samples, preprocessing, dataset
    pretrained_patients: list[str]  # empty for a random-init encoder
    description: str


# ------------------------------------------------------------------ models
def load_model(spec: str, recipe: Path | None = None, sets: list[str] | None = None) -> Model:
    """``random`` (needs a recipe), an export folder, a run directory or a checkpoint file."""
    from ssl_ecg.export import export, load_encoder

    if spec == "random":
        return _random_model(recipe, sets)
    path = Path(spec)
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
    else:
        raise SslEcgError(
            f"{spec}: not a model; give an export folder (encoder.json), a run directory, "
            "its checkpoints/last.pt, or 'random' with --recipe"
        )
    return Model(encoder, meta["data"], list(meta["pretraining"]["patients"]), desc)


def _random_model(recipe_path: Path | None, sets: list[str] | None) -> Model:
    from ssl_ecg.build import build_model, build_source
    from ssl_ecg.recipe import load_recipe
    from ssl_ecg.train import data_contract, seed_everything

    if recipe_path is None:
        raise SslEcgError("MODEL 'random' needs --recipe naming the encoder and data settings")
    recipe = load_recipe(recipe_path, sets)
    leads = recipe.preprocess.lead_names(list(build_source(recipe).leads))
    seed_everything(recipe.train.seed)
    built = build_model(recipe, leads)
    contract = data_contract(recipe, leads)
    return Model(built.encoder.eval(), contract, [], f"random init ({recipe_path})")


# ------------------------------------------------------------------ tasks
def load_task(
    name: str, settings: dict[str, Any], model: Model, seed: int, where: Path
) -> TaskData:
    """Build task ``name`` with ``settings``; its data is prepared under the model's contract."""
    from ssl_ecg.data.prepare import prepare
    from ssl_ecg.recipe import data_recipe
    from ssl_ecg.registry import get_registry

    try:
        spec = get_registry().get("task", name)
    except PluginError as exc:
        raise SslEcgError(f"--task: {exc}") from None
    config = task_config(spec, settings)
    c = model.contract
    stored = {k: v for k, v in c["preprocessing"].items() if k != "leads"}

    def prepare_data(table: dict[str, Any]) -> Any:
        doc = {**table, **stored, "leads": list(c["leads"])}
        return prepare(data_recipe(doc, where / f"task {name}", seed)).store

    ctx = TaskContext(float(c["fs"]), list(c["leads"]), int(c["n_samples"]), seed, where,
                      prepare_data)  # fmt: skip
    try:
        return spec.factory(config, ctx).load()
    except RecipeError as exc:
        raise SslEcgError(f"task {name}: {exc}") from None


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
    """Test patients the model saw during pretraining (same dataset only)."""
    if not model.pretrained_patients or model.contract.get("dataset") != _dataset(task.test):
        return []
    return sorted(set(model.pretrained_patients) & set(task.test.patients.tolist()))


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
            out[idx] = encoder(x).float().cpu().numpy()
            bar.update(task, advance=idx.size)
    return out


def fit_predict(protocol: str, z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray,
                multilabel: bool, k: int, seed: int) -> np.ndarray:  # fmt: skip
    """Probabilities (N_test, K) of a linear or kNN probe fitted on frozen embeddings."""
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
    proba = np.zeros((len(b), int(y_train.max(initial=0)) + 1), dtype=np.float64)
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
def evaluate(
    model: Model, task_name: str, task: TaskData, protocol: str, fractions: list[float],
    out_dir: Path, *, seed: int = 0, allow_leakage: bool = False, k: int = 10,
    finetune_steps: int = 300, n_boot: int = 1000, device: str = "auto", progress: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Score ``model`` on ``task``; write results.json, results.md and confusion.png."""
    from ssl_ecg.metrics import classification_report, multilabel_report
    from ssl_ecg.train import pick_device

    if protocol not in PROTOCOLS:
        raise SslEcgError(f"--protocol '{protocol}': choose one of {', '.join(PROTOCOLS)}")
    if any(not 0 < f <= 1 for f in fractions):
        raise SslEcgError(f"--label-fraction {fractions}: fractions must be in (0, 1]")
    shared = leakage(model, task)
    if shared and not allow_leakage:
        raise SslEcgError(
            f"leakage: {len(shared)} test patient(s) of task {task_name} (e.g. "
            f"{', '.join(shared[:5])}) were in the pretraining data of {model.description}; "
            "pretrain without them (e.g. MIT-BIH DS1 only) or pass --allow-leakage, which is "
            "recorded in the results"
        )
    dev = pick_device(device)
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    z_train = z_test = None
    if protocol != "finetune":
        z_train = embed(model.encoder, task.train, dev, progress=progress)
        z_test = embed(model.encoder, task.test, dev, progress=progress)
    state = {k_: v.clone() for k_, v in model.encoder.state_dict().items()}
    for fraction in fractions:
        idx = label_fraction(task.train, fraction, seed)
        if protocol == "finetune":
            model.encoder.load_state_dict(state)
            proba = finetune_predict(model.encoder, task.train.subset(idx), task.test,
                                     len(task.classes), task.multilabel, finetune_steps, dev,
                                     seed)  # fmt: skip
        else:
            proba = fit_predict(protocol, z_train[idx], task.train.y[idx], z_test,
                                task.multilabel, k, seed)  # fmt: skip
        groups = task.test.patients
        if task.multilabel:
            report = multilabel_report(task.test.y, proba, task.classes, groups=groups,
                                       n_boot=n_boot, seed=seed)  # fmt: skip
        else:
            report = classification_report(task.test.y, proba, task.classes, scored=task.scored,
                                           groups=groups, n_boot=n_boot, seed=seed)  # fmt: skip
        report["n_train"] = int(idx.size)
        report["train_patients"] = len(set(task.train.patients[idx].tolist()))
        results[str(fraction)] = report
    summary = {
        "model": model.description,
        "task": task_name,
        "task_description": task.description,
        "protocol": protocol,
        "label_fractions": fractions,
        "seed": seed,
        "contract": model.contract,
        "n_train": len(task.train),
        "n_test": len(task.test),
        "test_patients": len(set(task.test.patients.tolist())),
        "leakage": {"shared_test_patients": shared, "allowed": bool(shared and allow_leakage)},
        "results": results,
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {dev}",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(summary, indent=1))
    (out_dir / "results.md").write_text(markdown(summary))
    if not task.multilabel:
        last = results[str(fractions[-1])]
        plot_confusion(np.asarray(last["confusion"]), task.classes, out_dir / "confusion.png")
    return summary


def _fmt(value: float | None, ci: list[float | None] | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if ci and None not in ci:
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{value:.3f}"


def markdown(summary: dict[str, Any]) -> str:
    """The results as a markdown table: one row per label fraction."""
    lines = [
        f"# {summary['task']} — {summary['protocol']} — {summary['model']}",
        "",
        f"{summary['n_train']} training / {summary['n_test']} test windows "
        f"({summary['test_patients']} test patients); 95 % bootstrap CIs over test patients.",
        "",
    ]
    first = next(iter(summary["results"].values()))
    scored = first.get("scored") or first["classes"]
    head = ["labels", "n train", "macro-F1", "macro AUROC", *[f"F1 {c}" for c in scored]]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for fraction, r in summary["results"].items():
        row = [f"{float(fraction):.0%}", str(r["n_train"]),
               _fmt(r["macro_f1"], r["ci"].get("macro_f1")),
               _fmt(r["macro_auroc"], r["ci"].get("macro_auroc")),
               *[_fmt(r["per_class"][c]["f1"]) for c in scored]]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    if summary["leakage"]["allowed"]:
        lines += ["", f"**Leakage allowed**: {summary['leakage']['shared_test_patients']}"]
    return "\n".join(lines) + "\n"


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rows[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
