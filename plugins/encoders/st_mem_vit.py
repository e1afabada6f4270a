"""ST-MEM's ViT (Na et al. 2024, "Guiding Masked Representation Learning to Capture
Spatio-Temporal Relationship of Electrocardiogram", ICLR; vuno/ST-MEM
``models/encoder/st_mem_vit.py`` and ``models/st_mem.py``): every lead is tokenised on its own.

Per lead ``l`` the window is cut into P patches of ``patch`` samples; one patch embedding shared
by all leads (LayerNorm(patch) -> Linear -> LayerNorm(dim)) turns each into a token, a fixed 1-D
sin-cos position (the same positions for every lead) is added, the lead's sequence is wrapped
in a learned separator token on each side (SEP, one vector for both sides and every lead,
position row zero), and a learned embedding of lead ``l`` is added to all of its tokens. The C
lead sequences are concatenated, lead-major, and pass the transformer blocks together (full
attention across leads and time). Defaults are ST-MEM's ``st_mem_vit_base``: 75-sample patches
(0.3 s at 250 Hz), width 768, 12 blocks of 12 heads (64 dims each), MLP 3072, qkv bias.

* ``forward(x)`` (downstream, as ST-MEM's encoder): all patches; the mean over every lead's
  patch tokens (separators excluded) -> LayerNorm -> (B, dim).
* ``tokens(x, keep, extras)`` (pretraining, as ST-MEM's MAE encoder): LayerNorm per token;
  ``keep`` (B, C * k) lists the kept patches lead by lead (the same k in each lead, indices
  into the lead-major C * P grid); masked patches are dropped before the separators are added,
  so separators are always seen. ``extras=True`` also returns each lead's two separator
  outputs (ST-MEM's decoder reads them): per lead [SEP_left, SEP_right, k patches].

Deviation: ST-MEM keeps the sin-cos table as a parameter that fine-tuning may move; here it is a
fixed table (recomputed for any window length; a tail shorter than a patch is left out, as by
ST-MEM's 2250-sample crops of 2500). Transformer
blocks are timm's (pre-norm, GELU MLP), the same computation as ST-MEM's own blocks.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from ssl_ecg import Config, Encoder, EncoderContext, Spec, hookimpl, sincos_positions


class STMEMViTConfig(Config):
    patch: int = Field(75, ge=1, description="samples per patch (per lead)")
    dim: int = Field(768, ge=8)
    depth: int = Field(12, ge=1)
    heads: int = Field(12, ge=1, description="attention heads (head width = dim / heads)")
    mlp_ratio: float = Field(4.0, gt=0)
    drop_path: float = Field(0.0, ge=0, lt=1)


class STMEMViT(Encoder):
    supports_token_drop = True
    lead_tokens = True
    n_lead_extras = 2  # the left and right separator of every lead

    def __init__(self, config: STMEMViTConfig, context: EncoderContext) -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        if context.n_samples < 2 * config.patch:
            raise ValueError(
                f"the window has {context.n_samples} samples, fewer than two patches of "
                f"{config.patch}; lower encoder.patch or raise data.window_s"
            )
        if config.dim % config.heads or config.dim % 2:
            raise ValueError(f"dim = {config.dim} must be even and divisible by heads")
        self.patch, self.n_leads = config.patch, context.in_channels
        self.patch_embed = nn.Sequential(
            nn.LayerNorm(config.patch),
            nn.Linear(config.patch, config.dim),
            nn.LayerNorm(config.dim),
        )
        self.sep = nn.Parameter(torch.zeros(config.dim))
        self.lead_embed = nn.Parameter(torch.zeros(context.in_channels, config.dim))
        nn.init.normal_(self.sep, std=0.02)
        nn.init.normal_(self.lead_embed, std=0.02)
        dpr = torch.linspace(0, config.drop_path, config.depth).tolist()
        self.blocks = nn.Sequential(
            *[Block(config.dim, config.heads, config.mlp_ratio, qkv_bias=True, drop_path=d)
              for d in dpr]
        )  # fmt: skip
        self.norm = nn.LayerNorm(config.dim)
        self.embed_dim = config.dim
        self.token_stride = config.patch
        self.apply(_init)

    def _embed(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """x: (B, C, T) -> blocks' output (B, C, 2 + k, D): per lead [SEP, k patches, SEP]."""
        b, c, t = x.shape
        if c != self.n_leads:
            raise ValueError(f"st_mem_vit was built for {self.n_leads} leads, got {c}")
        n = t // self.patch  # a tail shorter than a patch is left out
        pos = sincos_positions(n, self.embed_dim).to(x.device, x.dtype)  # (P, D)
        tok = self.patch_embed(x[..., : n * self.patch].reshape(b, c, n, self.patch)) + pos
        if keep is not None:  # (B, C * k) lead-major -> per lead local indices (B, C, k)
            local = keep.view(b, c, -1) % n
            tok = tok.gather(2, local[..., None].expand(-1, -1, -1, tok.shape[-1]))
        sep = self.sep.to(tok.dtype).expand(b, c, 1, -1)  # position rows of SEP are zeros
        tok = torch.cat([sep, tok, sep], dim=2) + self.lead_embed[None, :, None, :]
        k = tok.shape[2]
        return self.blocks(tok.flatten(1, 2)).view(b, c, k, -1)

    def tokens(
        self, x: torch.Tensor, keep: torch.Tensor | None = None, extras: bool = False
    ) -> torch.Tensor:
        """x: (B, C, T) -> (B, C * k, D) patch tokens (k = P, or kept per lead), lead-major;
        with ``extras`` (B, C * (2 + k), D), each lead's two separators first."""
        y = self.norm(self._embed(x, keep))  # (B, C, 2 + k, D)
        if extras:
            y = torch.cat([y[:, :, :1], y[:, :, -1:], y[:, :, 1:-1]], dim=2)
        else:
            y = y[:, :, 1:-1]
        return y.flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, D): LayerNorm of the mean of every lead's patch tokens."""
        return self.norm(self._embed(x, None)[:, :, 1:-1].mean(dim=(1, 2)))


def _init(module: nn.Module) -> None:
    """ST-MEM's initialisation: xavier-uniform linear weights, zero biases, LayerNorm 1 / 0."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


@hookimpl
def register_encoders() -> list[Spec]:
    return [
        Spec(
            name="st_mem_vit",
            factory=STMEMViT,
            config=STMEMViTConfig,
            summary="ST-MEM ViT: each lead tokenised alone, lead + separator embeddings",
            example={"dim": 32, "depth": 1, "heads": 2},
        )
    ]
