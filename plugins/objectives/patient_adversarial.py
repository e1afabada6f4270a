"""Patient-adversarial term: make the embedding uninformative of who the patient is.

A classifier h predicts the patient of each (clean) window from its embedding f(x); a gradient
reversal layer (Ganin & Lempitsky 2015, DANN) sits between them, so that minimising

    L = CE(h(GRL_lambda(f(x))), patient)

trains h to recognise patients while pushing f, with the gradient times -lambda, to hide them.
lambda stays constant (default) or follows DANN's schedule 2 / (1 + exp(-10 p)) - 1 over training
progress p. Patients are the dataset's own ids (``batch.patient``): unlabelled metadata every
dataset has. Meant as a part of ``hybrid``, e.g. ``parts = { simclr = 1.0,
patient_adversarial = 0.1 }``: inter-patient tests (MIT-BIH DS1 -> DS2) reward features that
transfer to new patients, and an encoder pretrained on few patients learns identity first.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl

DEFAULT_PATIENTS = 64  # the classifier's size when the core knows no data yet (validate)


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, strength: float) -> torch.Tensor:
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.strength * grad, None


class PatientAdversarialConfig(Config):
    strength: float = Field(1.0, ge=0, description="lambda: scale of the reversed gradient")
    schedule: Literal["constant", "dann"] = Field("constant", description="lambda over training")
    hidden_dim: int = Field(256, ge=1)


class PatientAdversarial(Objective):
    n_views = 0

    def __init__(self, config: PatientAdversarialConfig, context: ObjectiveContext) -> None:
        super().__init__()
        self.config = config
        self.encoder = context.encoder
        self.n_patients = context.n_patients or DEFAULT_PATIENTS
        d = context.encoder.embed_dim
        self.classifier = nn.Sequential(
            nn.Linear(d, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, self.n_patients),
        )
        self.register_buffer("progress", torch.zeros(()))  # saved with checkpoints

    def strength(self) -> float:
        if self.config.schedule == "constant":
            return self.config.strength
        p = float(self.progress)
        return self.config.strength * (2 / (1 + math.exp(-10 * p)) - 1)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        if batch.patient is None:
            raise ValueError("patient_adversarial needs the patient of every window")
        if int(batch.patient.max()) >= self.n_patients:
            raise ValueError(
                f"patient index {int(batch.patient.max())} >= {self.n_patients} patients"
            )
        z = _Reverse.apply(self.encoder(batch.signal), self.strength())
        logits = self.classifier(z).float()  # (B, P)
        loss = F.cross_entropy(logits, batch.patient)
        acc = (logits.argmax(1) == batch.patient).float().mean()
        return {"loss": loss, "patient_accuracy": acc.detach()}

    def on_step(self, step: int, total_steps: int) -> None:
        self.progress.fill_(step / max(total_steps, 1))


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="patient_adversarial",
            factory=PatientAdversarial,
            config=PatientAdversarialConfig,
            summary="gradient-reversed patient classifier: hides patient identity (use in hybrid)",
        )
    ]
