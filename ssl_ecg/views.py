"""Augmented views of a batch, as the recipe's ``[[augmentations]]`` compose them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ssl_ecg.interfaces import Augmentation, Batch


def view_batches(
    batch: Batch, augmentations: Sequence[Augmentation], n_views: int, generator: torch.Generator
) -> list[Batch]:
    """``n_views`` augmented batches; view ``i`` passes through every augmentation, in recipe
    order, whose ``views`` setting is unset or contains ``i`` (R-peaks and lead mask follow)."""
    views = []
    for i in range(n_views):
        view = batch
        for aug in augmentations:
            only = getattr(aug.config, "views", None)
            if only is None or i in only:
                view = aug(view, generator)
        views.append(view)
    return views


def make_views(
    batch: Batch, augmentations: Sequence[Augmentation], n_views: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """The signals (B, C, T) of :func:`view_batches`."""
    return [v.signal for v in view_batches(batch, augmentations, n_views, generator)]
