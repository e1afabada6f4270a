"""The layers stay apart, and a command builds each dataset source once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import TINY_DATA_AND_ENCODER

from ssl_ecg.data.record import RecordSource
from ssl_ecg.recipe import load_recipe
from ssl_ecg.train import train

REPO = Path(__file__).resolve().parents[1]
RECIPE = (
    TINY_DATA_AND_ENCODER
    + """[objective]
name = "mae"
[train]
steps = 2
batch_size = 8
"""
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path, base: Path = REPO) -> str:
    """``ssl_ecg/evaluation/run.py`` -> ``ssl_ecg.evaluation.run``; a package is its folder."""
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = REPO / "ssl_ecg") -> dict[str, set[str]]:
    """Every module under ``root`` -> the modules under it that it imports (anywhere in the file).

    ``import a.b`` and ``from a.b import f`` are edges to ``a.b``; ``from pkg import sub`` is an
    edge to ``pkg.sub`` when that is a module, and to ``pkg`` (its ``__init__``) only when a name
    defined there is imported."""
    files = {module_name(p, root.parent): p for p in sorted(root.rglob("*.py"))}
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    graph = {}
    for module, path in files.items():
        names = imported_modules(path)
        edges = {n for n in names if n in files and n not in packages}
        edges |= {n.rpartition(".")[0] for n in names
                  if n not in files and n.rpartition(".")[0] in files}  # fmt: skip
        graph[module] = edges - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph has none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        path.append(module)
        for n in sorted(graph[module]):
            if n in path:
                return [*path[path.index(n) :], n]
            if n not in done and (cycle := visit(n)):
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (cycle := visit(module)):
            return cycle
    return None


@pytest.mark.parametrize("module", sorted((REPO / "ssl_ecg" / "data").glob("*.py")),
                         ids=lambda p: p.name)  # fmt: skip
def test_the_data_layer_never_imports_recipes_or_building(module: Path) -> None:
    bad = {m for m in imported_modules(module)
           if m.startswith(("ssl_ecg.build", "ssl_ecg.recipe", "ssl_ecg.train"))}  # fmt: skip
    assert not bad, f"{module.name} imports {sorted(bad)}"


def test_imported_modules_sees_imports_inside_functions(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from ssl_ecg.recipe import load_recipe\n")
    assert "ssl_ecg.recipe" in imported_modules(f)


def test_train_computes_the_source_identity_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = RecordSource.identity

    def counted(self: RecordSource) -> str:
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(RecordSource, "identity", counted)
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    train(load_recipe(path), tmp_path / "run", progress=False)
    assert len(calls) == 1, calls


def test_no_function_of_the_core_is_over_60_lines() -> None:
    long = []
    for path in sorted((REPO / "ssl_ecg").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            func = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if func and node.end_lineno - node.lineno + 1 > 60:  # type: ignore[attr-defined]
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")  # type: ignore[attr-defined]
    assert not long, f"split these into named steps: {long}"
    assert len((REPO / "ssl_ecg" / "metrics.py").read_text().splitlines()) <= 200


def test_no_import_cycle_among_the_core_modules() -> None:
    graph = import_graph()
    assert "ssl_ecg.evaluation.run" in graph["ssl_ecg.evaluation"]  # the graph sees the package
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_the_import_graph_finds_a_cycle_through_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "ssl_ecg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from ssl_ecg import a\n")  # a submodule: no edge to pkg
    (pkg / "a.py").write_text("from ssl_ecg.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from ssl_ecg import a\n")
    (pkg / "c.py").write_text("from ssl_ecg import VERSION\n")  # a name: an edge to pkg
    graph = import_graph(pkg)
    assert graph == {"ssl_ecg": {"ssl_ecg.a"}, "ssl_ecg.a": {"ssl_ecg.b"},
                     "ssl_ecg.b": {"ssl_ecg.a"}, "ssl_ecg.c": {"ssl_ecg"}}  # fmt: skip
    assert find_cycle(graph) == ["ssl_ecg.a", "ssl_ecg.b", "ssl_ecg.a"]
