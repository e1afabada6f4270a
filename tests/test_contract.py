"""Every registered component passes the conformance kit (``ssl_ecg.testing``), parametrized
over whatever the registry holds (no hand-kept list), and the kit itself catches broken plugins.

File-based datasets get a tiny generated fixture (any WFDB folder, numpy arrays) or, for those
whose layout is a real database's (MIT-BIH, SVDB, PTB-XL, the Challenge), a few real records
from ``$SSL_ECG_TEST_DATA`` (skipped with the reason when absent).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import wfdb
from conftest import data_root

from ssl_ecg import (
    Augmentation,
    AugmentationConfig,
    Batch,
    Encoder,
    Logger,
    LoggerContext,
    Objective,
    PluginError,
    Spec,
)
from ssl_ecg.registry import Registry
from ssl_ecg.testing import (
    ConformanceError,
    TinyEncoder,
    check_augmentation,
    check_baseline,
    check_dataset,
    check_encoder,
    check_logger,
    check_objective,
    check_task,
    task_context,
)

REGISTRY = Registry.load()
DATA = data_root()


def specs(kind: str) -> list[Spec]:
    return REGISTRY.list(kind=kind)


def test_registry_holds_every_kind_used_by_recipes() -> None:
    for kind in ("dataset", "encoder", "augmentation", "objective", "task", "baseline", "logger"):
        assert specs(kind), f"no {kind} registered"


@pytest.mark.parametrize("spec", specs("encoder"), ids=lambda s: s.name)
def test_encoder_conforms(spec: Spec) -> None:
    enc = check_encoder(spec)
    assert enc.embed_dim > 0 and sum(p.numel() for p in enc.parameters()) > 0


@pytest.mark.parametrize("spec", specs("augmentation"), ids=lambda s: s.name)
def test_augmentation_conforms(spec: Spec) -> None:
    clean, out = check_augmentation(spec)
    assert out.signal.shape == clean.signal.shape and not torch.equal(out.signal, clean.signal)


@pytest.mark.parametrize("spec", specs("objective"), ids=lambda s: s.name)
def test_objective_conforms_with_its_defaults(spec: Spec) -> None:
    assert check_objective(spec) is not None, "an objective must train the kit's TinyEncoder"


@functools.cache
def small_encoder(name: str) -> Encoder:
    """Each encoder at its Spec's ``example`` settings (its defaults are checked above)."""
    enc_spec = REGISTRY.get("encoder", name)
    return check_encoder(enc_spec, enc_spec.example).train()


@pytest.mark.parametrize("enc_spec", specs("encoder"), ids=lambda s: s.name)
@pytest.mark.parametrize("spec", specs("objective"), ids=lambda s: s.name)
def test_objective_conforms_on_each_encoder(spec: Spec, enc_spec: Spec) -> None:
    """Every objective on every encoder, both at their small ``example`` settings: it trains
    the encoder, or refuses it with a reason naming it (checked by the kit)."""
    obj = check_objective(spec, spec.example, encoder=small_encoder(enc_spec.name))
    if obj is not None:  # not refused: it holds the encoder's weights and trains them
        assert any(p.requires_grad for p in obj.parameters()), f"{spec.name}: nothing to train"


# ------------------------------------------------------------------ datasets
def _wfdb_folder(root: Path) -> dict[str, Any]:
    x = np.random.default_rng(0).normal(size=(1000, 2))  # (T, C) mV
    for name in ("a", "b"):
        wfdb.wrsamp(name, fs=250, units=["mV", "mV"], sig_name=["I", "II"], p_signal=x,
                    fmt=["16", "16"], comments=["Rhythm: SR"], write_dir=str(root))  # fmt: skip
    return {"root": str(root)}


def _numpy_arrays(root: Path) -> dict[str, Any]:
    np.save(root / "ecg.npy", np.random.default_rng(1).normal(size=(3, 2, 750)).astype("f4"))
    (root / "ecg.json").write_text(json.dumps({"fs": 250, "leads": ["I", "II"]}))
    return {"path": str(root / "ecg.npy")}


def _real(folder: str, **settings: Any) -> Any:
    def make(root: Path) -> dict[str, Any]:
        where = DATA / folder
        if not where.is_dir():
            pytest.skip(f"real data {where} absent (set SSL_ECG_TEST_DATA)")
        return {"root": str(where), **settings}

    return make


FIXTURES = {
    "synthetic": lambda root: {"n_records": 2, "duration_s": 5.0},
    "wfdb": _wfdb_folder,
    "numpy": _numpy_arrays,
    "mitbih": _real("mitbih-arrhythmia", records=["100", "101"]),
    "svdb": _real("svdb", records=["800", "801"]),
    "ptbxl": _real("ptbxl-500"),
    "physionet-challenge": _real("cinc2021-12lead-sample"),
}


@pytest.mark.parametrize("spec", specs("dataset"), ids=lambda s: s.name)
def test_dataset_conforms(spec: Spec, tmp_path: Path) -> None:
    if spec.name not in FIXTURES:
        pytest.fail(f"dataset '{spec.name}' has no fixture in tests/test_contract.py: add one")
    check_dataset(spec, FIXTURES[spec.name](tmp_path), root=tmp_path)


