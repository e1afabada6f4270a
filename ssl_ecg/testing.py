"""Conformance checks a plugin runs in its own tests (like scikit-learn's ``check_estimator``).

Each ``check_*`` runs one component through its kind's contract on tiny synthetic input on the
CPU and raises :class:`ConformanceError` naming the broken rule, e.g.::

    from ssl_ecg.testing import check_objective

    def test_my_objective_conforms():
        check_objective("my-objective")          # by name: found through its entry point
        check_objective("my-objective", {"temperature": 0.2})

A component is named by its registered name (the check then also proves that the entry point
is found) or given as a :class:`~ssl_ecg.Spec`. Settings default to the component's defaults.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_ecg.errors import PluginError, one_line
from ssl_ecg.interfaces import (
    AugmentationContext,
    Batch,
    Encoder,
    EncoderContext,
    Logger,
    LoggerContext,
    Objective,
    ObjectiveContext,
)
from ssl_ecg.specs import Config, Spec

C, T, FS, B = 2, 500, 250.0, 6  # channels, samples, Hz, batch of the synthetic input


class ConformanceError(AssertionError):
    """A plugin broke a rule of its kind's contract; the message names the rule."""


def _ensure(ok: Any, spec: Spec, rule: str) -> None:
    if not ok:
        raise ConformanceError(f"{spec.kind} '{spec.name}': {rule}")


def _spec(kind: str, component: Spec | str) -> Spec:
    if isinstance(component, Spec):
        return component if component.kind else component.stamped(kind, "", "", "")  # type: ignore[arg-type]
    from ssl_ecg.registry import Registry

    return Registry.load().get(kind, component)


def _config(spec: Spec, settings: dict[str, Any] | None) -> Config:
    try:
        return spec.config(**(settings or {}))
    except Exception as exc:
        raise ConformanceError(
            f"{spec.kind} '{spec.name}': its settings {settings or {}} do not validate ({exc}); "
            "pass the required ones to the check"
        ) from None


