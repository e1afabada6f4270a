"""Masked autoencoding by masked-input reconstruction (He et al. 2022; ST-MEM, Na et al. 2024).

The window is cut into patches of the encoder's token stride; ``mask_ratio`` of them are zeroed
in the input, and a light decoder predicts the missing samples from the encoder's tokens:

    L = mean over masked patches of || norm(x_p) - decoder(tokens)_p ||^2

with ``norm`` the per-patch standardisation of the target (``norm_target``). It works with any
encoder that exposes a token sequence (the ViT's patches, the ResNet's feature map).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Spec, hookimpl
from ssl_ecg.errors import PluginError
from ssl_ecg.interfaces import Batch, Objective, ObjectiveContext


class MAEConfig(Config):
    mask_ratio: float = Field(0.5, gt=0, lt=1)
    norm_target: bool = True
    decoder_dim: int = Field(128, ge=1)


class MAE(Objective):
    n_views = 1

    def __init__(self, config: MAEConfig, context: ObjectiveContext) -> None:
        super().__init__()
        enc = context.encoder
        if getattr(enc, "token_stride", None) is None:
            raise PluginError(
                f"mae needs an encoder with a token sequence; '{type(enc).__name__}' has none"
            )
        self.encoder = enc
        self.config = config
        self.stride = int(enc.token_stride)
        self.n_patches = context.n_samples // self.stride
        if self.n_patches < 2:
            raise PluginError(f"mae needs at least 2 patches; the window has {self.n_patches}")
        self.decoder = nn.Sequential(
            nn.Linear(enc.embed_dim, config.decoder_dim),
            nn.GELU(),
            nn.Linear(config.decoder_dim, context.in_channels * self.stride),
        )

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0]  # (B, C, T)
        b, c, _ = x.shape
        p, s = self.n_patches, self.stride
        n_mask = max(1, round(self.config.mask_ratio * p))
        noise = torch.rand(b, p, device=x.device)
        masked = torch.zeros(b, p, dtype=torch.bool, device=x.device)
        masked.scatter_(1, noise.argsort(dim=1)[:, :n_mask], True)  # (B, P)
        sample_mask = masked.repeat_interleave(s, dim=1)  # (B, P*s)
        x_in = x.clone()
        x_in[..., : p * s] = x[..., : p * s] * (~sample_mask)[:, None, :].to(x.dtype)
        tokens = self.encoder.tokens(x_in)[:, :p]  # (B, P, D)
        pred = self.decoder(tokens).float()  # (B, P, C*s)
        target = x[..., : p * s].reshape(b, c, p, s).permute(0, 2, 1, 3).reshape(b, p, c * s)
        if self.config.norm_target:
            mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mu) / (var + 1e-6).sqrt()
        per_patch = ((pred - target) ** 2).mean(-1)  # (B, P)
        loss = (per_patch * masked).sum() / masked.sum()
        return {"loss": loss}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="mae",
            factory=MAE,
            config=MAEConfig,
            summary="masked autoencoding: reconstruct masked patches from encoder tokens",
        )
    ]
