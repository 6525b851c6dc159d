"""What ``sls-access login`` stores: the user's dashboard, and a service's access key."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sls_access import ConfigError
from sls_access.dashboard.login import (
    access_key_path,
    config_path,
    login,
    logout,
    stored_access_key,
    stored_dashboard,
    toml_string,
)

KEY = "sls-key-0123456789abcdef"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_file_is_stored_as_an_absolute_path(aws_env: Path, dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(dashboard.parent)
    assert login("dashboard.toml") == str(dashboard)
    assert stored_dashboard() == str(dashboard)
    assert config_path() == aws_env / ".config" / "sls-access" / "config.toml"
    assert mode(config_path()) == 0o600


def test_a_broken_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[orgs.acme]\nnope = 1\n")
    with pytest.raises(ConfigError, match="unknown key"):
        login(path)
    assert stored_dashboard() is None


def test_a_service_url_is_stored_with_its_key_0600() -> None:
    assert login("https://dash.example.com/", KEY) == "https://dash.example.com"
    assert stored_dashboard() == "https://dash.example.com"
    assert mode(access_key_path()) == 0o600
    assert stored_access_key("https://dash.example.com") == KEY


def test_a_service_url_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs an access key"):
        login("https://dash.example.com", "")
    assert not config_path().exists()


def test_the_key_goes_to_the_stored_url_only() -> None:
    login("https://dash.example.com", KEY)
    assert stored_access_key("https://other.example.com") is None


def test_a_file_login_removes_a_stored_key(dashboard: Path) -> None:
    login("https://dash.example.com", KEY)
    login(dashboard)
    assert not access_key_path().exists()


def test_logout_removes_both_files() -> None:
    login("https://dash.example.com", KEY)
    assert logout() == [config_path(), access_key_path()]
    assert stored_dashboard() is None
    assert logout() == []


def test_a_key_file_others_can_read_is_refused() -> None:
    login("https://dash.example.com", KEY)
    access_key_path().chmod(0o644)
    with pytest.raises(ConfigError, match="readable or writable by group or others") as info:
        stored_access_key("https://dash.example.com")
    assert KEY not in str(info.value)


def test_a_relative_stored_path_is_refused() -> None:
    config_path().parent.mkdir(parents=True)
    config_path().write_text('dashboard = "dashboard.toml"\n')
    config_path().chmod(0o600)
    with pytest.raises(ConfigError, match="absolute path"):
        stored_dashboard()


@given(st.text())
def test_toml_string_round_trips(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value
