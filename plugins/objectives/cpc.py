"""CPC for ECG as Mehari & Strodthoff 2022 ran it ("Self-supervised representation learning from
12-lead ECG data", arXiv 2103.12676; hhi-aml/ecg-selfsupervised ``clinical_ts/cpc.py``
``CPCModel.cpc_loss`` with the README's ``--negatives-from-same-seq-only``), after van den Oord
et al. 2018.

The encoder must be autoregressive (``cpc_encoder``): its local encoder gives per-step features
z_t (B, N, D_z) and its context network c_t = LSTM(z_0..z_t) (B, N, D_c). A linear map without
bias predicts the step ``steps_predicted`` ahead, p_t = W c_t (B, N, D_z), and InfoNCE scores it
by a raw dot product (no normalisation, no temperature) against the true z_{t+k} and
``negatives`` steps drawn uniformly, with replacement, from the *same* sequence at any position
but t + k:

    L = sum_{t = 0}^{N - k - 1} mean_b  - log  exp(p_t . z_{t+k}) / (exp(p_t . z_{t+k})
                                                 + sum_{j=1}^{n} exp(p_t . z_{u_j}))

summed over the anchors t (the repository sums, it does not average) and averaged over the
batch; nothing is detached (negatives and positives carry gradient). Negatives are drawn afresh
for every anchor. Defaults are the paper's: 12 steps ahead, 128 negatives; training
(``train_defaults``, the README's pretraining command): AdamW lr 1e-4, weight decay 1e-3, no
schedule, no warmup, no gradient clipping, batch 32 (10 s windows at 100 Hz in the paper).

Downstream the encoder *and* its context are used (``cpc_encoder.forward``: [mean, max, last]
pooling of the LSTM outputs), as in the paper; the projection W is dropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ssl_ecg import (
    Batch,
    Config,
    Incompatible,
    Objective,
    ObjectiveContext,
    PluginError,
    Spec,
    hookimpl,
)


class CPCConfig(Config):
    steps_predicted: int = Field(12, ge=1, description="k: predict the step this far ahead")
    negatives: int = Field(128, ge=1, description="negatives per anchor, from the same sequence")


class CPC(Objective):
    n_views = 0

    def __init__(self, config: CPCConfig, context: ObjectiveContext) -> None:
        super().__init__()
        enc = context.encoder
        if not (callable(getattr(enc, "local", None)) and callable(getattr(enc, "context", None))):
            raise Incompatible(
                f"cpc needs an autoregressive encoder (local + causal context, e.g. cpc_encoder); "
                f"encoder '{type(enc).__name__}' has none: its tokens see the future they would "
                "predict. Use segment_cpc, which predicts whole windows, for other encoders"
            )
        self.encoder, self.config = enc, config
        stride = int(getattr(enc, "token_stride", 1) or 1)
        if context.n_samples // stride <= config.steps_predicted + 1:
            raise PluginError(
                f"cpc: a window of {context.n_samples // stride} steps cannot predict "
                f"{config.steps_predicted} steps ahead; use a longer data.window_s"
            )
        self.proj = nn.Linear(enc.context_dim, enc.local_dim, bias=False)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        z = self.encoder.local(batch.signal)  # (B, N, Dz)
        p = self.proj(self.encoder.context(z)).float()  # (B, N, Dz)
        z = z.float()
        b, n, _ = z.shape
        k, m = self.config.steps_predicted, n - self.config.steps_predicted  # m anchors
        scores = p[:, :m] @ z.transpose(1, 2)  # (B, M, N): every anchor against every step
        target = torch.arange(k, n, device=z.device)  # (M,) position of z_{t+k}
        draw = torch.randint(0, n - 1, (b, m, self.config.negatives), device=z.device)
        draw = draw + (draw >= target[None, :, None]).long()  # skip the positive's position
        cand = torch.cat([target[None, :, None].expand(b, -1, 1), draw], dim=2)  # (B, M, 1+n)
        logits = scores.gather(2, cand)  # (B, M, 1 + negatives), positive first
        ce = F.cross_entropy(logits.transpose(1, 2), torch.zeros(b, m, dtype=torch.long,
                                                                 device=z.device),
                             reduction="none")  # fmt: skip
        accuracy = (logits.argmax(2) == 0).float().mean()
        return {"loss": ce.mean(0).sum(), "accuracy": accuracy.detach()}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="cpc",
            factory=CPC,
            config=CPCConfig,
            summary="CPC (Mehari & Strodthoff 2022): LSTM context predicts 12 steps ahead, "
            "same-sequence negatives",
            train_defaults={
                "optimizer": "adamw",
                "lr": 1e-4,
                "weight_decay": 1e-3,
                "schedule": "constant",
                "warmup_steps": 0,
                "grad_clip": 0.0,
            },
            train_source="Mehari & Strodthoff 2022, README pretraining command",
        )
    ]
