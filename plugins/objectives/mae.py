"""Masked autoencoding, as He et al. 2022 ("Masked Autoencoders Are Scalable Vision Learners",
facebookresearch/mae ``models_mae.py``) wrote it, and its 12-lead ECG form ST-MEM (Na et al. 2024,
ICLR; vuno/ST-MEM ``models/st_mem.py``) when the encoder tokenises each lead on its own.

The window x (B, C, T) is cut into patches of the encoder's token stride s. A share
``mask_ratio`` of them is hidden: per sample (per lead, for lead tokens) ``n_keep = int(P (1 -
mask_ratio))`` of the P patches stay visible, chosen uniformly at random (MAE's
``random_masking``: the argsort of uniform noise). The encoder sees **only** the visible patches
(``tokens(x, keep)``); a light transformer decoder puts its tokens back in place among learned
mask tokens, adds fixed 1-D sin-cos positions and predicts every patch; the loss is the mean
squared error over the hidden patches only,

    L = sum_{p in M} || norm(x_p) - xhat_p ||^2 / (|M| d),
    norm(x_p) = (x_p - mean(x_p)) / sqrt(var(x_p) + 1e-6)

with ``norm`` each target patch standardised by its own mean and (unbiased) variance
(``norm_pix_loss``, the setting of MAE's released models and of ST-MEM's pretraining config).

* Joint tokens (``vit1d``): a patch holds the C * s samples of every lead at one time; one
  decoder sequence of P tokens per window; the head predicts C * s values per patch. This is MAE.
* Lead tokens (``st_mem_vit``, ``lead_tokens = True``): a patch is one lead's s samples; every
  lead is masked independently with the same count (ST-MEM: 23 of 30 patches per lead at 0.75);
  the decoder runs on each lead's sequence alone, with shared weights and no lead embedding, the
  lead's separator outputs in front of its patches at position zero (``n_lead_extras``), and
  predicts s values per patch. This is ST-MEM. Patches of absent leads (zero-filled, masked in
  ``batch.lead_mask``) are left out of the loss: ST-MEM's data has none, so this changes nothing
  there.

Defaults are He et al.'s: mask ratio 0.75, normalised targets, decoder 512 wide, 8 blocks, 16
heads, fixed sin-cos decoder positions, xavier-uniform linear layers and N(0, 0.02) mask token;
training (``train_defaults``, He et al. Table 8): AdamW betas (0.9, 0.95), weight decay 0.05,
base lr 1.5e-4 x batch / 256, cosine decay to 0 after a warmup of 40 of 800 epochs (5 %), no
gradient clipping. ST-MEM's decoder is smaller (256 wide, 4 blocks, 4 heads) and its weight decay
0.01: ``recipes/papers/st_mem.toml`` sets both.

Deviations, each a setting: ``masking = "block"`` hides runs of ``block_size`` patches (not in
either paper: a gap then cannot be filled from its neighbours); ``source = "view"`` reconstructs
augmented view 0 instead of the clean window. Encoders that cannot drop tokens (CNNs) are refused:
MAE's encoder never sees a masked patch; ``simmim`` is the masked modelling made for them.
"""

from __future__ import annotations

import functools
from typing import Literal

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
    sincos_positions,
)


class MAEConfig(Config):
    mask_ratio: float = Field(0.75, gt=0, lt=1, description="share of patches hidden")
    masking: Literal["random", "block"] = Field(
        "random", description="'random' (the papers') or 'block': runs of block_size patches"
    )
    block_size: int = Field(4, ge=1, description="patches per masked block (masking = 'block')")
    source: Literal["clean", "view"] = Field(
        "clean", description="reconstruct the clean batch signal or augmented view 0"
    )
    norm_target: bool = Field(True, description="standardise each target patch (norm_pix_loss)")
    decoder_dim: int = Field(512, ge=2)
    decoder_depth: int = Field(8, ge=1, description="decoder transformer blocks")
    decoder_heads: int = Field(16, ge=1, description="decoder attention heads")


