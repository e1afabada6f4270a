"""SimMIM for 1-D signals (Xie et al. 2022, "SimMIM: a Simple Framework for Masked Image
Modeling", CVPR; microsoft/SimMIM ``models/simmim.py``): masked modelling for encoders that must
see the whole window, such as CNNs (xresnet1d, resnet1d), where MAE's token dropping is
impossible.

The window x (B, C, T) is cut into patches of the encoder's token stride s, aligned with its
tokens (patch i is the span token i is centred on, ``Encoder.token_origin``). A share
``mask_ratio`` of the patches (exactly ``round(mask_ratio P)`` per window, uniformly at random)
is replaced by a learned mask value per lead; the encoder sees the whole masked window; a
one-layer head (a linear map per token, then the 1-D "pixel shuffle") predicts the s samples of
every patch from its token; the loss is the L1 error on the hidden samples only,

    L = sum_{t hidden, c} | x_{c,t} - xhat_{c,t} | / (n_hidden C)

on the raw signal (SimMIM found raw targets as good as normalised ones). Defaults are the
paper's: mask ratio 0.6, mask patches of the encoder's stride (SimMIM's 32-pixel mask patch =
Swin's stride 32), L1 loss, linear head; training (``train_defaults``, SimMIM's Swin-B
pretraining config): AdamW betas (0.9, 0.999), weight decay 0.05, base lr 8e-4 per 512 samples
(4e-4 per 256), warmup 10 of 100 epochs, cosine, gradient clipping at 5.

Deviation (the name says it is the 1-D form): SimMIM replaces a masked patch's *embedding* by a
learned token; a CNN has no patch embedding, so here the masked *samples* are replaced by a
learned value per lead (initialised at 0) before the first convolution. Patches of absent leads
are not scored.
"""

from __future__ import annotations

import torch
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


class SimMIMConfig(Config):
    mask_ratio: float = Field(0.6, gt=0, lt=1, description="share of patches hidden")


class SimMIM(Objective):
    n_views = 0

    def __init__(self, config: SimMIMConfig, context: ObjectiveContext) -> None:
        super().__init__()
        enc = context.encoder
        if getattr(enc, "token_stride", None) is None or getattr(enc, "lead_tokens", False):
            raise Incompatible(
                f"simmim needs an encoder with one token sequence over all leads (token_stride); "
                f"encoder '{type(enc).__name__}' has "
                + ("per-lead tokens: use mae" if enc.token_stride else "none")
            )
        self.encoder, self.config = enc, config
        self.stride, self.origin = int(enc.token_stride), int(getattr(enc, "token_origin", 0))
        t = context.n_samples
        self.n_tokens = -(-t // self.stride)  # ceil: tokens of a padded strided encoder
        # patch of every sample (-1: past the last token, never hidden)
        patch = (torch.arange(t) + self.origin) // self.stride
        self.register_buffer("patch_of", torch.where(patch < self.n_tokens, patch, -1), False)
        self.n_mask = max(1, round(config.mask_ratio * self.n_tokens))
        if self.n_mask >= self.n_tokens:
            raise PluginError(f"simmim: mask_ratio = {config.mask_ratio} hides every patch")
        self.mask_value = nn.Parameter(torch.zeros(1, context.in_channels, 1))
        self.head = nn.Linear(enc.token_dim or enc.embed_dim, context.in_channels * self.stride)

    def sample_mask(self, b: int, device: torch.device) -> torch.Tensor:
        """(B, T) bool, True on the samples of the hidden patches."""
        key = torch.rand(b, self.n_tokens, device=device)  # (B, N)
        hidden = torch.zeros(b, self.n_tokens + 1, dtype=torch.bool, device=device)
        hidden.scatter_(1, key.argsort(1)[:, : self.n_mask], True)  # column N: "no patch"
        col = torch.where(self.patch_of < 0, self.n_tokens, self.patch_of)  # (T,)
        return hidden[:, col]

    def predict(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T), hidden: (B, T) -> the prediction of every sample (B, C, T)."""
        b, c, t = x.shape
        x_in = torch.where(hidden[:, None, :], self.mask_value.to(x.dtype), x)
        tok = self.encoder.tokens(x_in)[:, : self.n_tokens]  # (B, N, D)
        out = self.head(tok).view(b, -1, c, self.stride)  # (B, N, C, s)
        out = out.permute(0, 2, 1, 3).reshape(b, c, -1)  # (B, C, N s): samples -origin..
        out = out[..., self.origin : self.origin + t]
        return nn.functional.pad(out, (0, t - out.shape[-1]))  # (B, C, T)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch.signal  # (B, C, T)
        hidden = self.sample_mask(x.shape[0], x.device)  # (B, T)
        err = (self.predict(x, hidden).float() - x.float()).abs()  # (B, C, T)
        weight = hidden[:, None, :] & batch.lead_mask[:, :, None]  # (B, C, T)
        loss = (err * weight).sum() / weight.sum().clamp(min=1)
        return {"loss": loss}

    def reconstruction(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        """The hidden samples predicted from the rest, for pictures (see Objective)."""
        hidden = self.sample_mask(batch.signal.shape[0], batch.signal.device)
        return {"mask": hidden, "output": self.predict(batch.signal, hidden).float()}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="simmim",
            factory=SimMIM,
            config=SimMIMConfig,
            summary="SimMIM for 1-D signals: learned mask value, L1 on hidden patches (CNNs too)",
            train_defaults={
                "optimizer": "adamw",
                "betas": [0.9, 0.999],
                "weight_decay": 0.05,
                "base_lr": 4e-4,
                "warmup_fraction": 0.1,
                "lr_floor": 0.0,
                "grad_clip": 5.0,
            },
            train_source="Xie et al. 2022, SimMIM Swin-B pretraining config",
        )
    ]
