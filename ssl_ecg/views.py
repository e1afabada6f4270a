"""Augmented views of a batch, as the recipe's ``[[augmentations]]`` compose them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ssl_ecg.interfaces import Augmentation, Batch


def make_views(
    batch: Batch, augmentations: Sequence[Augmentation], n_views: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """``n_views`` signals (B, C, T); view ``i`` passes through every augmentation, in recipe
    order, whose ``views`` setting is unset or contains ``i``."""
    views = []
    for i in range(n_views):
        view = batch
        for aug in augmentations:
            only = getattr(aug.config, "views", None)
            if only is None or i in only:
                view = aug(view, generator)
        views.append(view.signal)
    return views
