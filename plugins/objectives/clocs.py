"""CLOCS (Kiyasseh et al. 2021, "CLOCS: Contrastive Learning of Cardiac Signals Across Space,
Time, and Patients", ICML; danikiyasseh/CLOCS ``prepare_miscellaneous.py``
``obtain_contrastive_loss`` and ``prepare_dataset.py``): views of one recording that differ in
time (CMSC), in lead (CMLC) or in both (CMSMLC) are positives, and so are the views of any two
recordings of one patient. No augmentation, no projection head: the encoder's output goes into
the loss.

For a pair of views with embeddings a_i, b_j (i, j = 1..B) and E_ij = exp(cos(a_i, b_j) / tau),
CLOCS's loss has four terms:

    diag_a = mean_i -log E_ii / sum_j E_ij          (anchor a_i, its own b_i)
    diag_b = mean_j -log E_jj / sum_i E_ij          (anchor b_j, its own a_j)
    triu   = mean_{i<j, same patient} -log E_ij / sum_l E_il
    tril   = mean_{i>j, same patient} -log E_ij / sum_l E_lj

    L_pair = (diag_a + diag_b) / 2                      if no two items share a patient
           = (diag_a + diag_b + triu + tril) / 4        otherwise

so the own pair and the same-patient pairs each weigh one half, whatever their number; other
items of the same patient stay in the denominators; the lower-indexed item is the anchor of an
off-diagonal pair (CLOCS: "technically need to add 1 more term for symmetry"). tau = 0.1.

Views (``n_segments`` adjacent non-overlapping windows from the core; leads by the lead axis):

* ``cmsc``: 2 adjacent windows of one record (CLOCS: two halves of a 10 s frame), all leads;
* ``cmlc``: each present lead of one window alone (the other leads zeroed), every pair of leads;
* ``cmsmlc``: each lead of each of the two windows (2 C views), every pair.

With more than two views the loss is the mean of L_pair over all pairs, as the paper states.
Deviations, stated: (1) CLOCS's code reassigns instead of adding inside its loop over pairs, so
its CMLC/CMSMLC train on the last pair only; we average over all pairs. (2) CLOCS's encoder takes
one lead (CMSC then treats every lead as its own instance); ours takes the recipe's C leads: CMSC
contrasts whole multi-lead windows, and a CMLC view is one lead with the others zero (pairs where
a lead is absent leave that item out). (3) CLOCS min-max scales every view to [0, 1]; the
recipe's preprocessing applies. Training (``train_defaults``, CLOCS ``run_experiments.py``):
Adam lr 1e-4, no weight decay, no schedule (early stopping on the validation loss), batch 256.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, Spec, hookimpl

Variant = Literal["cmsc", "cmlc", "cmsmlc"]


class CLOCSConfig(Config):
    temperature: float = Field(0.1, gt=0, description="tau (CLOCS: 0.1)")


def clocs_pair_loss(a: torch.Tensor, b: torch.Tensor, patient: torch.Tensor, tau: float) -> tuple[
        torch.Tensor, torch.Tensor]:  # fmt: skip
    """CLOCS's loss for one pair of views. a, b: (B, D) embeddings; patient: (B,) int64.
    Returns the loss and the number of same-patient pairs beyond the own ones (i < j)."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / tau  # (B, B)
    log_row = logits - logits.logsumexp(dim=1, keepdim=True)  # log E_ij / sum_l E_il
    log_col = logits - logits.logsumexp(dim=0, keepdim=True)  # log E_ij / sum_l E_lj
    terms = [-log_row.diagonal().mean(), -log_col.diagonal().mean()]
    same = patient[:, None] == patient[None, :]  # (B, B)
    upper = torch.triu(same, diagonal=1)
    if upper.any():  # tril is non-empty exactly when triu is (same is symmetric)
        terms += [-log_row[upper].mean(), -log_col[torch.tril(same, diagonal=-1)].mean()]
    return torch.stack(terms).mean(), upper.sum()


class CLOCS(Objective):
    n_views = 0

    def __init__(self, variant: Variant, config: CLOCSConfig, context: ObjectiveContext) -> None:
        super().__init__()
        self.variant, self.tau = variant, config.temperature
        self.n_segments = 1 if variant == "cmlc" else 2
        self.encoder = context.encoder
        self.n_leads = context.in_channels
        if variant != "cmsc" and self.n_leads < 2:
            raise ValueError(f"{variant} contrasts leads; the recipe's data has one lead")

    def views(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The views (V, B, C, T) and which items each view has (V, B) bool."""
        if batch.segments is None and self.n_segments > 1:
            raise ValueError(f"{self.variant} needs {self.n_segments} segments (batch.segments)")
        seg = batch.segments[: self.n_segments] if self.n_segments > 1 else batch.signal[None]
        s, b, c, _ = seg.shape  # (S, B, C, T)
        present = batch.lead_mask  # (B, C)
        if self.variant == "cmsc":
            return seg, present.any(dim=1)[None].expand(s, -1)
        eye = torch.eye(c, dtype=seg.dtype, device=seg.device)  # lead l alone: (C, C)
        views = seg[:, None] * eye[None, :, None, :, None]  # (S, C, B, C, T), lead-major
        return views.reshape(s * c, b, c, -1), present.T[None].expand(s, -1, -1).reshape(s * c, b)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch.segments: (S, B, C, T); batch.patient: (B,)."""
        x, has = self.views(batch)  # (V, B, C, T), (V, B)
        v, b = has.shape
        z = self.encoder(x.flatten(0, 1)).float().view(v, b, -1)  # (V, B, D)
        patient = batch.patient if batch.patient is not None else torch.arange(b)
        patient = patient.to(z.device)
        losses, extra = [], []
        for i in range(v):
            for j in range(i + 1, v):
                ok = has[i] & has[j]  # items with both views
                if int(ok.sum()) < 2:
                    continue
                loss, n = clocs_pair_loss(z[i, ok], z[j, ok], patient[ok], self.tau)
                losses.append(loss)
                extra.append(n.float())
        if not losses:
            raise ValueError(f"{self.variant}: no two items of the batch have two views")
        return {"loss": torch.stack(losses).mean(),
                "extra_positives": torch.stack(extra).mean().detach() / b}  # fmt: skip


def _factory(variant: Variant) -> object:
    def build(config: CLOCSConfig, context: ObjectiveContext) -> CLOCS:
        return CLOCS(variant, config, context)

    return build


TRAIN = {"optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "schedule": "constant",
         "warmup_steps": 0, "grad_clip": 0.0}  # fmt: skip
SOURCE = "Kiyasseh et al. 2021, CLOCS run_experiments.py / prepare_models.py"


@hookimpl
def register_objectives() -> list[Spec]:
    what = {
        "cmsc": "adjacent segments of a recording (and of a patient) as positives",
        "cmlc": "the leads of a window (and of a patient) as positives",
        "cmsmlc": "segments x leads of a recording (and of a patient) as positives",
    }
    return [
        Spec(name=v, factory=_factory(v), config=CLOCSConfig,  # type: ignore[arg-type]
             summary=f"CLOCS {v.upper()}: {text}", train_defaults=dict(TRAIN), train_source=SOURCE)
        for v, text in what.items()
    ]  # fmt: skip