class MAE(Objective):
    def __init__(self, config: MAEConfig, context: ObjectiveContext) -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        enc = context.encoder
        if not getattr(enc, "supports_token_drop", False) or enc.token_stride is None:
            raise Incompatible(
                f"mae needs an encoder that encodes only the visible patches (vit1d, st_mem_vit); "
                f"encoder '{type(enc).__name__}' sees whole windows: use objective 'simmim', the "
                "masked modelling for convolutional encoders"
            )
        self.encoder, self.config = enc, config
        self.n_views = 1 if config.source == "view" else 0
        self.stride = int(enc.token_stride)
        self.n_patches = p = context.n_samples // self.stride
        self.n_keep = int(p * (1 - config.mask_ratio))
        if not 1 <= self.n_keep < p:
            raise PluginError(
                f"mae: mask_ratio = {config.mask_ratio} keeps {self.n_keep} of {p} patches per "
                "window; at least one must be kept and one hidden"
            )
        self.lead_tokens = bool(getattr(enc, "lead_tokens", False))
        self.groups = context.in_channels if self.lead_tokens else 1  # decoder sequences/window
        self.extras = int(getattr(enc, "n_lead_extras", 0)) if self.lead_tokens else 0
        dim, heads = config.decoder_dim, config.decoder_heads
        if dim % heads or dim % 2:
            raise ValueError(f"decoder_dim = {dim} must be even and divisible by decoder_heads")
        self.decoder_embed = nn.Linear(enc.token_dim or enc.embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        pos = torch.cat([torch.zeros(self.extras, dim), sincos_positions(p, dim)])
        self.register_buffer("decoder_pos", pos[None], persistent=False)  # (1, E + P, Dd)
        depth = config.decoder_depth
        blocks = [Block(dim, heads, qkv_bias=True, norm_layer=_norm) for _ in range(depth)]
        self.decoder_blocks = nn.Sequential(*blocks)
        self.decoder_norm = _norm(dim)
        out = self.stride * (1 if self.lead_tokens else context.in_channels)
        self.decoder_pred = nn.Linear(dim, out)
        for module in (self.decoder_embed, self.decoder_blocks, self.decoder_pred):
            module.apply(_xavier)
        nn.init.normal_(self.mask_token, std=0.02)

    def sample_mask(self, b: int, device: torch.device) -> torch.Tensor:
        """(B, L) bool, True where a patch is hidden (L = P, or C * P lead-major); every row
        (every lead) hides exactly ``P - n_keep``."""
        rows, p, n = b * self.groups, self.n_patches, self.n_patches - self.n_keep
        if self.config.masking == "random":
            key = torch.rand(rows, p, device=device)  # MAE's noise
        else:  # blocks of block_size patches at a random offset, in random order
            size = self.config.block_size
            offset = torch.randint(0, size, (rows, 1), device=device)
            block = (torch.arange(p, device=device) + offset) // size  # (rows, P) block id
            rank = torch.rand(rows, p // size + 2, device=device).argsort(1).argsort(1)
            key = rank.gather(1, block) * p + torch.arange(p, device=device)  # (rows, P)
        masked = torch.zeros(rows, p, dtype=torch.bool, device=device)
        return masked.scatter_(1, key.argsort(dim=1)[:, :n], True).view(b, -1)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> targets (B, P, C * s) for joint tokens (patch p = samples
        [p s, (p + 1) s) of every lead), or (B, C * P, s) lead-major for lead tokens."""
        b, c, _ = x.shape
        p, s = self.n_patches, self.stride
        per_lead = x[..., : p * s].reshape(b, c, p, s)
        if self.lead_tokens:
            return per_lead.reshape(b, c * p, s)
        return per_lead.permute(0, 2, 1, 3).reshape(b, p, c * s)

    def reconstruct(self, x: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T), masked: (B, L) -> predictions of every patch, shaped like
        ``patches(x)``; the encoder sees only the visible patches."""
        b, g, e, p = x.shape[0], self.groups, self.extras, self.n_patches
        keep = (~masked).nonzero()[:, 1].view(b, -1)  # (B, g * k), ascending within each lead
        y = self.encoder.tokens(x, keep=keep, extras=True) if e else self.encoder.tokens(x, keep)
        y = self.decoder_embed(y).reshape(b * g, e + self.n_keep, -1)  # (B g, E + k, Dd)
        local = (keep.view(b * g, -1) % p)[..., None].expand(-1, -1, y.shape[-1])
        full = self.mask_token.to(y.dtype).expand(b * g, p, -1).scatter(1, local, y[:, e:])
        seq = torch.cat([y[:, :e], full], dim=1) + self.decoder_pos.to(y.dtype)
        out = self.decoder_pred(self.decoder_norm(self.decoder_blocks(seq)))[:, e:]
        return out.reshape(b, g * p, -1)  # (B, L, out)

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        target = self.patches(x).float()
        if not self.config.norm_target:
            return target
        mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        return (target - mu) / (var + 1e-6).sqrt()

    def forward(self, batch: Batch, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = views[0] if self.config.source == "view" else batch.signal  # (B, C, T)
        masked = self.sample_mask(x.shape[0], x.device)  # (B, L)
        pred = self.reconstruct(x, masked).float()  # (B, L, d)
        per_patch = ((pred - self._target(x)) ** 2).mean(-1)  # (B, L)
        weight = masked.float()
        if self.lead_tokens:  # patches of absent leads are not scored
            weight = weight * batch.lead_mask.repeat_interleave(self.n_patches, dim=1).float()
        return {"loss": (per_patch * weight).sum() / weight.sum().clamp(min=1.0)}

    def reconstruction(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        """Hidden patches predicted from the visible ones, for pictures (see Objective); the
        mask is (B, T) for joint tokens and (B, C, T) for lead tokens."""
        x = batch.signal  # (B, C, T)
        b, c, t = x.shape
        p, s = self.n_patches, self.stride
        masked = self.sample_mask(b, x.device)  # (B, L)
        pred = self.reconstruct(x, masked).float()  # (B, L, d)
        if self.config.norm_target:  # back to signal units with each true patch's statistics
            target = self.patches(x).float()
            mu, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            pred = pred * (var + 1e-6).sqrt() + mu
        if self.lead_tokens:
            out = pred.reshape(b, c, p * s)
            mask = torch.zeros(b, c, t, dtype=torch.bool, device=x.device)
            mask[..., : p * s] = masked.view(b, c, p).repeat_interleave(s, dim=2)
        else:
            out = pred.reshape(b, p, c, s).permute(0, 2, 1, 3).reshape(b, c, p * s)
            mask = torch.zeros(b, t, dtype=torch.bool, device=x.device)
            mask[:, : p * s] = masked.repeat_interleave(s, dim=1)
        out = torch.cat([out, x[..., p * s :]], dim=-1)  # (B, C, T): a tail past P patches
        return {"mask": mask, "output": out}


_norm = functools.partial(nn.LayerNorm, eps=1e-6)  # MAE's and ST-MEM's decoder norm


def _xavier(module: nn.Module) -> None:
    """MAE's initialisation of the decoder: xavier-uniform linear weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


@hookimpl
def register_objectives() -> list[Spec]:
    return [
        Spec(
            name="mae",
            factory=MAE,
            config=MAEConfig,
            summary="MAE (He et al. 2022); ST-MEM on lead-token encoders: 75 % hidden, "
            "encoder sees visible patches only",
            example={"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2},
            train_defaults={
                "optimizer": "adamw",
                "betas": [0.9, 0.95],
                "weight_decay": 0.05,
                "base_lr": 1.5e-4,
                "warmup_fraction": 0.05,
                "lr_floor": 0.0,
                "grad_clip": 0.0,
            },
            train_source="He et al. 2022, Table 8 (pretraining setting)",
        )
    ]
