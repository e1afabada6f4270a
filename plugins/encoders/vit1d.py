"""1-D Vision Transformer: non-overlapping patches over time across all leads, timm blocks.

``tokens(x, keep)`` encodes only the patches listed in ``keep`` (positional embeddings are added
first, so each kept token still knows where it lies): the MAE encoder of He et al. 2022, which
never spends compute on masked patches.

Positions: learned (default; initialised N(0, 0.02) as in timm's ViT) or ``pos_embed =
"sincos"``, the fixed 1-D sin-cos table of MAE (He et al. 2022) and ST-MEM.

Other window lengths: a window of any multiple of ``patch`` samples is encoded with the
positional embeddings linearly resampled to its number of patches (as timm's ViTs do for
another image size), so an evaluation task can hand the encoder a longer context window.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl, sincos_positions


class ViT1dConfig(Config):
    patch: int = Field(25, ge=1, description="samples per patch (token)")
    dim: int = Field(192, ge=8)
    depth: int = Field(6, ge=1)
    heads: int = Field(3, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    drop_path: float = Field(0.0, ge=0, lt=1)
    pos_embed: Literal["learned", "sincos"] = Field(
        "learned", description="learned positions, or the fixed sin-cos table (MAE, ST-MEM)"
    )


class ViT1d(Encoder):
    supports_token_drop = True  # tokens(x, keep) encodes only the kept patches

    def __init__(self, config: ViT1dConfig, context: EncoderContext) -> None:
        super().__init__()
        from timm.layers import trunc_normal_
        from timm.models.vision_transformer import Block

        if context.n_samples % config.patch:
            raise ValueError(
                f"the window has {context.n_samples} samples, not a multiple of patch = "
                f"{config.patch}; change encoder.patch or data.window_s"
            )
        if config.dim % config.heads:
            raise ValueError(f"dim = {config.dim} is not divisible by heads = {config.heads}")
        self.n_tokens = context.n_samples // config.patch
        self.patch_embed = nn.Conv1d(
            context.in_channels, config.dim, config.patch, stride=config.patch
        )
        if config.pos_embed == "sincos":
            self.register_buffer("pos_embed", sincos_positions(self.n_tokens, config.dim)[None])
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, self.n_tokens, config.dim))
            trunc_normal_(self.pos_embed, std=0.02)
        dpr = torch.linspace(0, config.drop_path, config.depth).tolist()
        self.blocks = nn.Sequential(
            *[
                Block(config.dim, config.heads, config.mlp_ratio, qkv_bias=True, drop_path=d)
                for d in dpr
            ]
        )
        self.norm = nn.LayerNorm(config.dim)
        self.embed_dim = config.dim
        self.token_stride = config.patch

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T) -> (B, N, D), N = T / patch; with ``keep`` (B, N_keep) int64 patch
        indices only those patches pass the blocks -> (B, N_keep, D), in the order of ``keep``."""
        t = self.patch_embed(x).transpose(1, 2) + self._pos(x.shape[-1])  # (B, N, D)
        if keep is not None:
            t = t.gather(1, keep[..., None].expand(-1, -1, t.shape[-1]))  # (B, N_keep, D)
        return self.norm(self.blocks(t))

    def _pos(self, t: int) -> torch.Tensor:
        """Positional embeddings (1, N, D) for a window of ``t`` samples."""
        patch = self.token_stride or 1
        if t % patch:
            raise ValueError(
                f"vit1d takes windows whose length is a multiple of patch = {patch} samples; "
                f"got {t}"
            )
        n = t // patch
        if n == self.n_tokens:
            return self.pos_embed
        if not isinstance(self.pos_embed, nn.Parameter):  # the fixed table, at any length
            return sincos_positions(n, self.embed_dim).to(self.pos_embed)[None]
        pos = self.pos_embed.transpose(1, 2)  # (1, D, N_trained)
        return nn.functional.interpolate(pos, size=n, mode="linear").transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, D), mean over tokens."""
        return self.tokens(x).mean(dim=1)


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name="vit1d",
            factory=ViT1d,
            config=ViT1dConfig,
            summary="1-D ViT: time patches across leads, timm transformer blocks",
            example={"dim": 32, "depth": 1, "heads": 2},
        )
    ]
