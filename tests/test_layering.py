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
