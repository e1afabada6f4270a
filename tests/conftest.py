"""Shared fixtures: a clean registry per test, fake and real plugin installs, data paths."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ssl_ecg.registry import reset_registry

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
EXAMPLE_PLUGIN = REPO / "examples" / "ssl-ecg-simsiam"


# three short synthetic records and a one-block ViT: the smallest recipe that trains
TINY_DATA_AND_ENCODER = """
[data]
name = "synthetic"
n_records = 3
duration_s = 10.0
window_s = 2.0
fs = 100.0
[encoder]
name = "vit1d"
patch = 20
dim = 32
depth = 1
heads = 2
"""


def data_root() -> Path:
    """Real PhysioNet data: $SSL_ECG_TEST_DATA, default ../shared/data beside the repo."""
    return Path(os.environ.get("SSL_ECG_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Prepared data goes to a per-session folder, never the user's cache."""
    old = os.environ.get("SSL_ECG_CACHE")
    os.environ["SSL_ECG_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SSL_ECG_CACHE", None)
    else:
        os.environ["SSL_ECG_CACHE"] = old


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("SSL_ECG_DISABLE_PLUGINS", "SSL_ECG_DISABLE_PLUGIN_AUTOLOAD", "SSL_ECG_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def add_to_path(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Put a folder on sys.path so its modules and *.dist-info entry points are found."""

    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        reset_registry()

    return add


@pytest.fixture
def fake_dist(tmp_path: Path, add_to_path: Callable[[Path], None]) -> Callable[..., Path]:
    """Write a minimal installed distribution (dist-info + modules) and put it on sys.path."""

    def make(name: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
        site = tmp_path / f"site-{name}"
        info = site / f"{name.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
        eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[ssl_ecg]\n{eps}\n")
        for mod, source in modules.items():
            (site / f"{mod}.py").write_text(source)
        for mod in modules:
            sys.modules.pop(mod, None)
        add_to_path(site)
        return site

    return make


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install examples/ssl-ecg-simsiam with pip into a private folder (not the environment)."""
    work = tmp_path_factory.mktemp("simsiam")
    src = work / "src"
    shutil.copytree(EXAMPLE_PLUGIN, src)
    site = work / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
           "--no-build-isolation", "--target", str(site), str(src)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"installing the example plugin failed:\n{done.stderr}"
    return site
