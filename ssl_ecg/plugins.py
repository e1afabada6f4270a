"""The plugin manager: every plugin, built-in or not, comes in through an entry point.

Environment variables (as pytest and tox do it):

* ``SSL_ECG_DISABLE_PLUGIN_AUTOLOAD=1`` — load only ssl-ecg's own built-ins, plus third-party
  plugins named in ``SSL_ECG_PLUGINS`` (comma-separated entry-point names).
* ``SSL_ECG_DISABLE_PLUGINS=a,b`` — never load these plugins (entry-point or distribution names).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Literal

import pluggy

from ssl_ecg import hookspecs
from ssl_ecg.errors import did_you_mean, one_line
from ssl_ecg.specs import Spec

GROUP = "ssl_ecg"
OWN_DISTRIBUTION = "ssl-ecg"
ENV_NO_AUTOLOAD = "SSL_ECG_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK = "SSL_ECG_DISABLE_PLUGINS"
ENV_ALLOW = "SSL_ECG_PLUGINS"

Status = Literal["ok", "broken", "disabled"]


@dataclasses.dataclass
class PluginInfo:
    """One entry point of the ``ssl_ecg`` group and what became of it."""

    name: str
    target: str
    distribution: str
    version: str
    status: Status = "ok"
    error: str = ""


def _env_list(var: str) -> set[str]:
    return {item.strip() for item in os.environ.get(var, "").split(",") if item.strip()}


def _norm(dist: str) -> str:
    return dist.lower().replace("_", "-")


def _disabled_reason(ep_name: str, dist: str) -> str:
    blocked = _env_list(ENV_BLOCK)
    if ep_name in blocked or dist in blocked or _norm(dist) in {_norm(b) for b in blocked}:
        return f"disabled by {ENV_BLOCK}"
    if (
        os.environ.get(ENV_NO_AUTOLOAD)
        and _norm(dist) != OWN_DISTRIBUTION
        and ep_name not in _env_list(ENV_ALLOW)
    ):
        return f"third-party autoload disabled by {ENV_NO_AUTOLOAD}"
    return ""


def _entry_points() -> Iterable[md.EntryPoint]:
    seen: set[tuple[str, str]] = set()
    for ep in md.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        key = (_norm(dist), ep.name)
        if key not in seen:
            seen.add(key)
            yield ep


def _check_hooks(pm: pluggy.PluginManager, module: object) -> str:
    """An error message if ``module`` implements no hook or a hook with no spec."""
    callers = pm.get_hookcallers(module) or []
    if not callers:
        return "implements no @ssl_ecg.hookimpl function (did you forget the decorator?)"
    for caller in callers:
        if caller.spec is None:
            known = [n for n in dir(hookspecs) if n.startswith("register_")]
            return (
                f"implements unknown hook '{caller.name}'{did_you_mean(caller.name, known)}"
                f" (known hooks: {', '.join(known)})"
            )
    return ""


def load_plugins() -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """Load every entry point of the ``ssl_ecg`` group; a failing plugin is kept as broken."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else "?"
        version = ep.dist.version if ep.dist is not None else "?"
        info = PluginInfo(ep.name, ep.value, dist, version)
        infos.append(info)
        reason = _disabled_reason(ep.name, dist)
        if reason:
            info.status, info.error = "disabled", reason
            continue
        try:
            module: ModuleType = ep.load()
        # a plugin that fails to import never crashes ssl-ecg, not even by sys.exit() or
        # raising KeyboardInterrupt at import time: it is listed as broken instead
        except BaseException as exc:
            info.status, info.error = "broken", f"failed to import {ep.value}: {one_line(exc)}"
            continue
        if pm.get_plugin(ep.name) is not None:
            info.status = "broken"
            info.error = f"plugin name '{ep.name}' is already used by another distribution"
            continue
        try:
            pm.register(module, name=ep.name)
        except Exception as exc:  # pluggy refuses hookimpls whose arguments match no spec
            info.status, info.error = "broken", one_line(exc)
            continue
        problem = _check_hooks(pm, module)
        if problem:
            pm.unregister(module)
            info.status, info.error = "broken", problem
    return pm, infos


def collect_specs(pm: pluggy.PluginManager, infos: list[PluginInfo]) -> list[Spec]:
    """Call every ``register_<kind>`` hook, one plugin at a time, and stamp what comes back."""
    by_name = {info.name: info for info in infos}
    specs: list[Spec] = []
    failed: set[str] = set()
    for hook_name, kind in hookspecs.HOOK_KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = by_name[impl.plugin_name]
            if impl.plugin_name in failed:
                continue
            try:
                returned = impl.function()
                items = list(returned or [])
                bad = [item for item in items if not isinstance(item, Spec)]
                if bad:
                    raise TypeError(
                        f"{hook_name}() must return ssl_ecg.Spec records, got {bad[0]!r}"
                    )
                for item in items:
                    _check_spec(item)
            except BaseException as exc:  # SystemExit / KeyboardInterrupt from a plugin too
                failed.add(impl.plugin_name)
                info.status, info.error = "broken", f"{hook_name}() failed: {one_line(exc)}"
                continue
            specs.extend(s.stamped(kind, info.name, info.distribution, info.version) for s in items)  # type: ignore[arg-type]
    return [s for s in specs if s.plugin not in failed]


def _check_spec(spec: Spec) -> None:
    from pydantic import BaseModel

    if not isinstance(spec.name, str) or not spec.name:
        raise TypeError(f"Spec.name must be a non-empty string, got {spec.name!r}")
    if not callable(spec.factory):
        raise TypeError(f"Spec '{spec.name}': factory is not callable")
    if not (isinstance(spec.config, type) and issubclass(spec.config, BaseModel)):
        raise TypeError(f"Spec '{spec.name}': config must be a pydantic model class")
    if spec.train_defaults:
        from ssl_ecg.config import TrainConfig

        unknown = sorted(set(spec.train_defaults) - set(TrainConfig.model_fields))
        if unknown:
            raise TypeError(
                f"Spec '{spec.name}': train_defaults has unknown [train] keys {unknown}"
            )
        TrainConfig.model_validate(spec.train_defaults)  # a bad value is the plugin's error
    if spec.example:
        spec.config.model_validate(spec.example)
