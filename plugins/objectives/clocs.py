"""CMSC, contrastive multi-segment coding (Kiyasseh et al. 2021, "CLOCS", ICML): two adjacent,
non-overlapping segments of one recording are a positive pair; so is any pair of segments of
the same patient in the batch.

With unit-norm projections a_i = g(f(s_0^i)), b_j = g(f(s_1^j)) of the first and second segment
of batch items i, j and P(i) = {j : patient(j) = patient(i)} (i included),

    L = - 1/2 [ mean_i mean_{j in P(i)} log softmax_j(a_i . b_j / tau)
              + mean_j mean_{i in P(j)} log softmax_i(a_i . b_j / tau) ]

the patient-aware NT-Xent of CLOCS (their ``obtain_contrastive_loss`` with ``CMSC``). The core
hands the segments through ``n_segments = 2`` (``batch.segments``) and the patient of every
window (``batch.patient``, from the dataset's own patient ids — unlabelled metadata). No
augmentation is needed: time and the heart's own variability make the two views differ.
Negatives are the other patients of this process's batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class CMSCConfig(Config):
    temperature: float = Field(0.1, gt=0)
    hidden_dim: int = Field(512, ge=1)
    out_dim: int = Field(128, ge=1)


class CMSC(Objective):
    n_views = 0
    n_segments = 2

    def __init__(self, config: CMSCConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.models.modules import SimCLRProjectionHead

        self.temperature = config.temperature
        self.encoder = context.encoder
        self.head = SimCLRProjectionHead(
            context.encoder.embed_dim, config.hidden_dim, config.out_dim
        )

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch.segments: (2, B, C, T); batch.patient: (B,)."""
        if batch.segments is None or batch.segments.shape[0] < 2:
            raise ValueError("cmsc needs two segments per window (batch.segments)")
        s = batch.segments[:2]
        z = self.head(self.encoder(s.flatten(0, 1))).float()  # (2B, out)
        a, b = F.normalize(z, dim=-1).chunk(2)  # (B, out) each
        logits = a @ b.T / self.temperature  # (B, B)
        n = logits.shape[0]
        patient = batch.patient if batch.patient is not None else torch.arange(n)
        same = (patient[:, None] == patient[None, :].to(patient.device)).float()  # (B, B)
        rows = -(logits.log_softmax(dim=1) * same).sum(1) / same.sum(1)
        cols = -(logits.log_softmax(dim=0) * same).sum(0) / same.sum(0)
        positives = (same.sum() - n) / n  # same-patient pairs beyond the own pair, per item
        return {"loss": (rows.mean() + cols.mean()) / 2, "extra_positives": positives.detach()}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="cmsc",
            factory=CMSC,
            config=CMSCConfig,
            summary="CLOCS CMSC: adjacent segments (and patients) of a recording as positives",
        )
    ]
