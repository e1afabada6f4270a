"""Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy
Reduction"): make the cross-correlation matrix of two views' projections the identity.

With z_0, z_1 the (B, D) projections of two augmented views, each standardised along the batch
(zero mean, unit variance per dimension), and C = z_0^T z_1 / B the (D, D) cross-correlation,

    L = sum_i (1 - C_ii)^2 + lambda sum_i sum_{j != i} C_ij^2

The first term makes each dimension invariant to the augmentations, the second decorrelates the
dimensions (redundancy reduction); no negatives, no momentum target, no stop-gradient.

Loss and head come from lightly (``BarlowTwinsLoss``, ``BarlowTwinsProjectionHead``: three
linear layers, BatchNorm + ReLU after the first two). Under DDP the per-process matrices C are
averaged across processes before the loss (``gather_distributed=True``). The paper's lambda is
5e-3 for a projector of width 8192; the defaults here are narrower for ECG-sized encoders.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class BarlowTwinsConfig(Config):
    lambda_param: float = Field(
        5e-3, ge=0, description="lambda: weight of the off-diagonal (redundancy) term"
    )
    hidden_dim: int = Field(2048, ge=1, description="projector hidden width")
    out_dim: int = Field(2048, ge=1, description="projection dimension D")


class BarlowTwins(Objective):
    n_views = 2

    def __init__(self, config: BarlowTwinsConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import BarlowTwinsLoss
        from lightly.models.modules import BarlowTwinsProjectionHead

        self.encoder = context.encoder
        self.head = BarlowTwinsProjectionHead(
            context.encoder.embed_dim, config.hidden_dim, config.out_dim
        )
        self.criterion = BarlowTwinsLoss(lambda_param=config.lambda_param, gather_distributed=True)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """views: two (B, C, T) tensors."""
        # both views in one encoder call: bigger, faster matrix products on the CPU
        z0, z1 = self.head(self.encoder(torch.cat(views[:2]))).chunk(2)  # (B, out_dim) each
        return {"loss": self.criterion(z0.float(), z1.float())}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="barlow_twins",
            factory=BarlowTwins,
            config=BarlowTwinsConfig,
            summary="Barlow Twins: cross-correlation of two views' projections to the identity",
            example={"hidden_dim": 64, "out_dim": 64},
        )
    ]