def _batch(seed: int = 0, with_rpeaks: bool = True) -> Batch:
    """A small batch of ECG-like signals: a spike train (R-peaks) plus noise, (B, C, T)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float32)
    period = 150 + 10 * torch.arange(B, dtype=torch.float32)[:, None]  # (B, 1) samples per beat
    phase = torch.remainder(t[None, :], period)  # (B, T)
    beat = torch.exp(-0.5 * (phase / 4.0) ** 2)  # (B, T)
    x = beat[:, None, :].repeat(1, C, 1) + 0.05 * torch.randn(B, C, T, generator=g)
    rpeaks = None
    if with_rpeaks:
        k = T // 150 + 1
        pos = (torch.arange(k)[None, :] * period).long()  # (B, K)
        rpeaks = torch.where(pos < T, pos, torch.full_like(pos, -1))
    patient = torch.arange(B) % 3
    return Batch(x.float(), FS, torch.ones(B, C, dtype=torch.bool), rpeaks, patient)


class TinyEncoder(Encoder):
    """A small token encoder to exercise objectives without any encoder plugin.

    Patches of ``stride`` samples -> linear tokens (B, N, D); ``forward`` averages them. It
    is also autoregressive (for CPC): ``local`` gives the patch features, ``context`` their
    running mean (step t sees steps <= t).
    """

    supports_token_drop = True

    def __init__(self, in_channels: int = C, dim: int = 16, stride: int = 25) -> None:
        super().__init__()
        self.embed_dim, self.token_stride = dim, stride
        self.local_dim = self.context_dim = dim
        self.patch = nn.Conv1d(in_channels, dim, kernel_size=stride, stride=stride)
        self.mix = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        tok = self.patch(x).transpose(1, 2)  # (B, N, D)
        if keep is not None:  # keep: (B, N_keep)
            tok = torch.gather(tok, 1, keep[:, :, None].expand(-1, -1, tok.shape[2]))
        return self.mix(tok)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, T) -> (B, D)
        return self.tokens(x).mean(1)

    def local(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, T) -> (B, N, D)
        return self.patch(x).transpose(1, 2)

    def context(self, z: torch.Tensor) -> torch.Tensor:  # z: (B, N, D) -> (B, N, D), causal
        steps = torch.arange(1, z.shape[1] + 1, device=z.device, dtype=z.dtype)[None, :, None]
        return self.mix(z.cumsum(dim=1) / steps)


# ------------------------------------------------------------------ encoders
def check_encoder(component: Spec | str, settings: dict[str, Any] | None = None) -> Encoder:
    """Builds, embeds (B, C, T) -> (B, D), tokenises, backpropagates, is deterministic in
    eval mode, and survives a state_dict round trip. Returns the built encoder."""
    spec = _spec("encoder", component)
    config = _config(spec, settings)
    torch.manual_seed(0)
    enc = spec.factory(config, EncoderContext(C, T, FS))
    _ensure(isinstance(enc, Encoder), spec, "the factory must return an ssl_ecg.Encoder")
    _ensure(isinstance(getattr(enc, "embed_dim", None), int), spec, "embed_dim must be an int")
    x = _batch().signal
    z = enc(x)
    _ensure(
        z.shape == (B, enc.embed_dim),
        spec,
        f"forward((B, C, T)) must give (B, embed_dim) = {(B, enc.embed_dim)}, got {tuple(z.shape)}",
    )
    _ensure(torch.isfinite(z).all(), spec, "embeddings must be finite")
    if enc.token_stride is not None:
        tok = enc.tokens(x)
        width = enc.token_dim or enc.embed_dim
        _ensure(
            tok.ndim == 3 and tok.shape[0] == B and tok.shape[2] == width,
            spec,
            f"tokens() must give (B, N, token_dim or embed_dim = {width}), got {tuple(tok.shape)}",
        )
        _ensure(
            tok.shape[1] >= T // enc.token_stride,
            spec,
            f"tokens() must cover the window: {T} samples / stride {enc.token_stride} "
            f"needs >= {T // enc.token_stride} tokens, got {tok.shape[1]}",
        )
        if enc.supports_token_drop:
            keep = torch.arange(0, tok.shape[1], 2)[None].repeat(B, 1)  # (B, N/2)
            kept = enc.tokens(x, keep)
            _ensure(
                kept.shape == (B, keep.shape[1], width),
                spec,
                "tokens(x, keep) must give (B, N_keep, D) when supports_token_drop",
            )
    z.sum().backward()
    missing = [n for n, p in enc.named_parameters() if p.requires_grad and p.grad is None]
    _ensure(not missing, spec, f"parameters get no gradient from forward(): {missing[:5]}")
    enc.eval()
    with torch.no_grad():
        a, b = enc(x), enc(x)
        _ensure(torch.equal(a, b), spec, "eval-mode forward must be deterministic")
        twin = spec.factory(config, EncoderContext(C, T, FS)).eval()
        twin.load_state_dict(copy.deepcopy(enc.state_dict()))
        _ensure(
            torch.allclose(twin(x), a, atol=1e-6),
            spec,
            "a fresh instance loading state_dict() must embed identically",
        )
    return enc


# ------------------------------------------------------------------ augmentations
def check_augmentation(
    component: Spec | str, settings: dict[str, Any] | None = None
) -> tuple[Batch, Batch]:
    """Keeps shape/dtype/device, is batched and seeded (same generator seed -> same output,
    another -> another), changes the signal, never modifies its input, keeps the lead mask
    (B, C) and R-peaks (B, K) consistent, and ``p = 0`` leaves the signal alone. Returns the
    clean synthetic batch and its augmented version (generator seed 1)."""
    spec = _spec("augmentation", component)
    config = _config(spec, settings)
    aug = spec.factory(config, AugmentationContext(FS, T))
    batch = _batch()
    x, mask, peaks = batch.signal.clone(), batch.lead_mask.clone(), batch.rpeaks.clone()  # type: ignore[union-attr]

    def run(seed: int, which: Batch = batch) -> Batch:
        out = aug(which, torch.Generator().manual_seed(seed))
        _ensure(isinstance(out, Batch), spec, "must return a Batch (batch.replace(...))")
        return out

    a = run(1)
    _ensure(
        torch.equal(batch.signal, x)
        and torch.equal(batch.lead_mask, mask)
        and torch.equal(batch.rpeaks, peaks),  # type: ignore[arg-type]
        spec,
        "the input batch must not be modified in place",
    )
    b, c = run(1), run(2)
    _ensure(
        a.signal.shape == x.shape and a.signal.dtype == x.dtype,
        spec,
        f"must keep shape {tuple(x.shape)} and dtype {x.dtype}, got "
        f"{tuple(a.signal.shape)} {a.signal.dtype}",
    )
    _ensure(a.signal.device == x.device, spec, "must keep the batch on its device")
    _ensure(
        torch.equal(a.signal, b.signal),
        spec,
        "the same generator seed must give the same output (draw every random number from "
        "the generator argument)",
    )
    _ensure(not torch.equal(a.signal, c.signal), spec, "another seed must give another output")
    _ensure(not torch.equal(a.signal, x), spec, "its default settings must change the signal")
    _ensure(
        a.lead_mask.shape == mask.shape and a.lead_mask.dtype == torch.bool,
        spec,
        "lead_mask must stay (B, C) bool",
    )
    _check_rpeaks(a, spec)
    single = run(1, batch.replace(signal=x[:1], lead_mask=mask[:1], rpeaks=peaks[:1], patient=None))
    _ensure(single.signal.shape == x[:1].shape, spec, "must work on a batch of one")
    if "p" in type(config).model_fields:
        off = spec.factory(config.model_copy(update={"p": 0.0}), AugmentationContext(FS, T))
        _ensure(
            torch.equal(off(batch, torch.Generator().manual_seed(1)).signal, x),
            spec,
            "p = 0 must leave every sample unchanged",
        )
    return batch, a


def _check_rpeaks(out: Batch, spec: Spec) -> None:
    if out.rpeaks is None:
        return
    r = out.rpeaks
    _ensure(r.ndim == 2 and r.shape[0] == B, spec, "rpeaks must stay (B, K)")
    _ensure(
        ((r == -1) | ((r >= 0) & (r < T))).all(),
        spec,
        "R-peaks must follow the signal: inside the window or -1",
    )


# ------------------------------------------------------------------ objectives
def _objective_context(spec: Spec, encoder: Encoder) -> ObjectiveContext:
    def build(name: str, settings: dict[str, Any], key: str) -> Objective:
        part = _spec("objective", name)
        return part.factory(_config(part, settings), _objective_context(part, encoder))

    return ObjectiveContext(encoder, C, T, FS, "objective", build, n_patients=3)


def _objective_batch(obj: Objective, seed: int) -> tuple[Batch, list[torch.Tensor]]:
    batch = _batch(seed)
    if obj.n_segments > 1:  # adjacent windows of one record: (S, B, C, T)
        segs = torch.stack([_batch(seed + s).signal for s in range(obj.n_segments)])
        batch = batch.replace(signal=segs[0], segments=segs)
    g = torch.Generator().manual_seed(seed + 100)
    views = [
        batch.signal + 0.1 * torch.randn(batch.signal.shape, generator=g)
        for _ in range(obj.n_views)
    ]
    return batch, views


def check_objective(
    component: Spec | str,
    settings: dict[str, Any] | None = None,
    encoder: Encoder | None = None,
) -> Objective | None:
    """Gives a finite scalar ``loss`` (and scalar parts) from ``n_views`` views, backpropagates
    into the encoder, is seeded (two builds under one seed give one loss), has an ``on_step``,
    and survives a state_dict round trip. ``encoder`` defaults to :class:`TinyEncoder`; an
    objective may refuse an encoder it cannot train, with a PluginError naming that encoder
    (then None is returned)."""
    spec = _spec("objective", component)
    config = _config(spec, settings)
    encoder = encoder if encoder is not None else TinyEncoder()

    def build() -> Objective:
        torch.manual_seed(0)
        return spec.factory(config, _objective_context(spec, copy.deepcopy(encoder)))

    obj = _build_or_refuse(build, spec, encoder)
    if obj is None:
        return None
    _ensure(isinstance(obj, Objective), spec, "the factory must return an ssl_ecg.Objective")
    _ensure(isinstance(obj.n_views, int) and obj.n_views >= 0, spec, "n_views must be an int >= 0")
    _ensure(
        isinstance(obj.n_segments, int) and obj.n_segments >= 1,
        spec,
        "n_segments must be an int >= 1",
    )
    batch, views = _objective_batch(obj, 0)
    obj.train()
    torch.manual_seed(1)
    out = obj(batch, views)
    _check_loss(out, spec)
    out["loss"].backward()
    grads = [p.grad for p in _encoder_of(obj, encoder).parameters() if p.requires_grad]
    _ensure(
        any(g is not None and g.abs().sum() > 0 for g in grads),
        spec,
        "the loss must reach the encoder's parameters (gradients are zero or None)",
    )
    obj.on_step(1, 10)
    twin = build()
    torch.manual_seed(1)
    again = twin(batch, views)["loss"]
    _ensure(
        torch.allclose(again, out["loss"], rtol=1e-4, atol=1e-5),
        spec,
        f"same seed, same batch must give the same loss ({out['loss']:.6g} vs {again:.6g}); "
        "draw randomness from torch's seeded generator",
    )
    twin.load_state_dict(copy.deepcopy(obj.state_dict()))
    _ensure(
        set(twin.state_dict()) == set(obj.state_dict()),
        spec,
        "state_dict keys must round-trip (resume loads them)",
    )
    return obj


def _check_loss(out: Any, spec: Spec) -> None:
    _ensure(isinstance(out, dict) and "loss" in out, spec, "forward must return {'loss': ...}")
    _ensure(
        all(torch.is_tensor(v) and v.ndim == 0 for v in out.values()),
        spec,
        "every value forward returns must be a scalar tensor",
    )
    _ensure(torch.isfinite(out["loss"]), spec, f"the loss must be finite, got {out['loss']}")


def _build_or_refuse(build: Any, spec: Spec, encoder: Encoder) -> Objective | None:
    """The built objective, or None after a refusal that names the encoder."""
    try:
        return build()
    except PluginError as exc:
        named = type(encoder).__name__ in str(exc) or "encoder" in str(exc).lower()
        _ensure(named, spec, f"a refusal must say which encoder and why, got: {exc}")
        return None


def _encoder_of(obj: Objective, given: Encoder) -> nn.Module:
    """The encoder the objective trains (its copy of ``given``)."""
    for module in obj.modules():
        if isinstance(module, type(given)):
            return module
    return obj


# ------------------------------------------------------------------ datasets
def check_dataset(
    component: Spec | str, settings: dict[str, Any] | None = None, root: Path | None = None
) -> list[Any]:
    """Yields Records (float32 (C, T), leads among the source's, fs > 0, ids set), the same
    records twice over, and a stable ``identity()``. ``root`` is the folder relative settings
    resolve against (a tmp_path in a test). Returns the first (up to 3) records."""
    from ssl_ecg.config import PreprocessConfig
    from ssl_ecg.data.record import DatasetContext, Record, RecordSource

    spec = _spec("dataset", component)
    clash = sorted(set(spec.config.model_fields) & set(PreprocessConfig.model_fields))
    _ensure(not clash, spec, f"settings {clash} are [data] preprocessing keys the core takes "
            "(the plugin would never receive them); rename them, e.g. 'source_fs'")  # fmt: skip
    config = _config(spec, settings)
    ctx = DatasetContext(recipe_dir=Path(root or "."), seed=0)
    source = spec.factory(config, ctx)
    _ensure(isinstance(source, RecordSource), spec, "the factory must return a RecordSource")
    _ensure(
        source.leads and all(isinstance(n, str) for n in source.leads),
        spec,
        "leads must be a non-empty list of lead names",
    )
    first = list(_take(source.records(), 3))
    _ensure(first, spec, "records() must yield at least one record")
    for rec in first:
        _ensure(isinstance(rec, Record), spec, "records() must yield ssl_ecg.Record")
        s = rec.signal
        _ensure(
            isinstance(s, np.ndarray) and s.ndim == 2 and s.dtype == np.float32,
            spec,
            f"Record.signal must be float32 (C, T), got {getattr(s, 'dtype', type(s))} "
            f"{getattr(s, 'shape', '')}",
        )
        _ensure(s.shape[0] == len(rec.leads), spec, "signal rows must match Record.leads")
        _ensure(
            set(rec.leads) <= set(source.leads),
            spec,
            f"record leads {rec.leads} must be among the source's {source.leads}",
        )
        _ensure(
            rec.fs > 0 and rec.record_id and rec.patient_id,
            spec,
            "a record needs fs > 0, a record_id and a patient_id",
        )
    again = list(_take(spec.factory(config, ctx).records(), 3))
    _ensure(
        [r.record_id for r in again] == [r.record_id for r in first]
        and all(np.array_equal(a.signal, b.signal) for a, b in zip(again, first, strict=True)),
        spec,
        "two sources with the same settings must yield the same records",
    )
    _ensure(
        source.identity() == spec.factory(config, ctx).identity(),
        spec,
        "identity() must be stable (the cache key depends on it)",
    )
    return first


def _take(it: Any, n: int) -> Any:
    for i, x in enumerate(it):
        if i >= n:
            return
        yield x


# ------------------------------------------------------------------ tasks
def task_context(
    data_root: Path, fs: float = 100.0, leads: list[str] | None = None, n_samples: int = 250
) -> Any:
    """A TaskContext whose ``prepare`` runs the core's preparation (cache under
    ``SSL_ECG_CACHE``), as ``evaluate`` does for an encoder with this contract."""
    from ssl_ecg.recipe import data_recipe
    from ssl_ecg.sources import prepare
    from ssl_ecg.tasks import TaskContext

    leads = leads or ["II"]
    window_s = n_samples / fs

    def prep(table: dict[str, Any]) -> Any:
        doc = {"window_s": window_s, **table, "fs": fs, "leads": leads}
        return prepare(data_recipe(doc, Path(data_root) / "task", 0)).store

    return TaskContext(fs, leads, n_samples, 0, Path(data_root), prep)


def check_task(component: Spec | str, settings: dict[str, Any], context: Any) -> Any:
    """``load()`` gives TaskData whose train and test share no patient, whose labels match its
    classes (indices, or multi-hot columns), whose windows lie inside their records and whose
    side features match ``side_names``. ``context`` comes from :func:`task_context`."""
    from ssl_ecg.tasks import LabelledWindows, TaskData

    spec = _spec("task", component)
    config = _config(spec, settings)
    data = spec.factory(config, context).load()
    _ensure(isinstance(data, TaskData), spec, "load() must return ssl_ecg.TaskData")
    k = len(data.classes)
    _ensure(k >= 2, spec, f"a task needs at least two classes, got {data.classes}")
    for name, w in (("train", data.train), ("test", data.test)):
        _ensure(isinstance(w, LabelledWindows) and len(w) > 0, spec, f"{name} windows empty")
        n = len(w)
        _ensure(
            w.patients.shape == (n,) and w.records.shape == (n,),
            spec,
            f"{name}: one patient and record per window",
        )
        if data.multilabel:
            _ensure(w.y.shape == (n, k), spec, f"{name}: multilabel y must be (N, {k})")
        else:
            _ensure(
                w.y.shape == (n,) and w.y.min() >= 0 and w.y.max() < k,
                spec,
                f"{name}: y must be (N,) class indices in [0, {k})",
            )
        _ensure(
            w.length == context.n_samples,
            spec,
            f"{name}: windows must be the encoder's n_samples ({context.n_samples})",
        )
        order = np.argsort(w.store.rec_start)
        starts, ends = w.store.rec_start[order], (w.store.rec_start + w.store.rec_len)[order]
        rec = np.maximum(np.searchsorted(starts, w.start, side="right") - 1, 0)
        _ensure(
            (w.start >= 0).all() and (w.start + w.length <= ends[rec]).all(),
            spec,
            f"{name}: every window must lie inside one record",
        )
        if w.side is not None:
            _ensure(
                w.side.shape == (n, len(data.side_names)),
                spec,
                f"{name}: side features must be (N, len(side_names))",
            )
    shared = set(data.train.patients.tolist()) & set(data.test.patients.tolist())
    _ensure(not shared, spec, f"train and test share patients {sorted(shared)[:5]}")
    if data.scored is not None:
        _ensure(set(data.scored) <= set(data.classes), spec, "scored classes must be classes")
    return data


# ------------------------------------------------------------------ baselines
def check_baseline(
    component: Spec | str, task: Any, settings: dict[str, Any] | None = None
) -> np.ndarray:
    """``fit`` on the training windows, then ``transform`` gives finite float (N, D) features,
    the same for the same windows. ``task`` is TaskData (e.g. from :func:`check_task`).
    Returns the test windows' features."""
    from ssl_ecg.tasks import BaselineContext

    spec = _spec("baseline", component)
    config = _config(spec, settings)
    store = task.train.store
    base = spec.factory(config, BaselineContext(float(store.fs), list(store.leads), 0))
    base.fit(task)
    f = base.transform(task.test)
    _ensure(
        isinstance(f, np.ndarray) and f.ndim == 2 and f.shape[0] == len(task.test),
        spec,
        "transform must give (N, D) features, one row per window",
    )
    _ensure(np.isfinite(f).all(), spec, "features must be finite")
    _ensure(np.array_equal(f, base.transform(task.test)), spec, "transform must be deterministic")
    return f


