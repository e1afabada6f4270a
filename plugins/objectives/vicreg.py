"""VICReg (Bardes et al. 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning"): three terms on the (B, D) projections z_0, z_1 of two views.

    s(z_0, z_1) = 1/(B D) sum_b ||z_0b - z_1b||^2                invariance (mean squared error)
    v(z)        = 1/D sum_j max(0, 1 - sqrt(Var(z_.j) + eps))     variance (hinge on the std)
    c(z)        = 1/D sum_{i != j} Cov(z)_ij^2                   covariance (decorrelation)

    L = lambda s(z_0, z_1) + mu [v(z_0) + v(z_1)] / 2 + nu [c(z_0) + c(z_1)]

with the paper's lambda = mu = 25, nu = 1 (unbiased variance and covariance over the batch,
eps = 1e-4). The variance term keeps every dimension's spread up (no collapse), the covariance
term decorrelates dimensions; no negatives, no momentum target.

Loss and head come from lightly (``VICRegLoss``, ``VICRegProjectionHead``: the paper's
three-layer expander). Under DDP the variance and covariance terms are computed on the
projections gathered from every process (``gather_distributed=True``), so they see the global
batch. The unweighted terms are also returned as ``invariance``, ``variance`` and
``covariance`` for the logs (this process's batch, no gradient).
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class VICRegConfig(Config):
    invariance: float = Field(25.0, ge=0, description="lambda: weight of the invariance term")
    variance: float = Field(25.0, ge=0, description="mu: weight of the variance term")
    covariance: float = Field(1.0, ge=0, description="nu: weight of the covariance term")
    hidden_dim: int = Field(2048, ge=1, description="expander hidden width")
    out_dim: int = Field(2048, ge=1, description="projection dimension D")


class VICReg(Objective):
    n_views = 2

    def __init__(self, config: VICRegConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import VICRegLoss
        from lightly.models.modules.heads import VICRegProjectionHead

        self.encoder = context.encoder
        self.head = VICRegProjectionHead(
            context.encoder.embed_dim, config.hidden_dim, config.out_dim, num_layers=3
        )
        self.criterion = VICRegLoss(
            lambda_param=config.invariance,
            mu_param=config.variance,
            nu_param=config.covariance,
            gather_distributed=True,
        )

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """views: two (B, C, T) tensors."""
        from lightly.loss.vicreg_loss import covariance_loss, invariance_loss, variance_loss

        z0, z1 = self.head(self.encoder(torch.cat(views[:2]))).float().chunk(2)  # (B, out) each
        loss = self.criterion(z0, z1)
        with torch.no_grad():
            eps = self.criterion.eps
            parts = {
                "invariance": invariance_loss(z0, z1),
                "variance": (variance_loss(z0, eps) + variance_loss(z1, eps)) / 2,
                "covariance": covariance_loss(z0) + covariance_loss(z1),
            }
        return {"loss": loss, **parts}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="vicreg",
            factory=VICReg,
            config=VICRegConfig,
            summary="VICReg: invariance, variance and covariance terms on two views' projections",
            example={"hidden_dim": 64, "out_dim": 64},
        )
    ]
