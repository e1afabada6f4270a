"""Contract tests, parametrized over whatever the registry holds (no hand-kept list):
every component builds from its default settings and honours its kind's interface."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from ssl_ecg.errors import PluginError
from ssl_ecg.interfaces import (
    AugmentationContext,
    Batch,
    DatasetContext,
    Encoder,
    EncoderContext,
    Objective,
    ObjectiveContext,
    Record,
    RecordSource,
)
from ssl_ecg.registry import Registry
from ssl_ecg.specs import Spec

REGISTRY = Registry.load()
C, T, FS = 2, 500, 250.0


def specs(kind: str) -> list[Spec]:
    return REGISTRY.list(kind=kind)


def default_config(spec: Spec):
    try:
        return spec.config()
    except ValidationError as exc:
        pytest.skip(f"{spec.kind} '{spec.name}' has required settings: {exc.errors()[0]['loc']}")


def test_registry_holds_every_kind_used_by_recipes() -> None:
    for kind in ("dataset", "encoder", "augmentation", "objective"):
        assert specs(kind), f"no {kind} registered"


@pytest.mark.parametrize("spec", specs("dataset"), ids=lambda s: s.name)
def test_dataset_builds_and_yields_records(spec: Spec, tmp_path) -> None:
    cfg = default_config(spec)
    small = {
        k: v for k, v in {"n_records": 2, "duration_s": 5.0}.items() if k in type(cfg).model_fields
    }
    cfg = spec.config(**{**cfg.model_dump(), **small})
    source = spec.factory(cfg, DatasetContext(recipe_dir=tmp_path, seed=0))
    assert isinstance(source, RecordSource)
    first = next(iter(source.records()))
    assert isinstance(first, Record)
    assert first.signal.ndim == 2 and first.signal.dtype.name == "float32"
    assert first.signal.shape[0] == len(first.leads) and first.fs > 0
    assert set(first.leads) <= set(source.leads)


def _encoder(spec: Spec) -> Encoder:
    return spec.factory(default_config(spec), EncoderContext(C, T, FS))


@pytest.mark.parametrize("spec", specs("encoder"), ids=lambda s: s.name)
def test_encoder_embeds_and_tokenises(spec: Spec) -> None:
    enc = _encoder(spec)
    x = torch.randn(3, C, T)
    z = enc(x)
    assert z.shape == (3, enc.embed_dim)
    if enc.token_stride is not None:
        tok = enc.tokens(x)
        assert tok.shape[0] == 3 and tok.shape[2] == enc.embed_dim
        assert tok.shape[1] >= T // enc.token_stride
    z.sum().backward()
    assert all(p.grad is not None for p in enc.parameters() if p.requires_grad)


@pytest.mark.parametrize("spec", specs("augmentation"), ids=lambda s: s.name)
def test_augmentation_keeps_shape_dtype_device_and_is_seeded(spec: Spec) -> None:
    aug = spec.factory(default_config(spec), AugmentationContext(FS, T))
    x = torch.randn(4, C, T)
    batch = Batch(x, FS, torch.ones(4, C, dtype=torch.bool))
    a = aug(batch, torch.Generator().manual_seed(1)).signal
    b = aug(batch, torch.Generator().manual_seed(1)).signal
    c = aug(batch, torch.Generator().manual_seed(2)).signal
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert torch.equal(a, b), "same seed must give the same augmentation"
    assert not torch.equal(a, c), "another seed must give another augmentation"
    assert not torch.equal(a, x), "the default settings must change the signal"
    assert torch.equal(batch.signal, x), "the input batch must not be modified in place"


def _objective_ctx(encoder: Encoder) -> ObjectiveContext:
    def build(name: str, settings: dict, key: str) -> Objective:
        spec = REGISTRY.get("objective", name)
        return spec.factory(spec.config(**settings), _objective_ctx(encoder))

    return ObjectiveContext(encoder, C, T, FS, "objective", build)


@pytest.mark.parametrize("enc_spec", specs("encoder"), ids=lambda s: s.name)
@pytest.mark.parametrize("spec", specs("objective"), ids=lambda s: s.name)
def test_objective_trains_each_encoder_or_refuses_clearly(spec: Spec, enc_spec: Spec) -> None:
    enc = _encoder(enc_spec)
    try:
        obj = spec.factory(default_config(spec), _objective_ctx(enc))
    except PluginError as exc:  # an honest refusal is allowed, with a reason
        assert enc_spec.name in str(exc) or type(enc).__name__ in str(exc)
        return
    assert isinstance(obj, Objective) and obj.n_views >= 0  # 0: reads only batch.signal
    segs = torch.randn(max(obj.n_segments, 1), 4, C, T)  # n_segments adjacent windows
    mask, patient = torch.ones(4, C, dtype=torch.bool), torch.tensor([0, 1, 0, 2])
    batch = Batch(segs[0], FS, mask, patient=patient,
                  segments=segs if obj.n_segments > 1 else None)  # fmt: skip
    views = [torch.randn(4, C, T) for _ in range(obj.n_views)]
    out = obj(batch, views)
    loss = out["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(v.ndim == 0 for v in out.values())
    loss.backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "loss must reach the encoder"
