"""VICReg (Bardes et al. 2022) for ssl-ecg: variance-invariance-covariance regularisation."""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.interfaces import Batch, Objective, ObjectiveContext


class VICRegConfig(Config):
    invariance: float = Field(25.0, ge=0)
    variance: float = Field(25.0, ge=0)
    covariance: float = Field(1.0, ge=0)
    out_dim: int = Field(256, ge=1)


class VICReg(Objective):
    n_views = 2

    def __init__(self, config: VICRegConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import VICRegLoss
        from lightly.models.modules.heads import VICRegProjectionHead

        self.encoder = context.encoder
        dim = context.encoder.embed_dim
        self.head = VICRegProjectionHead(dim, config.out_dim, config.out_dim, num_layers=2)
        self.criterion = VICRegLoss(config.invariance, config.variance, config.covariance)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        z0 = self.head(self.encoder(views[0])).float()  # (B, out_dim)
        z1 = self.head(self.encoder(views[1])).float()
        return {"loss": self.criterion(z0, z1)}


@hookimpl
def register_objectives() -> list[Spec]:
    return [Spec("vicreg", VICReg, VICRegConfig, "VICReg: variance-invariance-covariance")]
