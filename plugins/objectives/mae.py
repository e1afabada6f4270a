"""Masked autoencoding (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners";
ST-MEM, Na et al. 2024, for ECG).

The window x (B, C, T) is cut into P patches of the encoder's token stride s; each patch p is
the C*s samples x_p. A fraction ``mask_ratio`` of them, M, is masked and predicted:

    L = 1/|M| sum_{p in M} 1/(C s) || norm(x_p) - xhat_p ||^2

where ``norm`` standardises each target patch by its own mean and variance (``norm_target``).

Masks (``masking``): ``"random"`` masks patches uniformly (MAE); ``"block"`` masks contiguous
runs of ``block_size`` patches (whole blocks at a random per-sample offset, the last one cut to
hit the exact count), so a gap cannot be filled by interpolating its neighbours. Every sample
masks exactly n_mask = round(mask_ratio * P) patches.

Source (``source``): ``"clean"`` (default) reconstructs the un-augmented ``batch.signal`` and
needs no views (n_views = 0); ``"view"`` reconstructs augmented view 0 (n_views = 1).

Two paths, picked by the encoder:

* token dropping (``encoder.supports_token_drop``, e.g. vit1d): the encoder sees only the kept
  patches, ``tokens(x, keep)`` -> (B, P - n_mask, D). A small transformer decoder (timm blocks,
  ``decoder_depth`` x ``decoder_dim``) gets them back in place among learned mask tokens, adds
  its own learned positional embeddings over all P patches and predicts every patch; the loss
  reads the masked ones. This is MAE proper: the encoder never spends compute on masked patches.
* masked input (any other encoder with tokens, e.g. resnet1d, whose convolutions need the whole
  window): masked samples are zeroed in the input, the encoder sees the full window, and an MLP
  decodes each of its first P tokens into its patch.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Batch, Config, Objective, ObjectiveContext, PluginError, Spec, hookimpl


class MAEConfig(Config):
    mask_ratio: float = Field(0.5, gt=0, lt=1)
    masking: Literal["random", "block"] = Field("random", description="which patches to mask")
    block_size: int = Field(4, ge=1, description="patches per masked block (masking = 'block')")
    source: Literal["clean", "view"] = Field(
        "clean", description="reconstruct the clean batch signal or augmented view 0"
    )
    norm_target: bool = True
    decoder_dim: int = Field(128, ge=1)
    decoder_depth: int = Field(2, ge=1, description="transformer decoder blocks (token drop)")
    decoder_heads: int = Field(4, ge=1, description="decoder attention heads (token drop)")


class MAE(Objective):
    def __init__(self, config: MAEConfig, context: ObjectiveContext) -> None:
        super().__init__()
        enc = context.encoder
        if getattr(enc, "token_stride", None) is None:
            raise PluginError(
                f"mae needs an encoder with a token sequence; '{type(enc).__name__}' has none"
            )
        self.encoder = enc
        self.config = config
        self.n_views = 1 if config.source == "view" else 0
        self.stride = int(enc.token_stride)
        self.n_patches = context.n_samples // self.stride
        if self.n_patches < 2:
            raise PluginError(f"mae needs at least 2 patches; the window has {self.n_patches}")
        self.n_mask = min(self.n_patches - 1, max(1, round(config.mask_ratio * self.n_patches)))
        self.token_drop = bool(getattr(enc, "supports_token_drop", False))
        out = context.in_channels * self.stride
        dim = config.decoder_dim
        if self.token_drop:
            from timm.layers import trunc_normal_
            from timm.models.vision_transformer import Block

            heads = config.decoder_heads
            if dim % heads:
                raise ValueError(f"decoder_dim = {dim} is not divisible by decoder_heads = {heads}")
            self.decoder_embed = nn.Linear(enc.embed_dim, dim)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.decoder_pos = nn.Parameter(torch.zeros(1, self.n_patches, dim))
            trunc_normal_(self.mask_token, std=0.02)
            trunc_normal_(self.decoder_pos, std=0.02)
            self.decoder_blocks = nn.Sequential(
                *[Block(dim, heads, qkv_bias=True) for _ in range(config.decoder_depth)]
            )
            self.decoder_norm = nn.LayerNorm(dim)
            self.decoder = nn.Linear(dim, out)
        else:
            self.decoder = nn.Sequential(
                nn.Linear(enc.embed_dim, dim), nn.GELU(), nn.Linear(dim, out)
            )

    def sample_mask(self, b: int, device: torch.device) -> torch.Tensor:
        """(B, P) bool, True where a patch is masked; exactly ``n_mask`` per row."""
        p, n = self.n_patches, self.n_mask
        if self.config.masking == "random":
            key = torch.rand(b, p, device=device)  # (B, P)
        else:  # blocks of block_size patches at a random offset, in random order
            size = self.config.block_size
            offset = torch.randint(0, size, (b, 1), device=device)
            block = (torch.arange(p, device=device) + offset) // size  # (B, P) block id
            rank = torch.rand(b, p // size + 2, device=device).argsort(1).argsort(1)
            key = rank.gather(1, block) * p + torch.arange(p, device=device)  # (B, P)
        masked = torch.zeros(b, p, dtype=torch.bool, device=device)
        return masked.scatter_(1, key.argsort(dim=1)[:, :n], True)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, P, C*s), patch p holding samples [p s, (p + 1) s) of every lead."""
        b, c, _ = x.shape
        p, s = self.n_patches, self.stride
        return x[..., : p * s].reshape(b, c, p, s).permute(0, 2, 1, 3).reshape(b, p, c * s)

    def reconstruct(self, x: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T), masked: (B, P) -> predicted patches (B, P, C*s)."""
        b, p, s = x.shape[0], self.n_patches, self.stride
        if self.token_drop:
            keep = (~masked).nonzero()[:, 1].view(b, p - self.n_mask)  # (B, N_keep), ascending
            y = self.decoder_embed(self.encoder.tokens(x, keep=keep))  # (B, N_keep, Dd)
            full = self.mask_token.to(y.dtype).expand(b, p, -1)  # (B, P, Dd)
            full = full.scatter(1, keep[..., None].expand(-1, -1, y.shape[-1]), y)
            return self.decoder(self.decoder_norm(self.decoder_blocks(full + self.decoder_pos)))
        keep_samples = (~masked).repeat_interleave(s, dim=1)[:, None, :]  # (B, 1, P*s)
        x_in = torch.cat([x[..., : p * s] * keep_samples.to(x.dtype), x[..., p * s :]], dim=-1)
        return self.decoder(self.encoder.tokens(x_in)[:, :p])  # (B, P, C*s)

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0] if self.config.source == "view" else batch.signal  # (B, C, T)
        masked = self.sample_mask(x.shape[0], x.device)  # (B, P)
        pred = self.reconstruct(x, masked).float()  # (B, P, C*s)
        target = self.patches(x).float()  # (B, P, C*s)
        if self.config.norm_target:
            mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mu) / (var + 1e-6).sqrt()
        per_patch = ((pred - target) ** 2).mean(-1)  # (B, P)
        loss = (per_patch * masked).sum() / masked.sum()
        return {"loss": loss}

    def reconstruction(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        """Masked patches predicted from the visible ones, for pictures (see Objective)."""
        x = batch.signal  # (B, C, T)
        b, c, _ = x.shape
        p, s = self.n_patches, self.stride
        masked = self.sample_mask(b, x.device)  # (B, P)
        pred = self.reconstruct(x, masked).float()  # (B, P, C*s)
        if self.config.norm_target:  # back to signal units with each true patch's statistics
            target = self.patches(x).float()
            mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            pred = pred * (var + 1e-6).sqrt() + mu
        out = pred.reshape(b, p, c, s).permute(0, 2, 1, 3).reshape(b, c, p * s)  # (B, C, P*s)
        out = torch.cat([out, x[..., p * s :]], dim=-1)  # (B, C, T): a tail past P patches
        mask = torch.zeros(b, x.shape[-1], dtype=torch.bool, device=x.device)
        mask[:, : p * s] = masked.repeat_interleave(s, dim=1)
        return {"mask": mask, "output": out}


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="mae",
            factory=MAE,
            config=MAEConfig,
            summary="masked autoencoding (random or block masks); drops masked tokens on a ViT",
        )
    ]
