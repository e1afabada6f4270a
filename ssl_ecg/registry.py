"""The registry: every component, by kind and name, from every loaded plugin.

``get_registry().get("objective", "simclr")`` returns its :class:`~ssl_ecg.specs.Spec`;
``get_registry().list(pattern="vit*")`` lists specs with shell-style wildcards.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ssl_ecg.errors import PluginError, close_matches
from ssl_ecg.plugins import PluginInfo, collect_specs, load_plugins
from ssl_ecg.specs import KINDS, Spec

if TYPE_CHECKING:
    import pluggy
    import typer


class Registry:
    """Components by (kind, name); broken plugins are remembered, not raised."""

    def __init__(
        self, specs: list[Spec], plugins: list[PluginInfo], pm: pluggy.PluginManager | None = None
    ) -> None:
        self.plugins = plugins
        self.pm = pm
        self._by_key: dict[tuple[str, str], list[Spec]] = defaultdict(list)
        for spec in specs:
            self._by_key[(spec.kind or "", spec.name)].append(spec)

    @classmethod
    def load(cls) -> Registry:
        """Discover plugins through entry points and collect their specs."""
        pm, infos = load_plugins()
        return cls(collect_specs(pm, infos), infos, pm)

    def names(self, kind: str) -> list[str]:
        """Sorted names of one kind."""
        return sorted(name for (k, name) in self._by_key if k == kind)

    def list(self, kind: str | None = None, pattern: str | None = None) -> list[Spec]:
        """Specs, optionally of one kind and matching a shell-style pattern (``vit*``)."""
        out = []
        for (k, name), specs in sorted(
            self._by_key.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1])
        ):  # type: ignore[arg-type]
            if kind is not None and k != kind:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
                continue
            out.extend(specs)
        return out

    def broken(self) -> list[PluginInfo]:
        """Plugins that failed to import or register."""
        return [p for p in self.plugins if p.status == "broken"]

    def get(self, kind: str, name: str) -> Spec:
        """The spec of ``kind`` called ``name``, or an error listing what exists."""
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind '{kind}'; kinds are: {', '.join(KINDS)}")
        specs = self._by_key.get((kind, name), [])
        if len(specs) == 1:
            return specs[0]
        if len(specs) > 1:
            who = " and ".join(f"plugin '{s.plugin}' ({s.distribution} {s.version})" for s in specs)
            raise PluginError(
                f"{kind} '{name}' is provided twice, by {who}; uninstall one or block it with "
                f"SSL_ECG_DISABLE_PLUGINS={specs[-1].plugin}"
            )
        available = self.names(kind)
        matches = close_matches(name, available)
        msg = f"unknown {kind} '{name}'"
        if matches:
            msg += "; did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"
        msg += f"{'' if matches else '.'} Available {kind}s: {', '.join(available) or '(none)'}."
        broken = self.broken()
        if broken:
            msg += (
                " Plugins that failed to load: "
                + ", ".join(f"{p.name} ({p.error})" for p in broken)
                + "."
            )
        raise PluginError(msg)

    def add_commands(self, cli: typer.Typer) -> None:
        """Let plugins add CLI commands; a failing plugin is marked broken, not fatal."""
        if self.pm is None:
            return
        infos = {p.name: p for p in self.plugins}
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except BaseException as exc:  # SystemExit / KeyboardInterrupt from a plugin too
                info = infos[impl.plugin_name]
                info.status = "broken"
                info.error = f"register_commands() failed: {type(exc).__name__}: {exc}"

    def rows(self, kind: str | None = None, pattern: str | None = None) -> list[dict[str, Any]]:
        """Rows for ``list-plugins``: one per component, plus one per broken/disabled plugin."""
        rows: list[dict[str, Any]] = []
        for spec in self.list(kind, pattern):
            dup = len(self._by_key[(spec.kind or "", spec.name)]) > 1
            row = {
                "kind": spec.kind,
                "name": spec.name,
                "summary": spec.summary,
                "plugin": spec.plugin,
                "distribution": spec.distribution,
                "version": spec.version,
                "status": "duplicate" if dup else "ok",
            }
            if dup:
                row["error"] = "name provided by more than one plugin"
            rows.append(row)
        if kind is None:
            for p in self.plugins:
                if p.status == "ok":
                    continue
                if pattern is not None and not fnmatch.fnmatchcase(p.name, pattern):
                    continue
                rows.append(
                    {
                        "kind": "plugin",
                        "name": p.name,
                        "summary": p.target,
                        "plugin": p.name,
                        "distribution": p.distribution,
                        "version": p.version,
                        "status": p.status,
                        "error": p.error,
                    }
                )
        return rows


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry.load()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded registry (tests; after installing a plugin at run time)."""
    global _REGISTRY
    _REGISTRY = None
