"""What each kind of component is handed and what it must provide.

Every factory is called as ``factory(config, context)``; contexts are records the core may
extend with new fields without breaking existing plugins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from ssl_ecg.specs import Config


@dataclasses.dataclass
class Batch:
    """A training batch on the device. Augmentations return a new Batch."""

    signal: torch.Tensor  # (B, C, T) float32
    fs: float
    lead_mask: torch.Tensor  # (B, C) bool, False where a lead is absent
    rpeaks: torch.Tensor | None = None  # (B, K) int64 R-peak positions in the window, -1 = none
    patient: torch.Tensor | None = None  # (B,) int64 index of each window's patient (0..P-1)
    # (S, B, C, T) S adjacent, non-overlapping windows of one record (segments[0] is signal),
    # when the objective asks for ``n_segments`` > 1
    segments: torch.Tensor | None = None

    def replace(self, **changes: Any) -> Batch:
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------ models
@dataclasses.dataclass(frozen=True)
class EncoderContext:
    in_channels: int
    n_samples: int  # window length in samples
    fs: float


class Encoder(nn.Module):
    """Base for encoders: ``forward(x: (B, C, T)) -> (B, D)``.

    Encoders with a token sequence also implement ``tokens(x) -> (B, N, D)`` where token ``i``
    covers samples ``[i * token_stride - token_origin, (i + 1) * token_stride - token_origin)``
    (D = ``token_dim`` when set, else ``embed_dim``). Those that set
    ``supports_token_drop`` also accept ``keep`` (B, N_keep) int64 token indices and then encode
    only those tokens, returning (B, N_keep, D) in the order of ``keep`` (MAE-style efficiency);
    the others must be called with ``keep=None``.

    Token layout: by default token ``i`` spans every lead (N = T / token_stride). An encoder
    that tokenises each lead on its own sets ``lead_tokens = True``: its N = C x T /
    token_stride tokens are lead-major (token ``l * P + p`` is lead ``l``, patch ``p``, P =
    T / token_stride), and ``keep`` then keeps the same number of tokens in every lead.
    ``n_lead_extras`` > 0 says that each lead also has that many extra tokens of its own (e.g.
    ST-MEM's separator tokens); ``tokens(x, keep, extras=True)`` then returns, per lead, its
    extras first and its kept patches after: (B, C * (n_lead_extras + N_keep / C), D).

    Autoregressive encoders (contrastive predictive coding) also implement ``local(x) -> (B,
    N, local_dim)``, per-step features that see no context, and ``context(z) -> (B, N,
    context_dim)``, where step ``t`` sees steps ``<= t`` only.
    """

    embed_dim: int
    token_stride: int | None = None
    token_dim: int | None = None  # width of tokens() when it differs from embed_dim (pooling)
    # token i is centred on sample i * token_stride + token_stride / 2 - token_origin: 0 for
    # patch tokens; token_stride // 2 for a CNN whose padded convolutions centre token i on
    # sample i * token_stride (its patch is then [i s - s/2, i s + s/2))
    token_origin: int = 0
    supports_token_drop: bool = False
    lead_tokens: bool = False
    n_lead_extras: int = 0

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no token sequence")


@dataclasses.dataclass(frozen=True)
class AugmentationContext:
    fs: float
    n_samples: int


class AugmentationConfig(Config):
    """Settings every augmentation has: which views it applies to, and to which share of the
    samples (the core applies both; the augmentation itself never reads them)."""

    views: list[int] | None = Field(
        None, description="apply only to these view indices (0-based); default: every view"
    )
    p: float = Field(1.0, ge=0, le=1, description="probability a sample is augmented")


class Augmentation:
    """Base for augmentations: a batched, seeded transform of a whole batch on its device.

    Subclasses write only ``transform(batch, generator) -> Batch``: every random number drawn
    from ``generator``, R-peaks and lead mask kept in step with the signal, the input batch
    never modified in place. The base class applies it, keeping each sample's transformed
    version with probability ``config.p`` (one draw per sample, after the transform) and the
    original otherwise; ``config.views`` is read by the core when it makes the views.
    Built as ``factory(config, AugmentationContext)``.
    """

    def __init__(self, config: AugmentationConfig, context: AugmentationContext) -> None:
        self.config = config
        self.context = context

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must implement transform()")

    def __call__(self, batch: Batch, generator: torch.Generator) -> Batch:
        out = self.transform(batch, generator)
        p = getattr(self.config, "p", 1.0)
        if p >= 1:
            return out
        x = batch.signal
        keep = torch.rand(x.shape[0], device=x.device, generator=generator) < p  # (B,)
        signal = torch.where(keep[:, None, None], out.signal, x)
        mask = torch.where(keep[:, None], out.lead_mask, batch.lead_mask)
        rpeaks = out.rpeaks
        if batch.rpeaks is not None and out.rpeaks is not None:
            k = max(batch.rpeaks.shape[1], out.rpeaks.shape[1])
            old = torch.nn.functional.pad(batch.rpeaks, (0, k - batch.rpeaks.shape[1]), value=-1)
            new = torch.nn.functional.pad(out.rpeaks, (0, k - out.rpeaks.shape[1]), value=-1)
            rpeaks = torch.where(keep[:, None], new, old)
        return out.replace(signal=signal, lead_mask=mask, rpeaks=rpeaks)


@dataclasses.dataclass(frozen=True)
class ObjectiveContext:
    encoder: Encoder
    in_channels: int
    n_samples: int
    fs: float
    key: str  # dotted recipe key of this objective, for error messages
    # build(name, settings, key) -> Objective: builds another objective through the registry
    build: Callable[[str, dict[str, Any], str], Objective]
    # patients in the training data (Batch.patient indexes them); None when there is no data
    # yet (``ssl-ecg validate``): an objective that needs it then assumes a small number
    n_patients: int | None = None


class Objective(nn.Module):
    """Base for objectives: ``forward(batch, views) -> {"loss": scalar, part: scalar, ...}``.

    ``batch`` is the un-augmented batch (signal (B, C, T), lead mask, R-peaks); ``views`` holds
    ``n_views`` independently augmented copies of its signal, each (B, C, T). ``n_views = 0`` is
    legal: the objective then reads only ``batch`` and ``views`` is empty.
    """

    n_views: int = 1
    # > 1: the core hands n_segments adjacent, non-overlapping windows of one record per batch
    # item in ``batch.segments`` (S, B, C, T), e.g. for temporal / patient contrast (CLOCS, CPC)
    n_segments: int = 1

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_step(self, step: int, total_steps: int) -> None:
        """Called after every optimizer step (e.g. to update a momentum target)."""

    def reconstruction(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        """For pictures (``ssl-ecg show-reconstruction``): an objective that predicts masked
        signal returns ``{"mask": (B, T) or (B, C, T) bool, True where hidden, "output":
        (B, C, T)}`` for ``batch.signal`` in signal units; the others return None (the
        default)."""
        return None


# ------------------------------------------------------------------ loggers
@dataclasses.dataclass(frozen=True)
class LoggerContext:
    """Where and how a logger writes. ``mode`` says what the process does with the run:

    * ``"new"``: a fresh run (what an earlier, killed attempt in the folder logged is old);
    * ``"resume"``: ``--resume``: the run goes on after step ``step`` (its last checkpoint),
      so the values an interrupted attempt logged after ``step`` come again (a logger that
      can hides the old ones);
    * ``"append"``: a finished run gets more values (evaluation scores at step ``step``).

    A resumed run, and an evaluation of a run, write to the run's own destination.
    """

    run_dir: Path  # the run directory; a logger's relative paths resolve against it
    mode: Literal["new", "resume", "append"] = "new"
    step: int = 0  # the last step already done (0 for a new run)

    @property
    def run_name(self) -> str:
        """The run directory's name (a readable name for the run)."""
        return self.run_dir.resolve().name


class Logger:
    """Base for loggers: a destination for a run's parameters and metrics (an event file, a
    tracking service). Built as ``factory(config, LoggerContext)`` by rank 0 only.

    The core calls ``log_params`` once a run starts, with the resolved recipe and the data
    contract flattened to dotted keys (``{"train.lr": 0.001, "encoder.name": "vit1d",
    "contract.fs": 250.0}``: str, int, float or bool values); ``log_metrics`` at every logged
    step (``{"train/loss": 0.71, "train/lr": 1e-3, "train/samples_per_s": 812.0}``, objective
    parts as ``train/<part>``) and for evaluation scores (``eval/<task>/<protocol>/<features>/
    <fraction>/macro_f1``, at the step of the evaluated weights); ``close`` when done, once or
    more. Names may hold ``/``, ``.``, ``-`` and ``+``: a logger maps the characters its
    destination refuses. Never modify the dicts passed in. A logger that raises while logging
    is dropped with a warning; the run goes on.
    """

    def __init__(self, config: Config, context: LoggerContext) -> None:
        self.config = config
        self.context = context

    def log_params(self, params: dict[str, str | int | float | bool]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement log_params()")

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement log_metrics()")

    def close(self) -> None:
        """Flush and release the destination (called once or more)."""
