"""SimCLR (Chen et al. 2020): two augmented views, a projection head and the NT-Xent loss.

    L = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)

Loss and head come from lightly; negatives are gathered across processes under DDP.

Both views pass the encoder and heads as one batch of 2B windows (as SimCLR's reference
implementation does): bigger matrix products, and BatchNorm statistics over both views.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class SimCLRConfig(Config):
    temperature: float = Field(0.1, gt=0)
    hidden_dim: int = Field(512, ge=1)
    out_dim: int = Field(128, ge=1)


class SimCLR(Objective):
    n_views = 2

    def __init__(self, config: SimCLRConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        self.encoder = context.encoder
        self.head = SimCLRProjectionHead(
            context.encoder.embed_dim, config.hidden_dim, config.out_dim
        )
        self.criterion = NTXentLoss(temperature=config.temperature, gather_distributed=True)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """views: two (B, C, T) tensors."""
        # both views in one encoder call: bigger, faster matrix products on the CPU
        z0, z1 = self.head(self.encoder(torch.cat(views[:2]))).chunk(2)  # (B, out_dim) each
        loss = self.criterion(z0.float(), z1.float())
        return {"loss": loss}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="simclr",
            factory=SimCLR,
            config=SimCLRConfig,
            summary="SimCLR: NT-Xent contrast between two augmented views",
        )
    ]
