"""The noxfile: sessions run on a supported CPython that is there, and never pass having run nothing."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import warnings
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_noxfile() -> ModuleType:
    """Import the noxfile as nox does: from the project directory (it reads pyproject.toml)."""
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():  # each test loads it again: nox warns that sessions are registered again
        warnings.filterwarnings("ignore", "The session .* has already been registered", FutureWarning)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def only_on_path(monkeypatch: pytest.MonkeyPatch, *versions: str) -> None:
    real = shutil.which
    monkeypatch.setattr(
        shutil,
        "which",
        lambda name, *a, **k: (
            f"/opt/python{name[6:]}"
            if name.startswith("python") and name[6:] in versions
            else None
            if name.startswith("python3.")
            else real(name, *a, **k)
        ),
    )


def test_a_machine_with_only_python_3_12_runs_the_sessions_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    only_on_path(monkeypatch, "3.12")
    assert load_noxfile().PYTHON == "3.12"


def test_3_11_is_preferred_when_several_are_there(monkeypatch: pytest.MonkeyPatch) -> None:
    only_on_path(monkeypatch, "3.13", "3.11", "3.12")
    assert load_noxfile().PYTHON == "3.11"


def test_with_no_supported_python_the_run_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    only_on_path(monkeypatch)
    monkeypatch.setattr(sys, "version_info", SimpleNamespace(major=3, minor=10))
    noxfile = load_noxfile()
    import nox  # noqa: PLC0415

    assert noxfile.PYTHON == "3.11"  # asked for, and missing:
    assert nox.options.error_on_missing_interpreters is True  # an error, never a skip
