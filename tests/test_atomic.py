"""Atomic file replacement (sls_access._atomic): modes, orphans, and nothing half-written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sls_access._atomic import TEMP_PREFIX, remove_orphans, replace_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_new_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    replace_file(target, b"one", new_mode=0o640)
    assert (target.read_bytes(), _mode(target)) == (b"one", 0o640)


def test_an_existing_files_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o604)
    replace_file(target, b"new")
    assert (target.read_bytes(), _mode(target)) == (b"new", 0o604)


def test_mode_is_set_in_any_case_when_given(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o644)
    replace_file(target, b"new", mode=0o600)
    assert _mode(target) == 0o600


def test_a_failed_write_leaves_the_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stub for a fault a real disk rarely gives on demand: the rename fails.
    folder = tmp_path / "folder"
    folder.mkdir()
    target = folder / "f"
    target.write_bytes(b"old")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        replace_file(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["f"]


def test_remove_orphans_removes_only_this_files_temporaries(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    target = folder / "keys.json"
    (folder / f"{TEMP_PREFIX}keys.json.abc").write_bytes(b"half")
    (folder / f"{TEMP_PREFIX}other.json.abc").write_bytes(b"theirs")
    target.write_bytes(b"{}")
    remove_orphans(target)
    assert sorted(p.name for p in folder.iterdir()) == sorted(["keys.json", f"{TEMP_PREFIX}other.json.abc"])
