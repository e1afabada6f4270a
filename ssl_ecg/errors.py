"""User-facing errors: each one says what is wrong, where, and how to fix it.

The CLI prints any :class:`SslEcgError` as one line and exits with status 2; set
``SSL_ECG_DEBUG=1`` (or pass ``--debug``) to see the traceback instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SslEcgError(Exception):
    """An error the user can act on (bad recipe, missing file, unknown plugin...)."""


class RecipeError(SslEcgError):
    """A recipe is malformed or names something invalid; the message names file and key."""


class PluginError(SslEcgError):
    """A plugin is unknown, broken, duplicated or incompatible."""


class Incompatible(PluginError):
    """A component refuses another it cannot work with (MAE with an encoder that cannot drop
    tokens, CPC with one whose tokens see the future); the message names both and the way out."""


class IncompatibleComponents(RecipeError):
    """A recipe combines components that refuse each other (raised from :class:`Incompatible`);
    a benchmark grid skips such a cell and says why."""


class DataError(SslEcgError):
    """Input data cannot be read or does not match what the recipe asks for."""


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names in ``candidates`` that look like ``word`` (best first)."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    matches = close_matches(word, candidates)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters): an exception from a
    library, summarised for a one-line error."""
    text = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


def require_package(module: str, pip: str, who: str) -> None:
    """Raise ValueError (in a config validator: an error naming the recipe key) when
    ``module`` cannot be imported, saying which ``pip`` package to install; ``who`` names
    the component that needs it (e.g. "logger 'my-tracker'")."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        found = False
    if not found:
        raise ValueError(
            f"{who} needs the Python package '{pip}', which is not installed: pip install {pip}"
        )
