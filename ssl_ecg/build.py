"""Build the components a recipe names, and check that they fit together."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ssl_ecg.errors import PluginError, RecipeError, SslEcgError
from ssl_ecg.factory import _call
from ssl_ecg.interfaces import (
    AugmentationContext,
    Batch,
    Encoder,
    EncoderContext,
    Objective,
    ObjectiveContext,
)
from ssl_ecg.recipe import Component, Recipe, _validate
from ssl_ecg.registry import get_registry
from ssl_ecg.views import make_views


@dataclasses.dataclass
class Built:
    leads: list[str]
    encoder: Encoder
    augmentations: list[Any]
    objective: Objective


def build(recipe: Recipe) -> Built:
    """Build encoder, augmentations and objective for the recipe's leads (on the CPU)."""
    from ssl_ecg.sources import recipe_leads  # a recipe's datasets, built only when needed

    return build_model(recipe, recipe_leads(recipe))


def build_encoder(recipe: Recipe, leads: list[str]) -> Encoder:
    """The recipe's encoder alone, for windows of ``leads`` (a random-init baseline: whatever
    objective the recipe names, even one that would refuse this encoder)."""
    n_samples = round(recipe.preprocess.window_s * recipe.preprocess.fs)
    ctx = EncoderContext(len(leads), n_samples, recipe.preprocess.fs)
    return _call(recipe, recipe.encoder, ctx)


def build_model(recipe: Recipe, leads: list[str], n_patients: int | None = None) -> Built:
    """Encoder, augmentations and objective for windows of ``leads`` (no dataset needed)."""
    n_samples = round(recipe.preprocess.window_s * recipe.preprocess.fs)
    fs = recipe.preprocess.fs
    encoder = build_encoder(recipe, leads)
    augs = [_call(recipe, a, AugmentationContext(fs, n_samples)) for a in recipe.augmentations]
    registry = get_registry()

    validated = {c.key: c for c in _descendants(recipe.objective)}  # checked by the loader

    def build_objective(name: str, settings: dict[str, Any], key: str) -> Objective:
        try:
            spec = registry.get("objective", name)
        except PluginError as exc:
            raise RecipeError(f"{key}: {exc}") from None
        known = validated.get(key)
        if known is not None and known.spec.name == name:
            config = known.config  # validated once, by the recipe loader
        else:  # a part the recipe does not name (built by a plugin at run time)
            config = _validate(spec.config, settings, key)
        ctx = ObjectiveContext(encoder, len(leads), n_samples, fs, key, build_objective,
                               n_patients)  # fmt: skip
        return spec.factory(config, ctx)

    ctx = ObjectiveContext(encoder, len(leads), n_samples, fs, "objective", build_objective,
                           n_patients)  # fmt: skip
    objective = _call(recipe, recipe.objective, ctx)
    return Built(leads, encoder, augs, objective)


def _descendants(component: Component) -> list[Component]:
    out = []
    for child in component.children:
        out += [child, *_descendants(child)]
    return out


def check_views(recipe: Recipe, built: Built) -> None:
    """Every augmentation's ``views`` must name views the objective asks for."""
    n = built.objective.n_views
    for comp, aug in zip(recipe.augmentations, built.augmentations, strict=True):
        views = getattr(aug.config, "views", None) or []
        bad = [v for v in views if not 0 <= v < n]
        if bad:
            allowed = f"0..{n - 1}" if n else "none: it reads no views"
            raise RecipeError(
                f"{recipe.path}: {comp.key}.views = {views}: objective '{recipe.objective.name}' "
                f"makes {n} view(s), so view indices are {allowed}; this augmentation would "
                "never apply"
            )


def check(recipe: Recipe) -> Built:
    """Build everything and push one tiny random batch through (shapes only, no training)."""
    from ssl_ecg.runtime import pick_device

    try:
        pick_device(recipe.train.device)
    except SslEcgError as exc:
        raise RecipeError(f"{recipe.path}: {exc}") from None
    built = build(recipe)
    check_views(recipe, built)
    n_samples = round(recipe.preprocess.window_s * recipe.preprocess.fs)
    segs = torch.randn(max(built.objective.n_segments, 1), 2, len(built.leads), n_samples)
    batch = Batch(segs[0], recipe.preprocess.fs, torch.ones(2, len(built.leads), dtype=torch.bool),
                  patient=torch.arange(2), segments=segs if len(segs) > 1 else None)  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    try:
        views = make_views(batch, built.augmentations, built.objective.n_views, gen)
        with torch.no_grad():
            out = built.objective(batch, views)
        if "loss" not in out:
            raise PluginError(f"objective '{recipe.objective.name}' returned no 'loss'")
    except SslEcgError as exc:
        raise RecipeError(f"{recipe.path}: {exc}") from None
    except Exception as exc:
        raise RecipeError(
            f"{recipe.path}: objective '{recipe.objective.name}' with encoder "
            f"'{recipe.encoder.name}' does not run on a (2, {len(built.leads)}, {n_samples}) "
            f"batch: {type(exc).__name__}: {exc}"
        ) from None
    return built
