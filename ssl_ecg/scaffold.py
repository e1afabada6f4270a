"""``ssl-ecg new-plugin KIND NAME``: write an installable plugin package that passes its own
tests as generated.

The package ``ssl-ecg-NAME/`` holds a ``pyproject.toml`` declaring the entry point
``NAME = "ssl_ecg_NAME"`` in the ``ssl_ecg`` group, the module ``ssl_ecg_NAME.py`` with a
minimal working component of that kind (importing only from :mod:`ssl_ecg`), a test running
the conformance kit (:mod:`ssl_ecg.testing`) on it, a README and, for kinds a recipe can use,
``example.toml``. The templates are package data in ``ssl_ecg/templates/``.
"""

from __future__ import annotations

import importlib.metadata
import re
from importlib import resources
from pathlib import Path

from ssl_ecg.errors import SslEcgError, did_you_mean

SCAFFOLD_KINDS = ("objective", "encoder", "augmentation", "dataset", "task", "logger")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")

# the component tables of example.toml; the scaffolded kind's own table replaces its default
_EXAMPLE = {
    "DATA": 'name = "synthetic"\nn_records = 4\nduration_s = 20.0\nwindow_s = 2.0',
    "ENCODER": 'name = "resnet1d"\nwidths = [16, 32]\nblocks = [1, 1]',
    "AUGMENTATION": 'name = "amplitude_scale"',
    "OBJECTIVE": 'name = "simclr"',
}
_SLOT = {"dataset": "DATA", "encoder": "ENCODER", "augmentation": "AUGMENTATION",
         "objective": "OBJECTIVE"}  # fmt: skip
_OWN = {
    "DATA": 'name = "__NAME__"\nwindow_s = 2.0',
    "ENCODER": 'name = "__NAME__"\ndim = 32',
    "AUGMENTATION": 'name = "__NAME__"',
    "OBJECTIVE": 'name = "__NAME__"',
}


def check_name(kind: str, name: str) -> None:
    """Refuse a kind that cannot be scaffolded, a malformed name or one a plugin already has."""
    if kind not in SCAFFOLD_KINDS:
        raise SslEcgError(
            f"new-plugin: unknown kind '{kind}'{did_you_mean(kind, SCAFFOLD_KINDS)} "
            f"(kinds: {', '.join(SCAFFOLD_KINDS)})"
        )
    if not NAME_PATTERN.fullmatch(name) or len(name) > 24:
        raise SslEcgError(
            f"new-plugin: bad name '{name}': use lowercase letters and digits, words joined "
            "by '-' or '_', starting with a letter, at most 24 characters (e.g. 'my-loss')"
        )
    taken = {_norm(ep.name): ep for ep in importlib.metadata.entry_points(group="ssl_ecg")}
    if _norm(name) in taken:
        ep = taken[_norm(name)]
        owner = ep.dist.name if ep.dist is not None else ep.value
        raise SslEcgError(
            f"new-plugin: the name '{name}' is already taken by plugin '{ep.name}' of {owner}; "
            "pick another name"
        )


def _norm(name: str) -> str:
    return name.replace("-", "_").lower()


def names(name: str) -> dict[str, str]:
    """The placeholders of the templates for plugin ``name`` (e.g. 'my-loss')."""
    words = re.split(r"[-_]", name)
    return {
        "__NAME__": name,
        "__DIST__": "ssl-ecg-" + name.replace("_", "-"),
        "__MODULE__": "ssl_ecg_" + _norm(name),
        "__IDENT__": _norm(name),
        "__CLASS__": "".join(w[:1].upper() + w[1:] for w in words),
    }


def _render(template: str, values: dict[str, str]) -> str:
    text = (resources.files("ssl_ecg") / "templates" / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _example(kind: str, name: str) -> str:
    """example.toml: a tiny recipe of built-ins, the scaffolded kind's own table in its slot
    (a logger's is added at the end, as ``[[loggers]]``)."""
    tables = dict(_EXAMPLE)
    if kind in _SLOT:
        tables[_SLOT[kind]] = _OWN[_SLOT[kind]]
    tables["LOGGERS"] = '\n[[loggers]]\nname = "__NAME__"\n' if kind == "logger" else ""
    text = _render("example.toml.tmpl", {})
    for slot, table in tables.items():
        text = text.replace(f"__{slot}__", table)
    return text.replace("__NAME__", name)


def _try_line(kind: str, name: str) -> str:
    if kind == "task":
        return f"ssl-ecg evaluate random --recipe example.toml --task {name} --out results"
    return "ssl-ecg train example.toml --run-dir runs/try"


def new_plugin(kind: str, name: str, parent: Path = Path(".")) -> Path:
    """Write the package ``parent/ssl-ecg-NAME/`` for a ``kind`` component called ``name`` and
    return its folder. Refuses an existing folder, a bad name or an unknown kind."""
    check_name(kind, name)
    parent = Path(parent)
    target = parent / f"ssl-ecg-{name}"
    if target.exists():
        raise SslEcgError(
            f"new-plugin: {target} already exists; pick another name or --dir, or remove it"
        )
    if parent.exists() and not parent.is_dir():
        raise SslEcgError(f"new-plugin: --dir {parent} is a file, not a folder; name a folder")
    values = names(name) | {"__KIND__": kind, "__TRY__": _try_line(kind, name)}
    module = values["__MODULE__"]
    files = {
        "pyproject.toml": _render("pyproject.toml.tmpl", values),
        "README.md": _render("README.md.tmpl", values),
        f"{module}.py": _render(f"{kind}.py.tmpl", values),
        f"tests/test_{values['__IDENT__']}.py": _render(f"test_{kind}.py.tmpl", values),
        "example.toml": _example(kind, name),
    }
    try:
        (target / "tests").mkdir(parents=True)
        for rel, text in files.items():
            (target / rel).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SslEcgError(
            f"new-plugin: cannot write {target}: {exc.strerror or exc}; pick a writable --dir"
        ) from None
    return target
