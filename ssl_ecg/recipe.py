"""Recipes: TOML -> a typed, validated :class:`Recipe`.

Every error names the recipe file and the dotted key, and suggests the right spelling::

    recipes/hybrid.toml: objective.temperture: unknown key; did you mean 'temperature'?
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import tomli_w
from pydantic import BaseModel, ValidationError

from ssl_ecg.config import TRAIN_ALTERNATIVES, PreprocessConfig, SourceConfig, TrainConfig
from ssl_ecg.errors import PluginError, RecipeError, did_you_mean
from ssl_ecg.registry import Registry, get_registry
from ssl_ecg.specs import Config, Spec

COMPONENT_TABLES = {"data": "dataset", "encoder": "encoder", "objective": "objective"}
TABLES = ("data", "encoder", "augmentations", "objective", "train", "loggers")


@dataclasses.dataclass(frozen=True)
class Component:
    """A plugin named in a recipe, with its validated settings."""

    key: str  # dotted key of its table, e.g. "objective" or "augmentations[1]"
    spec: Spec
    config: Config
    children: tuple[Component, ...] = ()  # sub-components its config names (Config.components)

    @property
    def name(self) -> str:
        return self.spec.name

    def resolved(self) -> dict[str, Any]:
        """``{"name": ..., **settings}`` with every default filled in, children included."""
        out = {"name": self.spec.name, **_plain(self.config.model_dump(mode="json"))}
        for child in self.children:
            local = child.key.rsplit(".", 1)[-1]
            out[local] = {k: v for k, v in child.resolved().items() if k != "name"}
        return out


@dataclasses.dataclass(frozen=True)
class Source:
    """One dataset a recipe reads: ``[data]`` itself, or one of its ``[[data.sources]]``."""

    key: str  # "data" or "data.sources[i]", for error messages
    component: Component  # the dataset plugin and its settings
    preprocess: PreprocessConfig  # the recipe's, with this source's split and lead_map
    weight: float = 1.0  # share of the training windows drawn from it
    own: SourceConfig | None = None  # the source table's core keys (None for plain [data])

    @property
    def name(self) -> str:
        return self.component.name

    def resolved(self) -> dict[str, Any]:
        out = self.component.resolved()
        if self.own is not None:
            out.update(_plain(self.own.model_dump(mode="json")))
        return out


@dataclasses.dataclass(frozen=True)
class DataRecipe:
    """The ``[data]`` part of a recipe: enough to prepare and read its datasets."""

    path: Path
    sources: tuple[Source, ...]
    preprocess: PreprocessConfig
    seed: int = 0

    @property
    def data(self) -> Component:
        """The dataset of a single-source recipe."""
        if len(self.sources) != 1:
            raise RecipeError(
                f"{self.path}: data: {len(self.sources)} sources where one dataset is expected"
            )
        return self.sources[0].component

    def data_resolved(self) -> dict[str, Any]:
        """``[data]`` as plain data, defaults filled in."""
        data: dict[str, Any] = {}
        if self.sources[0].own is None:
            data["name"] = self.sources[0].name
        data.update(_plain(self.preprocess.model_dump(mode="json")))
        if self.sources[0].own is None:
            data.update({k: v for k, v in self.sources[0].resolved().items() if k != "name"})
        else:
            data["sources"] = [src.resolved() for src in self.sources]
        return data


@dataclasses.dataclass(frozen=True)
class Recipe(DataRecipe):
    """A validated recipe. ``path`` is where it came from (for error messages)."""

    encoder: Component = None  # type: ignore[assignment]
    augmentations: tuple[Component, ...] = ()
    objective: Component = None  # type: ignore[assignment]
    train: TrainConfig = None  # type: ignore[assignment]
    # where each [train] value came from: "recipe", the objective's paper ("objective ..."),
    # or absent (the core's default)
    train_origin: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)
    loggers: tuple[Component, ...] = ()  # where the run's metrics also go ([[loggers]])

    def resolved(self) -> dict[str, Any]:
        """The full recipe as plain data, defaults filled in (what ``ssl-ecg show`` prints)."""
        out: dict[str, Any] = {
            "data": self.data_resolved(),
            "encoder": self.encoder.resolved(),
            "augmentations": [a.resolved() for a in self.augmentations],
            "objective": self.objective.resolved(),
            "train": _plain(self.train.model_dump(mode="json", exclude=self._unused_train())),
        }
        if self.loggers:  # absent when there are none: such a recipe reads as it always did
            out["loggers"] = [lg.resolved() for lg in self.loggers]
        return out

    def _unused_train(self) -> set[str]:
        """[train] keys that an alternative replaces (lr when base_lr is set): left out of the
        resolved recipe, so that it reads back as the same recipe."""
        t = self.train
        return {a for a, b in TRAIN_ALTERNATIVES if getattr(t, b) is not None}

    def to_toml(self, origins: bool = False) -> str:
        """The resolved recipe as TOML text; ``origins`` comments each ``[train]`` value with
        where it came from (the recipe, the objective's paper, or the core's default)."""
        text = tomli_w.dumps(self.resolved())
        if not origins:
            return text
        lines, table = [], ""
        for line in text.splitlines():
            if line.startswith("["):
                table = line.strip()
            elif table == "[train]" and " = " in line:
                key = line.split(" = ", 1)[0].strip()
                note = self.train_origin.get(key, "default")
                if key == "base_lr":
                    note += f"; peak lr = base_lr x batch_size / 256 = {self.train.peak_lr():.3g}"
                line = f"{line}  # {note}"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def unset(self) -> list[str]:
        """Dotted keys whose value is None (TOML has no null, so ``to_toml`` leaves them out)."""
        single = self.sources[0].own is None
        parts: list[tuple[str, Any]] = [("data", self.preprocess)]
        parts += [("data" if single else f"data.sources[{i}]", src.component)
                  for i, src in enumerate(self.sources)]  # fmt: skip
        parts += [("encoder", self.encoder), ("objective", self.objective), ("train", self.train)]
        parts += [(f"augmentations[{i}]", a) for i, a in enumerate(self.augmentations)]
        parts += [(lg.key, lg) for lg in self.loggers]
        out = []
        while parts:
            prefix, part = parts.pop(0)
            if isinstance(part, Component):
                parts += [(child.key, child) for child in part.children]
                part = part.config
            out += [f"{prefix}.{k}" for k, v in part.model_dump().items() if v is None]
        return out


def _plain(obj: Any) -> Any:
    """Drop ``None`` values (TOML has no null) recursively."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


