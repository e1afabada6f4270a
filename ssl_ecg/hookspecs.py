"""The hooks a plugin may implement (pluggy project ``ssl_ecg``).

Each ``register_<kind>`` hook returns a list of :class:`ssl_ecg.specs.Spec`. A plugin module is
found through the ``ssl_ecg`` entry-point group and implements only the hooks it needs::

    from ssl_ecg import hookimpl, Spec

    @hookimpl
    def register_objectives():
        return [Spec(name="vicreg", factory=VICReg, config=VICRegConfig, summary="...")]

Hooks may gain arguments later; pluggy passes an implementation only those it asks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from ssl_ecg.specs import Spec

PROJECT = "ssl_ecg"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_datasets() -> list[Spec]:
    """Return dataset specs: factories building a record source from its settings."""


@hookspec
def register_encoders() -> list[Spec]:
    """Return encoder specs: modules mapping signals (B, C, T) to embeddings (B, D)."""


@hookspec
def register_augmentations() -> list[Spec]:
    """Return augmentation specs: batched, seeded tensor transforms of signals (B, C, T)."""


@hookspec
def register_objectives() -> list[Spec]:
    """Return objective specs: self-supervised losses computed from an encoder and views."""


@hookspec
def register_tasks() -> list[Spec]:
    """Return evaluation task specs: labelled downstream problems to probe encoders on."""


@hookspec
def register_baselines() -> list[Spec]:
    """Return baseline specs: feature maps that need no pretraining, scored like encoders."""


@hookspec
def register_loggers() -> list[Spec]:
    """Return logger specs: destinations for a run's parameters, losses and scores."""


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``ssl-ecg`` command line (``@cli.command()`` on the given app)."""


HOOK_KINDS = {
    "register_datasets": "dataset",
    "register_encoders": "encoder",
    "register_augmentations": "augmentation",
    "register_objectives": "objective",
    "register_tasks": "task",
    "register_baselines": "baseline",
    "register_loggers": "logger",
}
