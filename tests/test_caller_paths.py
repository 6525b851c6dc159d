"""Paths worked out for a given environment and directory, not this process's: what the agent relies on.

``expand_user`` and the XDG directories take the ``HOME`` of the environment given, and
``locate_dashboard`` joins a relative dashboard to the directory given: the agent finds
each caller's files as the caller would (``test_agent_caller_env.py`` runs it for real).
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from conftest import DEMO_DASHBOARD

from sls_access import ConfigError, Options
from sls_access._userfiles import config_dir, expand_user, state_dir
from sls_access.dashboard.locate import FoundBy, locate_dashboard
from sls_access.dashboard.login import login, stored_dashboard


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("~", "/home/caller"),
        ("~/", "/home/caller/"),
        ("~/a/b.toml", "/home/caller/a/b.toml"),
        ("/abs/~/x", "/abs/~/x"),
        ("rel/~", "rel/~"),
    ],
)
def test_expand_user_uses_the_given_home(path: str, expected: str) -> None:
    assert expand_user(path, {"HOME": "/home/caller/"}) == expected
    assert expand_user(path, {"HOME": "/home/caller"}) == expected


def test_expand_user_without_home_or_for_another_user_is_the_password_databases() -> None:
    own = pwd.getpwuid(os.getuid()).pw_dir.rstrip("/")
    assert expand_user("~/x", {}) == f"{own}/x"
    root = pwd.getpwuid(0)
    assert expand_user(f"~{root.pw_name}/x", {"HOME": "/home/caller"}) == f"{root.pw_dir.rstrip('/')}/x"
    assert expand_user("~/x") == os.path.expanduser("~/x")  # no environment given: this process's


def test_the_xdg_defaults_are_under_the_given_home() -> None:
    env = {"HOME": "/home/caller"}
    assert config_dir(env) == Path("/home/caller/.config/sls-access")
    assert state_dir(env) == Path("/home/caller/.local/state/sls-access")
    assert config_dir({**env, "XDG_CONFIG_HOME": "relative"}) == Path("/home/caller/.config/sls-access")


def test_a_relative_or_tilde_dashboard_is_the_callers(tmp_path: Path) -> None:
    caller_home, caller_cwd = tmp_path / "caller", tmp_path / "caller" / "work"
    (caller_cwd / "conf").mkdir(parents=True)
    (caller_cwd / "conf" / "d.toml").write_text(DEMO_DASHBOARD)
    (caller_home / "mine.toml").write_text(DEMO_DASHBOARD)
    env = {"HOME": str(caller_home)}
    relative = locate_dashboard(Options(dashboard="conf/../conf/d.toml"), cwd=caller_cwd, environ=env)
    assert relative is not None
    assert relative.location == str(caller_cwd / "conf" / "d.toml")
    assert relative.found_by is FoundBy.OPTION
    tilde = locate_dashboard(Options(dashboard="~/mine.toml"), cwd="/", environ=env)
    assert tilde is not None
    assert tilde.location == str(caller_home / "mine.toml")
    with pytest.raises(ConfigError, match="dashboard file not found"):  # not this process's directory
        locate_dashboard(Options(dashboard="conf/d.toml"), cwd=tmp_path, environ=env)


def test_the_login_setting_is_read_from_the_callers_home(tmp_path: Path) -> None:
    caller = {"HOME": str(tmp_path / "caller")}
    other = {"HOME": str(tmp_path / "other")}
    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text(DEMO_DASHBOARD)
    login(dashboard, environ=caller)
    assert stored_dashboard(caller) == str(dashboard)
    assert stored_dashboard(other) is None
    found = locate_dashboard(Options(), cwd=tmp_path, environ=caller)
    assert found is not None
    assert (found.location, found.found_by) == (str(dashboard), FoundBy.LOGIN)
    assert locate_dashboard(Options(), cwd=tmp_path, environ=other) is None
