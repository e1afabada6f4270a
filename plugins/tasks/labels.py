"""A generic task for any dataset plugin whose records carry a label and a patient id.

The classes are the sorted distinct values of record label ``label`` (a record without it, or
with ``None``/NaN, is left out); every full, non-overlapping window of a labelled record (stride
= the encoder's window) inherits the record's class. The split is patient-wise and seeded
(``split_fractions`` = train, val, test; train = "train", test = "test") unless the dataset
defines its own splits: then the ones named like "train" and "test" are used, or those named by
``train_split`` / ``test_split`` (e.g. MIT-BIH's ``DS1`` / ``DS2``).

Classes can be renamed first (``merge``), restricted (``classes = ["N", "A", "O"]``: records of
other classes are left out) and scored per record (``aggregate = "record"``: the mean of a
record's window probabilities, ``"max"``: their maximum), as challenges score. With ``ssl-ecg
evaluate --cv K`` the train and test records are pooled into K folds (the val share of
``split_fractions``, unless set, goes to train: every record is used).

``merge`` maps labels to classes: ``{ "~" = "O" }``, ``{ "Atrial fib*" = "AF", "Sinus*" =
"sinus" }``. Each key is an :mod:`fnmatch` pattern (``*``, ``?``, ``[abc]``) matched ignoring
case, since free text is typed both ways (``atrial fibrillation``, ``Atrial Fibrillation``); a
key written exactly as one of the labels (case included) names that label only, so ``{ "e" =
"N" }`` leaves a label ``E`` alone. A label matched by two keys (and named exactly by neither) is
an error naming both; a key that matches no label is a warning (printed, and in the results'
task description), as is a plain name no record carries: a merge table may be shared by data
sets that lack a class.

Several labels per record (a labels-file cell quoted over several lines, one label a line, or a
dataset plugin's list label): with ``multilabel = true`` each class is scored on its own
(multi-hot targets, one sigmoid per class, macro AUROC); ``classes`` then drops the other labels
and a record left without one is a negative for every class. In the default single-label task
such a record is an error naming the file, line and column, unless ``merge`` maps its labels to
one class (repeats count once).

Side features: heart-rate variability of each window from the R-peaks detected at prepare time
(:func:`ssl_ecg.tasks.hrv_features`: mean RR, SDNN, RMSSD, pNN50, CVSD, number of beats).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import sys
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ssl_ecg import (
    HRV_FEATURES,
    Config,
    DataError,
    LabelledWindows,
    Spec,
    TaskContext,
    TaskData,
    did_you_mean,
    hookimpl,
    hrv_features,
)


class LabelsConfig(Config):
    dataset: dict[str, Any] = Field(
        description="the dataset's table as in [data], e.g. {name = 'wfdb', root = 'data/x'}"
    )
    label: str = Field(description="key of the record labels to predict, e.g. 'sex'")
    split_fractions: list[float] = Field(
        default_factory=lambda: [0.7, 0.1, 0.2],
        description="train/val/test patient fractions when the dataset has no splits of its own",
    )
    train_split: str | None = Field(
        None, description="split to train on; default: 'train' or the dataset's split named so"
    )
    test_split: str | None = Field(
        None, description="split to test on; default: 'test' or the dataset's split named so"
    )
    bins: list[float] | None = Field(
        None, min_length=1,
        description="cut a numeric label into ranges at these edges, e.g. [40, 60] for age: "
        "'<40', '40-60', '>=60' (a numeric label with many values needs it)",
    )  # fmt: skip
    max_classes: int = Field(
        10, ge=2, description="a numeric label with more distinct values than this needs bins"
    )
    merge: dict[str, str] = Field(
        default_factory=dict,
        description="rename classes before anything else: label or pattern (fnmatch, case "
        "ignored) -> class, e.g. { '~' = 'O' } or { 'Atrial fib*' = 'AF' }",
    )
    multilabel: bool = Field(
        False,
        description="records may carry several labels (a labels-file cell over several lines, "
        "a list label): score each class on its own; default: one class per record",
    )
    classes: list[str] | None = Field(
        None, min_length=2,
        description="score only these classes (after merge); records of other classes are "
        "left out; default: every class",
    )  # fmt: skip
    aggregate: Literal["window", "record", "max"] = Field(
        "window",
        description="score each window, or each record: 'record' = mean of its windows' "
        "probabilities, 'max' = their maximum per class",
    )

    @model_validator(mode="after")
    def _check(self) -> LabelsConfig:
        f = self.split_fractions
        if len(f) != 3 or min(f) < 0 or abs(sum(f) - 1) > 1e-6 or not (f[0] and f[2]):
            raise ValueError(
                "split_fractions must be 3 numbers (train, val, test) >= 0 summing to 1, "
                "train and test above 0"
            )
        return self


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _binned(value: float, edges: list[float]) -> str:
    """The range of ``value`` among sorted bin ``edges``: '<a', 'a-b', '>=z'."""
    edges = sorted(edges)
    if value < edges[0]:
        return f"<{edges[0]:g}"
    for lo, hi in itertools.pairwise(edges):
        if lo <= value < hi:
            return f"{lo:g}-{hi:g}"
    return f">={edges[-1]:g}"


def _edge(values: list[Any]) -> str:
    """A median, as an example bin edge."""
    return f"{float(np.median(np.asarray(values, dtype=float))):g}"


def _pick(named: dict[str, np.ndarray], wanted: str | None, role: str, own: bool) -> str:
    """The split used for ``role`` ("train"/"test")."""
    names = sorted(named)
    if wanted is not None:
        if wanted not in named:
            raise DataError(
                f"task labels: {role}_split = '{wanted}' is not a split of the dataset"
                f"{did_you_mean(wanted, names)} (splits: {', '.join(names)})"
            )
        return wanted
    like = [k for k in names if role in k.lower()]
    if len(like) != 1:
        whose = "the dataset's own splits" if own else "the splits"
        raise DataError(
            f"task labels: {whose} ({', '.join(names) or 'none'}) have no single one named "
            f"like '{role}'; set train_split and test_split to two of them"
        )
    return like[0]


def merge_classes(
    labels: list[str], merge: dict[str, str], where: str
) -> tuple[dict[str, str], list[str]]:
    """label -> class for each of ``labels`` a ``merge`` key matches (see the module's
    docstring), and the keys that match none of them."""
    known = set(labels)
    exact = {k for k in merge if k in known}
    patterns = [k for k in merge if k not in exact]
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for label in labels:
        if label in exact:
            hits = [label]
        else:
            hits = [k for k in patterns if fnmatch.fnmatchcase(label.casefold(), k.casefold())]
        if len(hits) > 1:
            raise DataError(
                f"{where}: label '{label}' matches merge keys '{hits[0]}' and '{hits[1]}'; make "
                f"the patterns exclusive, or add '{label}' itself as a key (an exact name wins)"
            )
        if hits:
            mapping[label] = merge[hits[0]]
            used.add(hits[0])
    return mapping, [k for k in merge if k not in used]


def _as_lists(raw: list[Any], where: str, label: str) -> list[list[Any] | None]:
    """Each record's values of the label as a list (None: no label); a dict is refused."""
    out: list[list[Any] | None] = []
    for v in raw:
        if isinstance(v, dict):
            raise DataError(
                f"{where}: label '{label}' holds dicts ({v!r:.60}), not classes; pick a label "
                "with one value (or a list of values) per record"
            )
        values = [x for x in (v if isinstance(v, list) else [v]) if not _missing(x)]
        out.append(list(dict.fromkeys(values)) or None)
    return out


