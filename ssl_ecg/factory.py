"""Build one component of a recipe: its plugin's ``factory(config, context)``, with any
user-fixable failure named by the recipe file and the component's key."""

from __future__ import annotations

from typing import Any

from ssl_ecg.errors import Incompatible, IncompatibleComponents, RecipeError, SslEcgError
from ssl_ecg.recipe import Component, DataRecipe, Recipe


def _call(recipe: Recipe | DataRecipe, component: Component, context: Any) -> Any:
    """``factory(config, context)`` with any user-fixable failure named by file and key."""
    try:
        return component.spec.factory(component.config, context)
    except RecipeError as exc:  # already names its key (a nested component)
        raise type(exc)(f"{recipe.path}: {exc}") from None
    except Incompatible as exc:
        raise IncompatibleComponents(f"{recipe.path}: {component.key}: {exc}") from None
    except SslEcgError as exc:
        raise RecipeError(f"{recipe.path}: {component.key}: {exc}") from None
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise RecipeError(
            f"{recipe.path}: {component.key} ({component.spec.kind} '{component.name}'): {exc}"
        ) from None
    except (MemoryError, RuntimeError) as exc:  # e.g. encoder.dim = 1e7: weights too big
        if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
            raise
        fs, window_s = recipe.preprocess.fs, recipe.preprocess.window_s
        raise RecipeError(
            f"{recipe.path}: {component.key} ({component.spec.kind} '{component.name}'): out of "
            f"memory building it; check its sizes (e.g. {component.key}.dim) and the window "
            f"({round(fs * window_s):,} samples = data.fs {fs:g} Hz x data.window_s {window_s:g} s)"
        ) from None