# ------------------------------------------------------------------ tasks and baselines
def _task_settings(name: str) -> dict[str, Any]:
    synthetic = {"name": "synthetic", "n_records": 8, "duration_s": 10.0}
    real = {
        "mitbih-aami": ("mitbih-arrhythmia", {"records": ["101", "106", "100", "103"],
                                              "max_train_per_class": 50, "max_test": 200}),
        "ptbxl": ("ptbxl-500", {"labels": "superdiagnostic"}),
        "cinc2021-dx": ("cinc2021-12lead-sample", {"min_count": 2}),
    }  # fmt: skip
    if name == "labels":
        return {"dataset": synthetic, "label": "hr_band"}
    if name not in real:
        pytest.fail(f"task '{name}' has no settings in tests/test_contract.py: add them")
    folder, settings = real[name]
    if not (DATA / folder).is_dir():
        pytest.skip(f"real data {DATA / folder} absent (set SSL_ECG_TEST_DATA)")
    return {"root": str(DATA / folder), **settings}


@pytest.mark.parametrize("spec", specs("task"), ids=lambda s: s.name)
def test_task_conforms(spec: Spec, tmp_path: Path) -> None:
    data = check_task(spec, _task_settings(spec.name), task_context(tmp_path))
    assert len(data.train) > 0 and len(data.test) > 0 and len(data.classes) >= 2
    assert not set(data.train.patients.tolist()) & set(data.test.patients.tolist())


@pytest.fixture(scope="module")
def small_task(tmp_path_factory: pytest.TempPathFactory) -> Any:
    ctx = task_context(tmp_path_factory.mktemp("task"))
    return check_task("labels", _task_settings("labels"), ctx)


@pytest.mark.parametrize("spec", specs("baseline"), ids=lambda s: s.name)
def test_baseline_conforms(spec: Spec, small_task: Any) -> None:
    features = check_baseline(spec, small_task)
    assert features.shape[0] == len(small_task.test) and features.shape[1] > 0


# ------------------------------------------------------------------ loggers
@pytest.mark.parametrize("spec", specs("logger"), ids=lambda s: s.name)
def test_logger_conforms(spec: Spec, tmp_path: Path) -> None:
    run = check_logger(spec, run_dir=tmp_path)
    assert run == tmp_path and any(tmp_path.iterdir()), "a built-in logger writes in the run"


# ------------------------------------------------------------------ the kit catches what it claims
class _InPlaceConfig(AugmentationConfig):
    pass


class _InPlace(Augmentation):
    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        batch.signal.mul_(1 + torch.rand(1, generator=generator).item())
        return batch


class _Unseeded(Augmentation):
    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        return batch.replace(signal=batch.signal + torch.randn(batch.signal.shape))


class _Detached(Objective):
    n_views = 2

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__()
        self.encoder = context.encoder
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            z = self.encoder(views[0])
        return {"loss": self.w * z.pow(2).mean()}


class _Refuses(Objective):
    def __init__(self, config: Any, context: Any) -> None:
        raise PluginError("no")


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (Spec("in-place", _InPlace, _InPlaceConfig), "must not be modified in place"),
        (Spec("unseeded", _Unseeded, _InPlaceConfig), "same generator seed"),
    ],
    ids=["in-place", "unseeded"],
)
def test_kit_names_the_broken_augmentation_rule(spec: Spec, rule: str) -> None:
    with pytest.raises(ConformanceError, match=rule):
        check_augmentation(spec)


class _Mutating(Logger):
    def log_params(self, params: dict[str, Any]) -> None:
        params.clear()

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass


class _NoResume(_Mutating):
    def __init__(self, config: Any, context: LoggerContext) -> None:
        if context.mode == "resume":
            raise FileExistsError("run exists")
        super().__init__(config, context)

    def log_params(self, params: dict[str, Any]) -> None:
        pass


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (Spec("mutating", _Mutating), "must not modify the dicts passed in"),
        (Spec("no-resume", _NoResume), "in mode 'resume' raised FileExistsError: run exists"),
        (Spec("not-a-logger", lambda c, ctx: object()), "must return an ssl_ecg.Logger"),
    ],
    ids=["mutating", "no-resume", "not-a-logger"],
)
def test_kit_names_the_broken_logger_rule(spec: Spec, rule: str, tmp_path: Path) -> None:
    with pytest.raises(ConformanceError, match=rule):
        check_logger(spec, run_dir=tmp_path)


def test_kit_names_the_broken_objective_rule() -> None:
    with pytest.raises(ConformanceError, match="must reach the encoder"):
        check_objective(Spec("detached", _Detached))
    with pytest.raises(ConformanceError, match="a refusal must say which encoder"):
        check_objective(Spec("refuses", _Refuses))
    assert isinstance(check_objective("simclr", encoder=TinyEncoder()), Objective)
