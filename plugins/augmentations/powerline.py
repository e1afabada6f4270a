"""Power-line interference: add a 50 or 60 Hz sinusoid to every present lead.

Per sample a mains frequency is drawn uniformly from ``freq_hz`` and a phase in [0, 2π) shared
by all leads (one common-mode source); the amplitude is drawn uniformly in [0, amplitude] per
lead (each lead picks it up through its own electrode-impedance imbalance), or once per sample
with ``per_lead = false``. Absent leads (``lead_mask`` False) stay zero. Amplitudes are in
signal units (z-scored per lead by default).

Nyquist rule: a frequency at or above fs/2 is never used. A recorder low-passes before it
samples, so mains interference above its Nyquist frequency does not reach the recording, and
adding its alias would invent a component no real device shows. Building the augmentation for
a sampling rate at which none of ``freq_hz`` is below fs/2 (e.g. fs = 100 Hz with [50, 60])
is refused with an error saying so; a batch whose own ``fs`` leaves no usable frequency is
returned unchanged.

A standard ECG noise augmentation, used among the physiological noise transforms of Mehari &
Strodthoff 2022, "Self-supervised representation learning from 12-lead ECG data".
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from ssl_ecg import (
    Augmentation,
    AugmentationConfig,
    AugmentationContext,
    Batch,
    PluginError,
    Spec,
    hookimpl,
)


class PowerlineConfig(AugmentationConfig):
    freq_hz: list[float] = Field(
        [50.0, 60.0], min_length=1, description="mains frequencies, one drawn per sample (Hz)"
    )
    amplitude: float = Field(
        0.1, ge=0, description="largest amplitude (signal units; zscored by default)"
    )
    per_lead: bool = Field(True, description="amplitude drawn per lead (else one per sample)")


class Powerline(Augmentation):
    def __init__(self, config: PowerlineConfig, context: AugmentationContext) -> None:
        self.config = config
        if not [f for f in config.freq_hz if 0 < f < context.fs / 2]:
            raise PluginError(
                f"powerline: every freq_hz {config.freq_hz} is at or above the Nyquist "
                f"frequency fs/2 = {context.fs / 2:g} Hz, where a recorder's anti-alias filter "
                "removes it; lower freq_hz, raise [data] fs, or drop this augmentation"
            )

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        cfg = self.config
        x = batch.signal  # (B, C, T)
        b, c, t = x.shape
        dev = x.device
        usable = [f for f in cfg.freq_hz if 0 < f < batch.fs / 2]
        u = torch.rand(2, b, 1, 1, device=dev, generator=generator)  # (2, B, 1, 1)
        amp = torch.rand(b, c if cfg.per_lead else 1, 1, device=dev, generator=generator)
        if not usable:
            return batch
        choice = (u[0] * len(usable)).long().clamp(max=len(usable) - 1)  # (B, 1, 1)
        freq = torch.tensor(usable, device=dev)[choice]  # (B, 1, 1)
        amp = cfg.amplitude * amp * batch.lead_mask[:, :, None]  # (B, C, 1)
        n = torch.arange(t, device=dev)  # (T,) sample index
        wave = torch.sin((2 * math.pi / batch.fs) * freq * n + 2 * math.pi * u[1])  # (B, 1, T)
        return batch.replace(signal=x + (amp * wave).to(x.dtype))


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="powerline",
            factory=Powerline,
            config=PowerlineConfig,
            summary="add 50/60 Hz mains interference, random frequency, phase and level",
        )
    ]