def _as_classes(
    values: list[list[Any] | None], cfg: LabelsConfig, where: str
) -> list[list[str] | None]:
    """Values as class names: numbers cut into ``bins``, or refused where they are a
    quantity rather than classes."""
    present = [x for v in values if v is not None for x in v]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in present)
    if cfg.bins is not None:
        if not numeric:
            raise DataError(f"{where}: bins need a numeric label; '{cfg.label}' is not")
        return [None if v is None else [_binned(x, cfg.bins) for x in v] for v in values]
    cont = next((x for x in present if isinstance(x, float) and not x.is_integer()), None)
    if cont is not None:
        raise DataError(
            f"{where}: label '{cfg.label}' is continuous (e.g. {cont}); this task predicts "
            f"classes: set bins, e.g. --set 'bins=[{_edge(present)}]', to predict ranges"
        )
    if numeric and len(set(present)) > cfg.max_classes:
        raise DataError(
            f"{where}: label '{cfg.label}' is numeric with {len(set(present))} distinct "
            f"values (e.g. {present[0]}), a quantity rather than classes; set bins, e.g. "
            f"--set 'bins=[{_edge(present)}]', to predict ranges (or raise max_classes)"
        )
    return [None if v is None else [str(x) for x in v] for v in values]


def _merged(
    values: list[list[str] | None], cfg: LabelsConfig, where: str
) -> tuple[list[list[str] | None], list[str]]:
    """``merge`` applied to every value (repeats then count once), and a note per key that
    matched nothing (also printed as a warning)."""
    found = sorted({x for v in values if v is not None for x in v})
    mapping, unused = merge_classes(found, cfg.merge, where)
    notes = []
    for key in unused:
        hint = did_you_mean(key, found) or f" (its values: {', '.join(found[:8])})"
        notes.append(f"merge key '{key}' matches no value of label '{cfg.label}'{hint}")
        print(f"warning: {where}: {notes[-1]}", file=sys.stderr)
    merged = [None if v is None else list(dict.fromkeys(mapping.get(x, x) for x in v))
              for v in values]  # fmt: skip
    return merged, notes


