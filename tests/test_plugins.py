"""The loader: entry points only, broken plugins kept, unknown hooks refused, env switches."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from ssl_ecg.errors import PluginError
from ssl_ecg.registry import get_registry

REPO = Path(__file__).resolve().parents[1]

GOOD = """
from ssl_ecg import Config, Spec, hookimpl

class Cfg(Config):
    alpha: float = 1.0

def make(config, context):
    return ("made", config.alpha)

@hookimpl
def register_objectives():
    return [Spec("{name}", make, Cfg, "a test objective")]
"""


def test_every_builtin_comes_from_the_entry_point_table() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
        "ssl_ecg"
    ]
    reg = get_registry()
    own = {p.name: p for p in reg.plugins if p.distribution == "ssl-ecg"}
    assert set(own) == set(declared)
    assert all(p.status == "ok" for p in own.values()), [p.error for p in own.values()]
    provided = {s.plugin for s in reg.list() if s.distribution == "ssl-ecg"}
    assert provided == set(declared), "each built-in entry point must provide a component"


def test_a_plugin_that_fails_to_import_is_listed_as_broken(fake_dist: Callable[..., Path]) -> None:
    fake_dist("ssl-ecg-broken", {"broken_plugin": "raise ImportError('no module named zzz')"},
              {"broken": "broken_plugin"})  # fmt: skip
    reg = get_registry()
    (info,) = [p for p in reg.plugins if p.name == "broken"]
    assert info.status == "broken"
    assert "no module named zzz" in info.error
    assert info.distribution == "ssl-ecg-broken"
    # the rest still works
    assert reg.get("encoder", "vit1d").name == "vit1d"
    # and a lookup that fails mentions the broken plugin
    with pytest.raises(PluginError, match="broken"):
        reg.get("objective", "needs-the-broken-one")


def test_unknown_hook_is_refused_with_the_right_name(fake_dist: Callable[..., Path]) -> None:
    source = GOOD.format(name="typo").replace("def register_objectives", "def register_objective")
    fake_dist("ssl-ecg-typo", {"typo_plugin": source}, {"typo": "typo_plugin"})
    reg = get_registry()
    (info,) = [p for p in reg.plugins if p.name == "typo"]
    assert info.status == "broken"
    assert (
        "register_objective'" in info.error and "did you mean 'register_objectives'" in info.error
    )
    assert "typo" not in reg.names("objective")


def test_a_module_without_hookimpls_is_reported(fake_dist: Callable[..., Path]) -> None:
    source = GOOD.format(name="plain").replace("@hookimpl\n", "")
    fake_dist("ssl-ecg-plain", {"plain_plugin": source}, {"plain": "plain_plugin"})
    (info,) = [p for p in get_registry().plugins if p.name == "plain"]
    assert info.status == "broken" and "hookimpl" in info.error


def test_a_hook_returning_garbage_marks_the_plugin_broken(fake_dist: Callable[..., Path]) -> None:
    source = "from ssl_ecg import hookimpl\n@hookimpl\ndef register_encoders():\n    return ['x']\n"
    fake_dist("ssl-ecg-garbage", {"garbage_plugin": source}, {"garbage": "garbage_plugin"})
    (info,) = [p for p in get_registry().plugins if p.name == "garbage"]
    assert info.status == "broken" and "Spec" in info.error


def test_duplicate_names_name_both_plugins(fake_dist: Callable[..., Path]) -> None:
    fake_dist("ssl-ecg-dupe", {"dupe_plugin": GOOD.format(name="simclr")}, {"dupe": "dupe_plugin"})
    reg = get_registry()
    with pytest.raises(PluginError) as err:
        reg.get("objective", "simclr")
    msg = str(err.value)
    assert "plugin 'simclr' (ssl-ecg" in msg and "plugin 'dupe' (ssl-ecg-dupe" in msg
    rows = [r for r in reg.rows("objective") if r["name"] == "simclr"]
    assert {r["status"] for r in rows} == {"duplicate"} and len(rows) == 2


def test_third_party_spec_is_stamped(fake_dist: Callable[..., Path]) -> None:
    fake_dist("ssl-ecg-good", {"good_plugin": GOOD.format(name="good")}, {"good": "good_plugin"})
    spec = get_registry().get("objective", "good")
    assert (spec.kind, spec.plugin, spec.distribution, spec.version) == (
        "objective", "good", "ssl-ecg-good", "0.0.1",
    )  # fmt: skip


def test_block_list_and_autoload_switches(
    fake_dist: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dist("ssl-ecg-good", {"good_plugin": GOOD.format(name="good")}, {"good": "good_plugin"})
    from ssl_ecg.registry import reset_registry

    monkeypatch.setenv("SSL_ECG_DISABLE_PLUGINS", "good,mae")
    reset_registry()
    reg = get_registry()
    assert "good" not in reg.names("objective") and "mae" not in reg.names("objective")
    assert {p.name: p.status for p in reg.plugins}["good"] == "disabled"

    monkeypatch.delenv("SSL_ECG_DISABLE_PLUGINS")
    monkeypatch.setenv("SSL_ECG_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_registry()
    reg = get_registry()
    assert "good" not in reg.names("objective") and "mae" in reg.names("objective")

    monkeypatch.setenv("SSL_ECG_PLUGINS", "good")
    reset_registry()
    assert "good" in get_registry().names("objective")


def test_unknown_name_lists_available_and_close_matches() -> None:
    with pytest.raises(PluginError) as err:
        get_registry().get("encoder", "vit1")
    msg = str(err.value)
    assert "did you mean 'vit1d'" in msg and "resnet1d" in msg


def test_list_with_pattern_and_kind() -> None:
    reg = get_registry()
    assert [s.name for s in reg.list(pattern="vit*")] == ["vit1d"]
    assert {s.kind for s in reg.list(kind="augmentation")} == {"augmentation"}
    with pytest.raises(PluginError, match="kinds are"):
        reg.get("encoders", "vit1d")


COMMANDS = """
import typer
from ssl_ecg import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command("hello")
    def hello(name: str = "ecg") -> None:
        typer.echo(f"hello {name}")
