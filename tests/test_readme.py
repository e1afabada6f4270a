"""The README's promises: its two commands, CI running the test one verbatim, the plugin guide."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def commands() -> list[str]:
    return re.findall(r"^```bash\n(.+?)\n```", README, flags=re.M | re.S)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_cmd = [c for c in commands() if c.endswith("pytest")]
    assert test_cmd == ['pip install -e ".[dev]" && pytest']
    ci = (REPO / ".ci" / "run").read_text()
    assert f"TEST_COMMAND='{test_cmd[0]}'" in ci


def test_main_job_recipe_exists() -> None:
    (main,) = [c for c in commands() if "ssl-ecg train" in c]
    recipe = main.split("ssl-ecg train", 1)[1].split()[0]
    assert (REPO / recipe).is_file()


def test_write_a_plugin_section_is_short() -> None:
    section = README.split("## Write a plugin", 1)[1].split("\n## ", 1)[0]
    assert len(section.strip().splitlines()) <= 40


def test_every_builtin_is_documented() -> None:
    eps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    missing = [name for name in eps["ssl_ecg"] if f"`{name}`" not in README]
    assert not missing, f"README's built-in table lacks {missing}"
