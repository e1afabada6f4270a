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

The package, one module per concern (lower modules never import higher ones):

* :mod:`~ssl_ecg.evaluation.models` — the model: loading it, its data contract, what it saw;
* :mod:`~ssl_ecg.evaluation.loading` — the task's data, the leakage guard, labelled subsets;
* :mod:`~ssl_ecg.evaluation.features` — embeddings and side features, the probe's input;
* :mod:`~ssl_ecg.evaluation.probes` and :mod:`~ssl_ecg.evaluation.finetune` — the protocols;
* :mod:`~ssl_ecg.evaluation.scoring` — one fit's probabilities and their scores;
* :mod:`~ssl_ecg.evaluation.compare` — paired differences against another evaluation;
* :mod:`~ssl_ecg.evaluation.crossval` — patient-grouped K-fold cross-validation;
* :mod:`~ssl_ecg.evaluation.report` — the results files;
* :mod:`~ssl_ecg.evaluation.run` — :func:`evaluate`, the whole evaluation.
"""

from __future__ import annotations

from ssl_ecg.evaluation.compare import Comparison, test_fingerprint
from ssl_ecg.evaluation.crossval import CV_SCORES, cv_folds, pool
from ssl_ecg.evaluation.features import (
    FEATURES,
    check_features,
    embed,
    features_of,
    per_record,
)
from ssl_ecg.evaluation.finetune import finetune_predict
from ssl_ecg.evaluation.loading import (
    label_fraction,
    leakage,
    load_task,
    patient_holdout,
    task_config,
)
from ssl_ecg.evaluation.models import (
    Model,
    contract_data,
    load_model,
    pretrained_patients,
    pretrained_records,
)
from ssl_ecg.evaluation.probes import fit_predict, identity_probe
from ssl_ecg.evaluation.report import fmt_delta, markdown, pct, plot_confusion
from ssl_ecg.evaluation.run import check_request, evaluate
from ssl_ecg.evaluation.scoring import AGGREGATES, PROTOCOLS, Protocol, scoring_units

__all__ = [
    "AGGREGATES",
    "CV_SCORES",
    "FEATURES",
    "PROTOCOLS",
    "Comparison",
    "Model",
    "Protocol",
    "check_features",
    "check_request",
    "contract_data",
    "cv_folds",
    "embed",
    "evaluate",
    "features_of",
    "finetune_predict",
    "fit_predict",
    "fmt_delta",
    "identity_probe",
    "label_fraction",
    "leakage",
    "load_model",
    "load_task",
    "markdown",
    "patient_holdout",
    "pct",
    "per_record",
    "plot_confusion",
    "pool",
    "pretrained_patients",
    "pretrained_records",
    "scoring_units",
    "task_config",
    "test_fingerprint",
]
