"""NNCLR (Dwibedi et al. 2021, "With a Little Help from My Friends: Nearest-Neighbor Contrastive
Learning of Visual Representations"): contrast with the nearest neighbour from a support set
instead of the other view itself.

Encoder f, projector g, predictor h; for views v_0, v_1: z_i = g(f(v_i)), p_i = h(z_i). The
support set Q is a FIFO queue of past projections; NN(z, Q) is the entry of Q with the largest
cosine similarity to z (no gradient). The loss is lightly's NT-Xent (temperature tau) between
the neighbours of one view and the predictions of the other, symmetrised as in the paper:

    L = 1/2 [ NTXent(NN(z_0, Q), p_1) + NTXent(NN(z_1, Q), p_0) ]

    NTXent(a, b) = mean over the 2B anchors x of a and b of
                   -log exp(sim(x, x+) / tau) / sum_{y != x} exp(sim(x, y) / tau)

so a window's positive can be a similar window of another record or patient seen in an earlier
batch. After the loss is computed, view 1's projections z_1 are pushed into Q (training mode
only; the oldest entries leave).

Heads, loss and support set come from lightly (``NNCLRProjectionHead``, ``NNCLRPredictionHead``,
``NTXentLoss``, ``NNMemoryBankModule``). lightly starts Q as random unit vectors and registers it
as a *non-persistent* buffer, i.e. left out of ``state_dict``; here the queue and its write
pointer are re-registered as persistent buffers, so checkpoints hold the support set and
``--resume`` continues with the same neighbours. Any batch size works with any ``support_size``
(a batch larger than Q fills it and wraps). The neighbour search runs in float32 (outside
autocast) so bf16 rounding cannot change which neighbour wins.

Distributed training: NT-Xent gathers negatives from every process, and every process pushes
the projections gathered from all processes into its queue (lightly's ``gather_distributed``),
so the support set is the same on every rank and holds what one process would.

Both views pass the encoder and heads as one batch of 2B windows (as SimCLR's reference
implementation does): bigger matrix products, and BatchNorm statistics over both views.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl


class NNCLRConfig(Config):
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature tau")
    support_size: int = Field(
        4096, ge=1, description="support set size: how many past projections the queue holds"
    )
    hidden_dim: int = Field(2048, ge=1, description="projector hidden width")
    predictor_hidden_dim: int = Field(4096, ge=1, description="predictor hidden width")
    out_dim: int = Field(256, ge=1, description="projection dimension")


class NNCLR(Objective):
    n_views = 2

    def __init__(self, config: NNCLRConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from lightly.loss import NTXentLoss
        from lightly.models.modules import (
            NNCLRPredictionHead,
            NNCLRProjectionHead,
            NNMemoryBankModule,
        )

        self.encoder = context.encoder
        self.projector = NNCLRProjectionHead(
            context.encoder.embed_dim, config.hidden_dim, config.out_dim
        )
        self.predictor = NNCLRPredictionHead(
            config.out_dim, config.predictor_hidden_dim, config.out_dim
        )
        self.support = NNMemoryBankModule(size=(config.support_size, config.out_dim))
        for name in ("bank", "bank_ptr"):  # lightly's are non-persistent: keep them in checkpoints
            self.support.register_buffer(name, getattr(self.support, name), persistent=True)
        self.support.gather_distributed = True  # every rank enqueues the global batch
        self.criterion = NTXentLoss(temperature=config.temperature, gather_distributed=True)

    def neighbours(self, z: torch.Tensor, update: bool = False) -> torch.Tensor:
        """z: (B, out_dim) -> each row's nearest neighbour in the support set (B, out_dim), no
        gradient; ``update`` then pushes z into the support set."""
        with torch.autocast(z.device.type, enabled=False):
            return self.support(z.detach().float(), update=update)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """views: two (B, C, T) tensors."""
        z0, z1 = self.projector(self.encoder(torch.cat(views[:2]))).chunk(2)  # (B, out) each
        p0, p1 = self.predictor(z0).float(), self.predictor(z1).float()
        nn0 = self.neighbours(z0)
        nn1 = self.neighbours(z1, update=self.training)  # searched before the update
        loss = (self.criterion(nn0, p1) + self.criterion(nn1, p0)) / 2
        return {"loss": loss}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="nnclr",
            factory=NNCLR,
            config=NNCLRConfig,
            summary="NNCLR: NT-Xent with nearest neighbours from a support set of past windows",
            example={
                "hidden_dim": 64,
                "predictor_hidden_dim": 64,
                "out_dim": 32,
                "support_size": 64,
            },
        )
    ]
