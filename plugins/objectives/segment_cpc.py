"""Segment CPC: contrastive predictive coding (van den Oord et al. 2018) over consecutive
*windows*, for any encoder. Our own design, not a paper's method: the ECG CPC of Mehari &
Strodthoff 2022 predicts 12 steps of 10 ms ahead inside one window (objective ``cpc``, encoder
``cpc_encoder``); this one predicts whole windows ahead.

Each batch item is ``segments`` adjacent, non-overlapping windows of one record (the core's
``n_segments``). The encoder embeds every window on its own, z_t = f(x_t) (t = 0..S-1); a GRU
summarises the past, c_t = GRU(z_0..z_t); for k = 1..K a linear map predicts the window k
steps ahead, p_{t,k} = W_k c_t. InfoNCE scores each prediction against every window of the
batch — the true z_{t+k} of the same item against the other positions and the other items:

    L = mean_k mean_{t,i} - log softmax_{(u, j)} ( p^i_{t,k} . z^j_u / tau ),  target (t + k, i)

with unit-norm p and z and a temperature (more stable than CPC's raw bilinear score).

Why windows and not the encoder's tokens: CPC needs a context that cannot see the future it
predicts. A transformer's tokens attend over the whole window and a deep CNN's receptive field
spans much of it, so token-level CPC would leak the targets into the context for most encoders.
Embedding whole windows independently keeps the objective honest for any encoder, and the
encoder is trained on exactly the windows it is evaluated on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class SegmentCPCConfig(Config):
    segments: int = Field(4, ge=2, description="consecutive windows per item (the sequence)")
    steps_ahead: int = Field(2, ge=1, description="K: predict up to this many windows ahead")
    context_dim: int = Field(256, ge=1, description="GRU state size")
    temperature: float = Field(0.1, gt=0)

    @model_validator(mode="after")
    def _ahead(self) -> SegmentCPCConfig:
        if self.steps_ahead >= self.segments:
            raise ValueError(
                f"steps_ahead = {self.steps_ahead} must be below segments = {self.segments}"
            )
        return self


class SegmentCPC(Objective):
    n_views = 0

    def __init__(self, config: SegmentCPCConfig, context: ObjectiveContext) -> None:
        super().__init__()
        self.config = config
        self.n_segments = config.segments
        self.encoder = context.encoder
        d = context.encoder.embed_dim
        self.gru = nn.GRU(d, config.context_dim)
        self.predict = nn.ModuleList(
            [nn.Linear(config.context_dim, d) for _ in range(config.steps_ahead)]
        )

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch.segments: (S, B, C, T)."""
        seg = batch.segments
        if seg is None or seg.shape[0] < self.n_segments:
            raise ValueError(
                f"segment_cpc needs {self.n_segments} segments per window (batch.segments)"
            )
        s, b = self.n_segments, seg.shape[1]
        z = self.encoder(seg[:s].flatten(0, 1)).float().view(s, b, -1)  # (S, B, D)
        c, _ = self.gru(z)  # (S, B, H)
        targets = F.normalize(z, dim=-1).reshape(s * b, -1)  # (S*B, D)
        losses, correct = [], []
        for k, head in enumerate(self.predict, start=1):
            p = F.normalize(head(c[:-k]), dim=-1).reshape((s - k) * b, -1)  # ((S-k)*B, D)
            logits = p @ targets.T / self.config.temperature  # ((S-k)*B, S*B)
            target = torch.arange(k * b, s * b, device=logits.device)  # index of z_{t+k}^i
            losses.append(F.cross_entropy(logits, target))
            correct.append((logits.argmax(1) == target).float().mean())
        return {"loss": torch.stack(losses).mean(), "accuracy": torch.stack(correct).mean()}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="segment_cpc",
            factory=SegmentCPC,
            config=SegmentCPCConfig,
            summary="CPC over whole windows (our variant): a GRU predicts the next windows",
        )
    ]
