"""The version is written once (``sls_access/_version.py``); the installed metadata reads it from there."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import sls_access

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_distribution_has_the_package_version() -> None:
    assert importlib.metadata.version("sls-access") == sls_access.__version__


def test_pyproject_takes_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sls_access._version.__version__"}


def test_the_changelog_has_a_section_for_this_version() -> None:
    assert f"## {sls_access.__version__}" in (ROOT / "CHANGELOG.md").read_text()
