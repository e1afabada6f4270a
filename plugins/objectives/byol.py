"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent", NeurIPS; deepmind-research/byol):
predict a momentum target's projection of one view from the other view, with no negatives.

Online branch: encoder f, projector g, predictor q. Target branch: f', g', a copy of (f, g)
that is never trained by gradient; after every optimizer step it follows the online weights

    theta' <- m theta' + (1 - m) theta,    m = 1 - (1 - m_base) (cos(pi k / (K - 1)) + 1) / 2

(``momentum_base`` -> 1 over the K training steps, m = 1 from step K - 1 on; lightly's
``cosine_schedule`` and ``update_momentum``). With p_i = q(g(f(v_i))) and z_i = g'(f'(v_i))
for views v_0, v_1,

    L = 1/2 [ (2 - 2 cos(p_0, sg(z_1))) + (2 - 2 cos(p_1, sg(z_0))) ]

i.e. the paper's symmetrised 2 - 2 cos loss, averaged over the two directions (range [0, 4]),
computed as ``2 + NegativeCosineSimilarity(p_0, z_1) + NegativeCosineSimilarity(p_1, z_0)``
with lightly's loss (which returns -mean cos).

Distributed training: the target is updated only from the online weights (which DDP keeps
identical on every rank after each step), never from per-rank data, so it stays identical
across ranks with no communication. Its buffers (BatchNorm running statistics) are copied from
the online modules at the same time, so the target is a pure function of the online state.

Defaults are the paper's: projector and predictor MLPs of 4096 hidden units (BN, ReLU) and 256
outputs, tau_base = 0.996; training (``train_defaults``, Sec. 3.2 / Appendix J): LARS, lr = 0.2
x batch / 256, weight decay 1.5e-6, warmup over 10 of 1000 epochs, cosine decay. Mehari &
Strodthoff 2022's ECG BYOL (``recipes/papers/mehari_byol.toml``) uses 512 hidden units and 16
outputs.

The target has ``requires_grad`` off, so the optimizer never sees it as a second trainable
copy; the encoder the core exports is the online one (``context.encoder``); the target lives
only in the objective's state (checkpoints, for resuming).
"""

from __future__ import annotations

import copy

import torch
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class BYOLConfig(Config):
    hidden_dim: int = Field(4096, ge=1, description="projector and predictor hidden width")
    out_dim: int = Field(256, ge=1, description="projection dimension")
    momentum_base: float = Field(
        0.996, ge=0, le=1, description="target momentum at step 0; cosine schedule to 1.0"
    )


class BYOL(Objective):
    n_views = 2

    def __init__(self, config: BYOLConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        self.config = config
        self.encoder = context.encoder
        self.projector = BYOLProjectionHead(
            context.encoder.embed_dim, config.hidden_dim, config.out_dim
        )
        self.predictor = BYOLPredictionHead(config.out_dim, config.hidden_dim, config.out_dim)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        deactivate_requires_grad(self.target_encoder)
        deactivate_requires_grad(self.target_projector)
        self.criterion = NegativeCosineSimilarity()

    def online(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> prediction p (B, out_dim)."""
        return self.predictor(self.projector(self.encoder(x)))

    @torch.no_grad()
    def target(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> target projection z (B, out_dim), no gradient."""
        return self.target_projector(self.target_encoder(x))

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """views: two (B, C, T) tensors."""
        both = torch.cat(views[:2])  # (2B, C, T): one call per branch, bigger matrix products
        p0, p1 = self.online(both).float().chunk(2)  # (B, out_dim) each
        z0, z1 = self.target(both).float().chunk(2)
        loss = 2 + self.criterion(p0, z1) + self.criterion(p1, z0)
        return {"loss": loss}

    @torch.no_grad()
    def on_step(self, step: int, total_steps: int) -> None:
        """Move the target toward the online weights by the scheduled momentum."""
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        m = cosine_schedule(step, total_steps, self.config.momentum_base, 1.0)
        for online, target in (
            (self.encoder, self.target_encoder),
            (self.projector, self.target_projector),
        ):
            update_momentum(online, target, m)
            for b_online, b_target in zip(online.buffers(), target.buffers(), strict=True):
                b_target.copy_(b_online)


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="byol",
            factory=BYOL,
            config=BYOLConfig,
            summary="BYOL: predict a momentum target's projection across two views",
            example={"hidden_dim": 64, "out_dim": 32},
            train_defaults={
                "optimizer": "lars",
                "base_lr": 0.2,
                "weight_decay": 1.5e-6,
                "warmup_fraction": 0.01,
                "lr_floor": 0.0,
            },
            train_source="Grill et al. 2020, Sec. 3.2 (implementation details)",
        )
    ]