"""


def test_plugins_add_cli_commands(fake_dist: Callable[..., Path]) -> None:
    import typer
    from typer.testing import CliRunner

    fake_dist("ssl-ecg-hello", {"hello_plugin": COMMANDS}, {"hello": "hello_plugin"})
    failing = COMMANDS.replace("@cli.command", "raise RuntimeError('nope')\n    @cli.command")
    fake_dist("ssl-ecg-sad", {"sad_plugin": failing}, {"sad": "sad_plugin"})
    cli = typer.Typer()

    @cli.command("noop")
    def noop() -> None: ...

    reg = get_registry()
    reg.add_commands(cli)
    result = CliRunner().invoke(cli, ["hello", "--name", "lead-II"])
    assert result.exit_code == 0 and result.stdout == "hello lead-II\n"
    (sad,) = [p for p in reg.plugins if p.name == "sad"]
    assert sad.status == "broken" and "nope" in sad.error


TWIN = """
from ssl_ecg import Config, Spec, hookimpl


@hookimpl
def register_objectives():
    return [Spec(name="twin", factory=lambda config, context: None, config=Config)]
"""


def test_one_name_from_two_distributions_is_refused_naming_both(
    fake_dist: Callable[..., Path],
) -> None:
    fake_dist("ssl-ecg-twin-a", {"twin_a": TWIN}, {"twin-a": "twin_a"})
    fake_dist("ssl-ecg-twin-b", {"twin_b": TWIN}, {"twin-b": "twin_b"})
    with pytest.raises(PluginError, match="provided twice") as err:
        get_registry().get("objective", "twin")
    assert "ssl-ecg-twin-a" in str(err.value) and "ssl-ecg-twin-b" in str(err.value)
    assert "SSL_ECG_DISABLE_PLUGINS=" in str(err.value)
