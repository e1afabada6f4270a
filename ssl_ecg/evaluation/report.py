"""The results files: predictions.npz, results.md, confusion.png and results.json."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.outputs import atomic_write
from ssl_ecg.tasks import TaskData


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
    lines += _notes(reports)
    if summary["leakage"]["allowed"]:
        lines += ["", f"**Leakage allowed**: {summary['leakage']['shared_test_patients']}"]
    return "\n".join(lines) + "\n"


def _notes(reports: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Lines under the table: macro AUROC under further aggregations, fine-tuning's choice."""
    lines = []
    for feature, fraction, r in reports:
        where = f"{feature}, labels {_labels(float(fraction), r.get('label_fraction_used'))}"
        for agg, a in r.get("also", {}).items():
            score = _fmt(a["macro_auroc"], a["ci"])
            lines.append(f"- {where}: macro AUROC per record ({agg}) {score}")
        ft = r.get("finetune")
        if ft:
            lines.append(f"- {where}: fine-tuned checkpoint of step {ft['selected_step']} "
                         f"(validation macro AUROC {_fmt(ft['val_score'])} on "
                         f"{ft.get('validation', 'validation windows')}; stopped at step "
                         f"{ft['stopped_at']})")  # fmt: skip
    return ["", *lines] if lines else []


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
