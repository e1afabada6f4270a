"""Baseline wander: add a few slow sinusoids (well below 1 Hz) to every present lead.

Per sample, each of ``n_components`` sinusoids gets a frequency drawn uniformly from
``freq_hz`` and a phase in [0, 2π) shared by all leads (one physical cause, e.g. breathing or
electrode motion); its amplitude is drawn uniformly in [-amplitude, amplitude] per lead (each
lead sees the drift with its own gain and sign), or once per sample with ``per_lead = false``.
Absent leads (``lead_mask`` False) stay zero. Amplitudes are in signal units: signals are
z-scored per lead by default, so 0.1-0.5 is a mild-to-strong wander. Over a 2-3 s window a
0.05-0.5 Hz drift is mostly a random offset plus a slope or a gentle bend.

A standard ECG noise augmentation (respiration and electrode-motion drift); used among the
physiological noise transforms of Mehari & Strodthoff 2022, "Self-supervised representation
learning from 12-lead ECG data".
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl


class BaselineWanderConfig(AugmentationConfig):
    amplitude: float = Field(
        0.3, ge=0, description="largest amplitude of each sinusoid (signal units; zscored)"
    )
    freq_hz: list[float] = Field(
        [0.05, 0.5], min_length=2, max_length=2, description="[low, high] frequency range (Hz)"
    )
    n_components: int = Field(2, ge=1, description="sinusoids summed per sample")
    per_lead: bool = Field(True, description="amplitude drawn per lead (else one per sample)")

    @model_validator(mode="after")
    def _range(self) -> BaselineWanderConfig:
        low, high = self.freq_hz
        if not 0 <= low <= high:
            raise ValueError("freq_hz must be [low, high] with 0 <= low <= high")
        return self


class BaselineWander(Augmentation):
    def __init__(self, config: BaselineWanderConfig, context: AugmentationContext) -> None:
        self.config = config

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        cfg = self.config
        x = batch.signal  # (B, C, T)
        b, c, t = x.shape
        n = cfg.n_components
        low, high = cfg.freq_hz
        dev = x.device
        freq = low + (high - low) * torch.rand(b, n, 1, device=dev, generator=generator)
        phase = 2 * math.pi * torch.rand(b, n, 1, device=dev, generator=generator)  # (B, N, 1)
        amp = torch.rand(b, c if cfg.per_lead else 1, n, device=dev, generator=generator)
        amp = cfg.amplitude * (2 * amp - 1)  # (B, C or 1, N) in [-amplitude, amplitude]
        amp = amp * batch.lead_mask[:, :, None]  # (B, C, N); absent leads get none
        time = torch.arange(t, device=dev) / batch.fs  # (T,) seconds
        waves = torch.sin(2 * math.pi * freq * time + phase)  # (B, N, T)
        wander = torch.bmm(amp, waves)  # (B, C, T)
        return batch.replace(signal=x + wander.to(x.dtype))


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="baseline_wander",
            factory=BaselineWander,
            config=BaselineWanderConfig,
            summary="add slow (<1 Hz) sinusoidal baseline drift, random per sample and lead",
        )
    ]