# ------------------------------------------------------------------ loggers
_PARAMS = {"train.lr": 0.001, "train.steps": 4, "encoder.name": "vit1d", "data.leads": '["II"]',
           "train.grad_clip_on": True}  # fmt: skip
_METRICS = {"train/loss": 0.5, "train/lr": 1e-3, "train/samples_per_s": 800.0,
            "eval/task/linear/embedding+side/0.1/macro_f1": 0.25}  # fmt: skip


def _logger_call(spec: Spec, what: str, call: Any, *args: Any) -> Any:
    """``call(*args)``; an exception becomes the rule it broke."""
    try:
        return call(*args)
    except ConformanceError:
        raise
    except Exception as exc:
        rule = f"{what} raised {one_line(exc)}"
        raise ConformanceError(f"{spec.kind} '{spec.name}': {rule}") from None


def _logger_session(spec: Spec, config: Config, run: Path, mode: str, done: int,
                    steps: list[int]) -> None:  # fmt: skip
    """One process's use of a logger: start in ``mode`` after step ``done``, log, close."""
    what = f"in mode '{mode}'"
    logger = _logger_call(spec, f"factory(config, LoggerContext) {what}", spec.factory, config,
                          LoggerContext(run, mode, done))  # type: ignore[arg-type]  # fmt: skip
    _ensure(isinstance(logger, Logger), spec, "the factory must return an ssl_ecg.Logger")
    params, metrics = dict(_PARAMS), dict(_METRICS)
    if mode != "append":  # the core gives a new or resumed run its parameters
        _logger_call(spec, f"log_params {what}", logger.log_params, params)
    for step in steps:
        _logger_call(spec, f"log_metrics at step {step} {what}", logger.log_metrics, metrics, step)
    _ensure(params == _PARAMS and metrics == _METRICS, spec,
            "log_params and log_metrics must not modify the dicts passed in")  # fmt: skip
    _logger_call(spec, f"close() {what}", logger.close)
    _logger_call(spec, f"a second close() {what}", logger.close)


def check_logger(
    component: Spec | str, settings: dict[str, Any] | None = None, run_dir: Path | None = None
) -> Path:
    """Starts in a run directory (``new``), takes the run's parameters (dotted keys; str, int,
    float and bool values) and metrics at rising steps (names with ``/``, ``.``, ``-``, ``+``)
    without modifying them, closes (twice is harmless), and starts again on the same run to go
    on after a checkpoint (``resume``) and to add evaluation scores (``append``). ``run_dir``
    defaults to a new temporary folder; it is returned, for a test to read the logs back."""
    import tempfile

    spec = _spec("logger", component)
    config = _config(spec, settings)
    run = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="ssl-ecg-log-"))
    run.mkdir(parents=True, exist_ok=True)
    _logger_session(spec, config, run, "new", 0, [1, 2, 3])
    _logger_session(spec, config, run, "resume", 2, [3, 4])  # went on after a checkpoint at 2
    _logger_session(spec, config, run, "append", 4, [4])  # evaluation scores of step 4
    return run