def _one_each(
    values: list[list[str] | None], store: Any, cfg: LabelsConfig, where: str
) -> list[str | None]:
    """Single-label: each record's one class; a record with several is an error naming the
    labels file's line and column (or the record) and the ways out."""
    several = [i for i, v in enumerate(values) if v is not None and len(v) > 1]
    if several:
        i, shown = several[0], values[several[0]] or []
        rid = store.record_ids[i]
        labelled = getattr(store, "labelled", None)  # the labels file, where one was read
        origin = labelled.origin(rid, cfg.label) if labelled is not None else None
        at = origin or f"record {rid}, label '{cfg.label}'"
        more = f" (and {len(several) - 1} more record(s))" if len(several) > 1 else ""
        raise DataError(
            f"{where}: {at} holds {len(shown)} labels ({'; '.join(shown)}){more}, but the "
            "task scores one class per record; score each label with --set multilabel=true, "
            'or merge them into one class, e.g. --set \'merge={"PATTERN*" = "CLASS"}\''
        )
    return [None if v is None else v[0] for v in values]


class LabelsTask:
    def __init__(self, config: LabelsConfig, context: TaskContext) -> None:
        self.config = config
        self.context = context

    def _labels(self, store: Any, where: str) -> tuple[list[Any], list[str], list[str]]:
        """Each record's class (single-label) or classes (multilabel; None: left out), the
        classes in order and notes for the description."""
        cfg = self.config
        raw = [rec["labels"].get(cfg.label) for rec in store.records]
        values = _as_lists(raw, where, cfg.label)
        if all(v is None for v in values):
            keys = sorted({k for rec in store.records for k in rec["labels"]})
            raise DataError(
                f"{where}: no record has label '{cfg.label}'{did_you_mean(cfg.label, keys)} "
                f"(labels: {', '.join(keys) or 'none'})"
            )
        merged, notes = _merged(_as_classes(values, cfg, where), cfg, where)
        found = sorted({x for v in merged if v is not None for x in v})
        if cfg.classes is not None:
            absent = [c for c in cfg.classes if c not in found]
            if absent:
                raise DataError(
                    f"{where}: classes {absent} are no value of label '{cfg.label}' (after "
                    f"merge); its values: {', '.join(found)}"
                    f"{did_you_mean(absent[0], found)}"
                )
        classes = list(cfg.classes) if cfg.classes is not None else found
        if cfg.multilabel:
            kept = [None if v is None else [x for x in v if x in classes] for v in merged]
            return kept, classes, notes
        one = _one_each(merged, store, cfg, where)
        return [v if v in classes else None for v in one], classes, notes

    def _split(
        self, store: Any, recs: list[int], targets: np.ndarray, split: str, where: str
    ) -> LabelledWindows:
        """Every full window of records ``recs``; ``targets`` (R, ...) by record index."""
        n = self.context.n_samples
        counts = np.array([int(store.rec_len[r]) // n for r in recs], dtype=np.int64)
        if counts.sum() == 0:
            raise DataError(
                f"{where}: split '{split}' has no labelled record of at least {n} samples "
                "(the encoder's window); use more records or other split settings"
            )
        rec = np.repeat(np.asarray(recs, dtype=np.int64), counts)  # (N,) record of window
        first = np.repeat(np.cumsum(counts) - counts, counts)
        start = store.rec_start[rec] + (np.arange(rec.size) - first) * n
        part = LabelledWindows(
            store, start.astype(np.int64), n, targets[rec],
            np.asarray(store.patient_ids)[rec], np.asarray(store.record_ids)[rec],
        )  # fmt: skip
        part.side = hrv_features(part.rpeaks(), store.fs)
        return part

    def load(self) -> TaskData:
        cfg, ctx = self.config, self.context
        store = ctx.prepare(dict(cfg.dataset))
        where = f"task labels ({cfg.dataset.get('name')})"
        values, classes, notes = self._labels(store, where)
        targets = _targets(values, classes, cfg.multilabel)
        named = store.splits(list(cfg.split_fractions), ctx.seed)
        own = bool(store.meta.get("splits"))
        chosen = [
            _pick(named, cfg.train_split, "train", own),
            _pick(named, cfg.test_split, "test", own),
        ]
        if chosen[0] == chosen[1]:
            raise DataError(f"{where}: train and test are the same split '{chosen[0]}'")
        parts = [self._split(store, [int(r) for r in named[s] if values[r] is not None],
                             targets, s, where) for s in chosen]  # fmt: skip
        about = f"record label '{cfg.label}', {chosen[0]} -> {chosen[1]}"
        if cfg.multilabel:
            about += "; multi-label"
        if cfg.merge:
            about += "; merged " + ", ".join(f"{a} -> {b}" for a, b in cfg.merge.items())
        if cfg.classes is not None:
            left_out = "other labels dropped" if cfg.multilabel else "records of others left out"
            about += f"; classes {', '.join(classes)} ({left_out})"
        about += "".join(f"; {note}" for note in notes)
        return TaskData(parts[0], parts[1], classes, multilabel=cfg.multilabel,
                        description=about, side_names=list(HRV_FEATURES),
                        aggregate=cfg.aggregate)  # fmt: skip


def _targets(values: list[Any], classes: list[str], multilabel: bool) -> np.ndarray:
    """Per record: the class index (R,) int64 (-1: none), or multi-hot rows (R, K) float32."""
    code = {c: i for i, c in enumerate(classes)}
    if not multilabel:
        return np.array([-1 if v is None else code[v] for v in values], dtype=np.int64)
    hot = np.zeros((len(values), len(classes)), dtype=np.float32)
    for r, v in enumerate(values):
        for x in v or []:
            hot[r, code[x]] = 1.0
    return hot


@hookimpl
def register_tasks() -> list[Spec]:
    return [
        Spec(
            name="labels",
            factory=LabelsTask,
            config=LabelsConfig,
            summary="any dataset's record label, non-overlapping windows, patient-wise split",
        )
    ]
