"""Spec records: what a plugin hook returns for each component it provides.

A plugin builds ``Spec(name=..., factory=..., config=..., summary=...)``; the core stamps the
record with its ``kind`` and the plugin/distribution that provided it when it is registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["dataset", "encoder", "augmentation", "objective", "task", "baseline", "logger"]
KINDS: tuple[Kind, ...] = (
    "dataset", "encoder", "augmentation", "objective", "task", "baseline", "logger"
)  # fmt: skip


class Config(BaseModel):
    """Base class for every component's typed settings.

    Unknown keys are refused (the recipe loader turns that into "did you mean ..."), values are
    checked strictly (a string is never silently turned into a number), a float must be finite
    (``inf``/``nan`` never mean a setting) and configs are frozen.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def components(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """Sub-components these settings name, as ``(key, kind, name, settings)``.

        A composite (say, a weighted sum of objectives) returns one entry per part; the recipe
        loader then validates each part's settings, found under ``key``, like a top-level one.
        """
        return []


@dataclasses.dataclass(frozen=True)
class Spec:
    """One component a plugin provides.

    Attributes:
        name: the name recipes use (``[objective] name = "simclr"``).
        factory: ``factory(config, context)`` builds the component; ``context`` is the
            kind's context record from :mod:`ssl_ecg.contexts`.
        config: the component's typed settings (a :class:`Config` subclass).
        summary: one line shown by ``ssl-ecg list-plugins``.
        train_defaults: for an objective, the ``[train]`` settings its paper uses (e.g.
            ``{"optimizer": "adamw", "betas": [0.9, 0.95], "base_lr": 1.5e-4}``); a recipe's
            own ``[train]`` keys override them, ``ssl-ecg show`` says where each value came from.
        train_source: where ``train_defaults`` come from (paper section, repository file).
        example: small settings for quick runs of the component (the conformance matrix of
            every objective on every encoder uses them); default: its defaults.
        kind, plugin, distribution, version: stamped by the core at registration.
    """

    name: str
    factory: Callable[..., Any]
    config: type[Config] = Config
    summary: str = ""
    train_defaults: dict[str, Any] = dataclasses.field(
        default_factory=dict, hash=False, compare=False
    )
    train_source: str = ""
    example: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False, compare=False)
    kind: Kind | None = None
    plugin: str = ""
    distribution: str = ""
    version: str = ""

    def stamped(self, kind: Kind, plugin: str, distribution: str, version: str) -> Spec:
        """A copy carrying where it came from."""
        return dataclasses.replace(
            self, kind=kind, plugin=plugin, distribution=distribution, version=version
        )
