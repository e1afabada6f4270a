"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML; google-research/simclr): two augmented views, a projection head and
the NT-Xent loss over the 2B views of the batch,

    L = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)

with sim the cosine similarity. Defaults are the paper's: a 2-layer MLP head (Linear -> BN ->
ReLU -> Linear) whose hidden width is the representation's (``hidden_dim`` unset) and 128
outputs, tau = 0.1 (the repository's default, the best ImageNet setting of its Table 5);
training (``train_defaults``, the paper's default setting, Sec. 2.3 / B): LARS, lr = 0.3 x
batch / 256, weight decay 1e-6, linear warmup over 10 of 100 epochs, cosine decay.

Mehari & Strodthoff 2022's ECG SimCLR (``recipes/papers/mehari_simclr.toml``) uses tau = 0.5 and
a head without BatchNorm (512 -> 512 -> 16): ``head_batch_norm = false``. Their pl-bolts 0.3
loss subtracts e^1 instead of the self-similarity e^(1/tau) from the denominator (a library
bug); here the self-similarity is excluded exactly.

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
    hidden_dim: int | None = Field(
        None, ge=1, description="head hidden width; default the encoder's embedding width"
    )
    out_dim: int = Field(128, ge=1)
    head_batch_norm: bool = Field(True, description="BatchNorm in the head's hidden layer")


class SimCLR(Objective):
    n_views = 2

    def __init__(self, config: SimCLRConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        self.encoder = context.encoder
        dim = context.encoder.embed_dim
        self.head = SimCLRProjectionHead(
            dim, config.hidden_dim or dim, config.out_dim, batch_norm=config.head_batch_norm
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
            train_defaults={
                "optimizer": "lars",
                "base_lr": 0.3,
                "weight_decay": 1e-6,
                "warmup_fraction": 0.1,
                "lr_floor": 0.0,
            },
            train_source="Chen et al. 2020, default setting (Sec. 2.3, Appendix B)",
        )
    ]
