"""Helpers shared by the augmentations that move samples in time (not a plugin itself).

``shift_left`` moves each sample's content by its own number of samples with one gather on a
(B, T) index tensor; ``shift_rpeaks_left`` and ``compact_rpeaks`` keep ``Batch.rpeaks`` in its
convention: valid positions ascending first, ``-1`` padding after, shape (B, K) unchanged.
"""

from __future__ import annotations

import torch

_NONE = torch.iinfo(torch.int64).max


def shift_left(x: torch.Tensor, shift: torch.Tensor, wrap: bool) -> torch.Tensor:
    """``out[b, :, t] = x[b, :, t + shift[b]]``; positions that fall outside the window are
    zeros, or wrap around (circular shift) when ``wrap``. A negative shift moves content right.

    x: (B, C, T), shift: (B,) int64 -> (B, C, T)
    """
    b, c, t = x.shape
    src = torch.arange(t, device=x.device) + shift[:, None]  # (B, T)
    out = torch.gather(x, 2, src.remainder(t)[:, None, :].expand(b, c, t))  # (B, C, T)
    if wrap:
        return out
    outside = (src < 0) | (src >= t)  # (B, T)
    return out.masked_fill(outside[:, None, :], 0.0)


def compact_rpeaks(pos: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Valid positions sorted ascending, then ``-1`` padding. pos, valid: (B, K) -> (B, K)."""
    key = torch.where(valid, pos, _NONE).sort(dim=1).values  # (B, K)
    return torch.where(key == _NONE, -1, key)


def shift_rpeaks_left(
    rpeaks: torch.Tensor | None, shift: torch.Tensor, t: int, wrap: bool
) -> torch.Tensor | None:
    """R-peaks after :func:`shift_left`: ``p - shift``; peaks that leave the window become
    ``-1`` (or wrap around with the signal). rpeaks: (B, K), shift: (B,) -> (B, K)."""
    if rpeaks is None:
        return None
    valid = (rpeaks >= 0) & (rpeaks < t)  # (B, K)
    pos = rpeaks - shift[:, None]  # (B, K)
    if wrap:
        pos = pos.remainder(t)
    else:
        valid &= (pos >= 0) & (pos < t)
    return compact_rpeaks(pos, valid)
