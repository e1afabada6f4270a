"""ssl-ecg: pluggable self-supervised pretraining and evaluation of ECG encoders.

Everything a plugin needs is importable from here, and only from here (one import path per
name)::

    from ssl_ecg import Config, Spec, hookimpl, Objective, ObjectiveContext, Batch

Names load on first use, so a dataset plugin that imports ``Record`` never pulls in torch.
Reading helpers for WFDB-format datasets are in :mod:`ssl_ecg.wfdb`; the conformance checks a
plugin runs in its own tests are in :mod:`ssl_ecg.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ssl_ecg.errors import (
    DataError,
    Incompatible,
    PluginError,
    RecipeError,
    SslEcgError,
    did_you_mean,
    require_package,
)
from ssl_ecg.hookspecs import hookimpl
from ssl_ecg.specs import Config, Spec
from ssl_ecg.version import __version__

# public name -> module that defines it (imported lazily, PEP 562)
_RECORDS = ["DatasetContext", "Record", "RecordSource"]
_MODELS = ["Augmentation", "AugmentationConfig", "AugmentationContext", "Batch", "Encoder",
           "EncoderContext", "Logger", "LoggerContext", "Objective",
           "ObjectiveContext"]  # fmt: skip
_TASKS = ["HRV_FEATURES", "RR_FEATURES", "Baseline", "BaselineContext", "LabelledWindows",
          "Task", "TaskContext", "TaskData", "hrv_features", "rr_features"]  # fmt: skip
_LAZY = {
    **dict.fromkeys(_RECORDS, "ssl_ecg.data.record"),
    **dict.fromkeys(_MODELS, "ssl_ecg.interfaces"),
    **dict.fromkeys(_TASKS, "ssl_ecg.tasks"),
    "Store": "ssl_ecg.data.store",
    "check_finite": "ssl_ecg.data.preprocess",
    "load_encoder": "ssl_ecg.embed",
    "LoadedEncoder": "ssl_ecg.embed",
    "sincos_positions": "ssl_ecg.layers",
}

__all__ = [
    "HRV_FEATURES",
    "RR_FEATURES",
    "Augmentation",
    "AugmentationConfig",
    "AugmentationContext",
    "Baseline",
    "BaselineContext",
    "Batch",
    "Config",
    "DataError",
    "DatasetContext",
    "Encoder",
    "EncoderContext",
    "Incompatible",
    "LabelledWindows",
    "LoadedEncoder",
    "Logger",
    "LoggerContext",
    "Objective",
    "ObjectiveContext",
    "PluginError",
    "RecipeError",
    "Record",
    "RecordSource",
    "Spec",
    "SslEcgError",
    "Store",
    "Task",
    "TaskContext",
    "TaskData",
    "__version__",
    "check_finite",
    "did_you_mean",
    "hookimpl",
    "hrv_features",
    "load_encoder",
    "require_package",
    "rr_features",
    "sincos_positions",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ssl_ecg' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and editors: the lazy names, eagerly
    from ssl_ecg.data.preprocess import check_finite
    from ssl_ecg.data.record import DatasetContext, Record, RecordSource
    from ssl_ecg.data.store import Store
    from ssl_ecg.embed import LoadedEncoder, load_encoder
    from ssl_ecg.interfaces import (
        Augmentation,
        AugmentationConfig,
        AugmentationContext,
        Batch,
        Encoder,
        EncoderContext,
        Logger,
        LoggerContext,
        Objective,
        ObjectiveContext,
    )
    from ssl_ecg.layers import sincos_positions
    from ssl_ecg.tasks import (
        HRV_FEATURES,
        RR_FEATURES,
        Baseline,
        BaselineContext,
        LabelledWindows,
        Task,
        TaskContext,
        TaskData,
        hrv_features,
        rr_features,
    )