# ---------------------------------------------------------------- overrides (--set a.b=c)

_INDEX = re.compile(r"\[(\d+)\]")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.steps=100"`` -> (["train", "steps"], 100); the value is read as TOML."""
    if "=" not in item:
        raise RecipeError(f"--set '{item}': expected KEY=VALUE, e.g. --set train.steps=100")
    key, raw = item.split("=", 1)
    key = _INDEX.sub(r".\1", key.strip())
    parts = [p.strip() for p in key.split(".")]
    if not key or any(not p for p in parts):
        raise RecipeError(f"--set '{item}': '{key}' is not a dotted key like train.steps")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if not raw or any(c in raw for c in "[]{}\"'=,"):
            raise RecipeError(
                f"--set '{item}': '{raw}' is not a TOML value (strings with spaces or "
                "brackets need quotes, e.g. --set 'data.leads=[\"II\"]')"
            ) from None
        value = raw  # a bare word: take it as a string (--set encoder.name=vit1d)
    return parts, value


def apply_override(doc: dict[str, Any], parts: list[str], value: Any, item: str) -> None:
    """Set ``doc[parts...] = value`` in place; list items are addressed by index."""
    node: Any = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError(f"--set '{item}': '{where}' needs an index below {len(node)}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                if part == "name" and node.get("name", value) != value:
                    node.clear()  # another component: the old one's settings no longer apply
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise RecipeError(f"--set '{item}': '{'.'.join(parts[:i])}' is a value, not a table")


def apply_overrides(doc: dict[str, Any], items: list[str], path: Path) -> None:
    """Apply ``--set`` items; those that switch a component (``encoder.name=resnet1d``) first,
    which drops the old component's settings, so the others then set the new one's."""
    parsed = []
    for item in items:
        try:
            parsed.append((item, *parse_override(item)))
        except RecipeError as exc:
            raise RecipeError(f"{path}: {exc}") from None
    parsed.sort(key=lambda p: p[1][-1] != "name")  # stable: name switches first
    for item, parts, value in parsed:
        try:
            apply_override(doc, parts, value, item)
        except RecipeError as exc:
            raise RecipeError(f"{path}: {exc}") from None


# ---------------------------------------------------------------- validation


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is None:
        return getattr(annotation, "__name__", str(annotation))
    args = [a for a in get_args(annotation) if a is not type(None)]
    if str(origin) == "typing.Literal":
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    inner = ", ".join(_type_name(a) for a in args)
    name = getattr(origin, "__name__", str(origin))
    if name in ("Union", "UnionType"):
        return " or ".join(_type_name(a) for a in args)
    return f"{name}[{inner}]"


def _validation_message(
    exc: ValidationError, model: type[BaseModel], prefix: str, extra_keys: set[str] = frozenset()
) -> str:
    # an unknown key first: a misspelt key also makes the intended one look "missing"
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    dotted = ".".join([prefix, *loc]) if prefix else ".".join(loc)
    valid = set(model.model_fields) | set(extra_keys) | {"name"}
    field = model.model_fields.get(loc[0]) if loc else None
    if first["type"] == "extra_forbidden":
        hint = did_you_mean(loc[-1], valid - {"name"})
        msg = (
            f"{dotted}: unknown key{hint}"
            if hint
            else (f"{dotted}: unknown key; valid keys: {', '.join(sorted(valid))}")
        )
    elif first["type"] == "missing":
        msg = f"{dotted}: required key is missing"
    elif first["type"] == "value_error" or not loc:
        msg = f"{dotted}: {first['msg'].removeprefix('Value error, ')}"
    else:
        expected = f" (expected {_type_name(field.annotation)})" if field is not None else ""
        got = first.get("input")
        msg = f"{dotted}: {first['msg']}{expected}, got {got!r}"
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return msg


def _validate(
    model: type[Config], values: dict[str, Any], prefix: str, extra: set[str] = frozenset()
) -> Config:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RecipeError(_validation_message(exc, model, prefix, extra)) from None


def _component(
    registry: Registry, kind: str, table: Any, key: str, reserved: type[Config] | None = None
) -> tuple[Component, Config | None]:
    if not isinstance(table, dict):
        raise RecipeError(f"{key}: must be a table with at least a 'name' key")
    if "name" not in table:
        names = ", ".join(registry.names(kind)) or "(none installed)"
        raise RecipeError(f"{key}.name: missing; name a {kind} plugin: {names}")
    name = table["name"]
    if not isinstance(name, str):
        raise RecipeError(f"{key}.name: expected a string, got {name!r}")
    try:
        spec = registry.get(kind, name)
    except PluginError as exc:
        raise RecipeError(f"{key}.name: {exc}") from None
    settings = {k: v for k, v in table.items() if k != "name"}
    core = None
    if reserved is not None:  # [data] mixes core preprocessing keys and the plugin's own
        core_keys = {k: settings.pop(k) for k in list(settings) if k in reserved.model_fields}
        core = _validate(reserved, core_keys, key)
    extra = set(reserved.model_fields) if reserved is not None else set()
    return _resolve(registry, spec, settings, key, extra), core


def _resolve(
    registry: Registry,
    spec: Spec,
    settings: dict[str, Any],
    key: str,
    extra: set[str] = frozenset(),
) -> Component:
    """Validate ``settings`` against ``spec.config`` and, recursively, the sub-components."""
    if key.count(".") > 8:
        raise RecipeError(f"{key}: components nested too deeply (does a part include itself?)")
    config = _validate(spec.config, settings, key, extra)
    children = []
    for local, kind, name, sub_settings in config.components():
        child_key = f"{key}.{local}"
        try:
            child_spec = registry.get(kind, name)
        except PluginError as exc:
            raise RecipeError(f"{child_key}: {exc}") from None
        children.append(_resolve(registry, child_spec, dict(sub_settings), child_key))
    return Component(key, spec, config, tuple(children))


def recipe_from_dict(doc: dict[str, Any], path: Path, registry: Registry | None = None) -> Recipe:
    """Validate a parsed recipe; errors are prefixed with ``path``."""
    registry = registry or get_registry()
    try:
        unknown = [k for k in doc if k not in TABLES]
        if unknown:
            key = unknown[0]
            hint = did_you_mean(key, TABLES)
            raise RecipeError(f"{key}: unknown table{hint or '; tables are: ' + ', '.join(TABLES)}")
        for required in ("data", "encoder", "objective"):
            if required not in doc:
                hint = (
                    "; a recipe with only [data] is for `ssl-ecg data prepare/info/validate`, "
                    "`evaluate --set data.KEY` and `embed`; training needs [encoder] and "
                    "[objective] too"
                    if set(doc) == {"data"}
                    else ""
                )
                raise RecipeError(f"[{required}]: table is missing{hint}")
        sources, pre = _data(registry, doc["data"])
        encoder, _ = _component(registry, "encoder", doc["encoder"], "encoder")
        objective, _ = _component(registry, "objective", doc["objective"], "objective")
        augs_raw = doc.get("augmentations", [])
        if not isinstance(augs_raw, list):
            raise RecipeError("augmentations: write each one as an [[augmentations]] table")
        augs = tuple(
            _component(registry, "augmentation", a, f"augmentations[{i}]")[0]
            for i, a in enumerate(augs_raw)
        )
        train, origin = train_config(doc.get("train", {}), objective)
        loggers = logger_components(doc.get("loggers", []), registry)
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    return Recipe(path, sources, pre, train.seed, encoder, augs, objective, train, origin, loggers)


def logger_components(raw: Any, registry: Registry | None = None) -> tuple[Component, ...]:
    """``[[loggers]]``: each table a logger plugin and its settings (none: an empty tuple)."""
    if not isinstance(raw, list):
        raise RecipeError(
            "loggers: write each logger as an [[loggers]] table with its name "
            "(ssl-ecg list-plugins --kind logger lists them)"
        )
    registry = registry or get_registry()
    return tuple(
        _component(registry, "logger", table, f"loggers[{i}]")[0] for i, table in enumerate(raw)
    )


def train_config(raw: Any, objective: Component) -> tuple[TrainConfig, dict[str, str]]:
    """``[train]``: the objective's published settings (``Spec.train_defaults``) under the
    recipe's own keys, and where each value came from. The defaults are one optimizer: a recipe
    that names its own optimizer or learning rate drops all of them (LARS at an Adam learning
    rate is no one's setting)."""
    if not isinstance(raw, dict):
        raise RecipeError("train: must be a table")
    own_optimizer = bool(set(raw) & {"optimizer", "lr", "base_lr"})
    defaults = {} if own_optimizer else dict(objective.spec.train_defaults)
    for a, b in TRAIN_ALTERNATIVES:
        if a in raw and b in raw:
            raise RecipeError(f"train.{a} and train.{b}: set one of them, not both")
        defaults.pop(b if a in raw else a if b in raw else "", None)
    train = _validate(TrainConfig, {**defaults, **raw}, "train")
    assert isinstance(train, TrainConfig)
    source = objective.spec.train_source or "its paper"
    origin = {k: f"objective {objective.name}: {source}" for k in defaults if k not in raw}
    origin.update({k: "recipe" for k in raw})
    return train, origin


def _data(registry: Registry, table: Any) -> tuple[tuple[Source, ...], PreprocessConfig]:
    """``[data]``: one dataset plugin with the core's preprocessing keys, or preprocessing keys
    plus ``[[data.sources]]`` tables, each a dataset plugin with weight, split and lead_map."""
    if not isinstance(table, dict) or "sources" not in table:
        data, pre = _component(registry, "dataset", table, "data", PreprocessConfig)
        assert isinstance(pre, PreprocessConfig)
        return (Source("data", data, pre),), pre
    rest = {k: v for k, v in table.items() if k != "sources"}
    if "name" in rest:
        raise RecipeError(
            "data.name: with [[data.sources]] each source names its dataset; remove data.name"
        )
    if "split" in rest:
        raise RecipeError("data.split: with [[data.sources]] give each source its own split")
    pre = _validate(PreprocessConfig, rest, "data")
    assert isinstance(pre, PreprocessConfig)
    raw = table["sources"]
    if not isinstance(raw, list) or not raw:
        raise RecipeError("data.sources: write each source as a [[data.sources]] table")
    if pre.leads is None:
        raise RecipeError(
            "data.leads: a recipe with several sources must name its leads (e.g. ['II']) so "
            "that every source is read into the same channels"
        )
    sources = []
    for i, item in enumerate(raw):
        key = f"data.sources[{i}]"
        comp, own = _component(registry, "dataset", item, key, SourceConfig)
        assert isinstance(own, SourceConfig)
        merged = {**pre.lead_map, **own.lead_map}
        eff = pre.model_copy(update={"split": own.split, "lead_map": merged})
        sources.append(Source(key, comp, eff, own.weight, own))
    return tuple(sources), pre


def data_recipe(
    table: dict[str, Any], path: Path, seed: int = 0, registry: Registry | None = None
) -> DataRecipe:
    """Validate a ``[data]`` table on its own (e.g. for an evaluation task's dataset)."""
    try:
        sources, pre = _data(registry or get_registry(), table)
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    return DataRecipe(path, sources, pre, seed)


def toml_error(path: Path, text: str, exc: Exception) -> str:
    """A TOML syntax error with the offending line quoted (and what a duplicate key means)."""
    msg = str(exc)
    found = re.search(r"line (\d+)", msg)
    if found and 0 < int(found.group(1)) <= len(text.splitlines()):
        number = int(found.group(1))
        line = text.splitlines()[number - 1].strip()
        hint = "; this key is set twice in one table" if "overwrite" in msg.lower() else ""
        return f"{path}: line {number}: `{line}`: not valid TOML ({msg}){hint}"
    return f"{path}: not valid TOML: {msg}"


def _read(path: Path, overrides: list[str] | None) -> dict[str, Any]:
    """A recipe file's TOML with the ``--set`` overrides applied."""
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(toml_error(path, text, exc)) from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a UTF-8 text file") from None
    apply_overrides(doc, overrides or [], path)
    return doc


def load_data_recipe(
    path: str | Path, overrides: list[str] | None = None, registry: Registry | None = None
) -> DataRecipe:
    """The ``[data]`` part of a recipe file (all ``data prepare``/``info``/``embed`` need): a
    file with only ``[data]`` is enough; a full recipe is validated whole."""
    path = Path(path)
    doc = _read(path, overrides)
    if "encoder" in doc or "objective" in doc:
        return recipe_from_dict(doc, path, registry)
    unknown = [k for k in doc if k not in TABLES]
    if unknown:
        hint = did_you_mean(unknown[0], TABLES) or "; tables are: " + ", ".join(TABLES)
        raise RecipeError(f"{path}: {unknown[0]}: unknown table{hint}")
    if "data" not in doc:
        raise RecipeError(f"{path}: [data]: table is missing")
    train = doc.get("train", {})
    seed = train.get("seed", 0) if isinstance(train, dict) else 0
    return data_recipe(doc["data"], path, seed if isinstance(seed, int) else 0, registry)


def load_recipe(
    path: str | Path, overrides: list[str] | None = None, registry: Registry | None = None
) -> Recipe:
    """Read, override (``--set``) and validate a recipe file."""
    path = Path(path)
    return recipe_from_dict(_read(path, overrides), path, registry)
