"""Lead dropout: zero whole leads, independently per sample, and mark them absent.

Each present lead of an augmented sample is dropped with probability ``p_lead``; a dropped
lead becomes zeros and its ``lead_mask`` entry False, so later augmentations (and anything
reading the returned batch's mask) treat it as missing. At least one present lead always
survives: when every present lead of a sample would be dropped, one of them, chosen uniformly
at random, is kept. Leads that were already absent stay absent; single-lead batches are thus
left unchanged.

Random lead masking teaches an encoder to cope with reduced lead sets, as in ST-MEM's
RandomLeadMask (Na et al., ICLR 2024, "Guiding Masked Representation Learning to Capture
Spatio-Temporal Relationship of Electrocardiogram"); unlike it, nothing is re-standardised.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Augmentation, AugmentationConfig, AugmentationContext, Batch, Spec, hookimpl


class LeadDropoutConfig(AugmentationConfig):
    p_lead: float = Field(0.25, ge=0, le=1, description="probability each present lead is dropped")


class LeadDropout(Augmentation):
    def __init__(self, config: LeadDropoutConfig, context: AugmentationContext) -> None:
        self.config = config

    def transform(self, batch: Batch, generator: torch.Generator) -> Batch:
        x = batch.signal  # (B, C, T)
        present = batch.lead_mask  # (B, C)
        b, c, _ = x.shape
        u = torch.rand(b, c, device=x.device, generator=generator)  # (B, C)
        drop = (u < self.config.p_lead) & present  # (B, C)
        # a sample that would lose every present lead keeps the one with the largest u: uniform
        # among its present leads, since the u are i.i.d.
        wiped = ~(present & ~drop).any(dim=1, keepdim=True)  # (B, 1)
        best = torch.where(present, u, -1.0).argmax(dim=1, keepdim=True)  # (B, 1)
        keep_one = torch.zeros_like(drop).scatter_(1, best, True) & wiped  # (B, C)
        drop &= ~keep_one
        return batch.replace(signal=x.masked_fill(drop[:, :, None], 0.0), lead_mask=present & ~drop)


@hookimpl
def register_augmentations() -> list[Spec]:
    return [
        Spec(
            name="lead_dropout",
            factory=LeadDropout,
            config=LeadDropoutConfig,
            summary="zero random whole leads per sample (never all) and mark them absent",
        )
    ]
