"""Small building blocks several plugins share (plugins never import each other)."""

from __future__ import annotations

import torch


def sincos_positions(n: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sin-cos positional embeddings (n, dim) of positions 0..n-1, as in the
    Transformer, MAE and ST-MEM: ``[sin(p w) | cos(p w)]`` (the halves concatenated, not
    interleaved), ``w_i = 10000^(-i / (dim / 2))`` for i < dim / 2 (timm's ``freq_bands``)."""
    from timm.layers.pos_embed_sincos import freq_bands

    if dim % 2:
        raise ValueError(f"sin-cos positions need an even width, got {dim}")
    bands = freq_bands(dim // 2, temperature=10000.0, step=1)  # (dim/2,)
    angle = torch.arange(n, dtype=torch.float32)[:, None] * bands[None, :]  # (n, dim/2)
    return torch.cat([angle.sin(), angle.cos()], dim=1)
