"""SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning") for ssl-ecg.

Projector g, predictor h; for views v_0, v_1: z_i = g(f(v_i)), p_i = h(z_i). With D(p, z) the
negative cosine similarity and sg the stop-gradient,

    L = 1/2 [ D(p_0, sg(z_1)) + D(p_1, sg(z_0)) ]      (range [-1, 1])

No negatives and no momentum target: the stop-gradient alone prevents collapse.
Heads and loss come from lightly.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class SimSiamConfig(Config):  # typed settings; unknown keys are refused
    out_dim: int = Field(512, ge=4)
    hidden_dim: int = Field(512, ge=1)


class SimSiam(Objective):
    n_views = 2  # the core passes two augmented views (B, C, T)

    def __init__(self, config: SimSiamConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        self.encoder = context.encoder
        dim, out = context.encoder.embed_dim, config.out_dim
        self.projector = SimSiamProjectionHead(dim, config.hidden_dim, out)
        self.predictor = SimSiamPredictionHead(out, out // 4, out)  # bottleneck, as in the paper
        self.criterion = NegativeCosineSimilarity()

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        z0, z1 = (self.projector(self.encoder(v)) for v in views)  # (B, out_dim) each
        p0, p1 = self.predictor(z0), self.predictor(z1)
        loss = (self.criterion(p0, z1.detach()) + self.criterion(p1, z0.detach())) / 2
        return {"loss": loss}


@hookimpl
def register_objectives() -> list[Spec]:
    return [Spec("simsiam", SimSiam, SimSiamConfig, "SimSiam: predictor + stop-gradient")]
