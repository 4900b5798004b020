"""The folder `platform/` is the package `wuye` and never shadows the stdlib `platform`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_stdlib_platform_is_not_shadowed_from_the_repo_root():
    out = subprocess.run(
        [sys.executable, "-c", "import uuid, platform; print(platform.system())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() in {"Linux", "Darwin", "Windows"}
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    roots = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("*.py"):
            rel = init.parent.relative_to(folder)
            if "__pycache__" not in rel.parts:
                found.add(".".join((name, *rel.parts)))
    assert found == listed


def test_python_dash_m_wuye_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "wuye", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "tenant" in out.stdout and "migrate" in out.stdout
