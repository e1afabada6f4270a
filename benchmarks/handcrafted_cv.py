"""Choose the handcrafted baseline's waveform on the training patients only (never the test set).

Patient-grouped, class-stratified 5-fold cross-validation within MIT-BIH DS1 (scikit-learn's
StratifiedGroupKFold): the same task windows, side features and linear probe as
``ssl-ecg evaluate handcrafted``, with the beat waveform raw or minus its record's median beat,
and the RR side features alone for reference. Prints pooled out-of-fold macro-F1 (N, S, V, F).

    python benchmarks/handcrafted_cv.py [--root ../shared/data/mitbih-arrhythmia]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

from ssl_ecg.evaluation import fit_predict, load_model, load_task

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(REPO.parent / "shared/data/mitbih-arrhythmia"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    recipe = REPO / "recipes" / "mitbih" / "hybrid_ds1.toml"
    settings = {"root": args.root, "max_train_per_class": 5000}
    scored = [0, 1, 2, 3]
    for name, record_median in (("RR side features only", None), ("raw beat + RR", False),
                                ("beat minus record median + RR", True)):  # fmt: skip
        model = load_model("handcrafted", recipe, settings={"record_median": bool(record_median)})
        task = load_task("mitbih-aami", settings, model, 0, Path.cwd())
        ds1 = task.train  # only DS1: the test patients are never read here
        assert model.baseline is not None
        model.baseline.fit(task)
        x = ds1.side if record_median is None else np.c_[model.baseline.transform(ds1), ds1.side]
        pred = np.zeros(len(ds1), dtype=np.int64)
        folds = StratifiedGroupKFold(args.folds, shuffle=True, random_state=0)
        for tr, te in folds.split(x, ds1.y, ds1.patients):
            proba = fit_predict("linear", x[tr], ds1.y[tr], x[te], len(task.classes), False, 10, 0)
            pred[te] = proba.argmax(axis=1)
        f1 = f1_score(ds1.y, pred, labels=scored, average="macro")
        print(f"{name:32s} DS1 {args.folds}-fold patient-grouped CV macro-F1 {f1:.3f}")


if __name__ == "__main__":
    main()
