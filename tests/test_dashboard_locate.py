"""Where the dashboard comes from: option, trusted project file, login, default; fail closed."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from conftest import DEMO_DASHBOARD
from support import StsProxy

from sls_access import ConfigError, Options, Resolver, Target
from sls_access.dashboard.locate import (
    DashboardKind,
    FoundBy,
    default_file,
    find_project_file,
    locate_dashboard,
    nothing_found,
)
from sls_access.dashboard.login import login
from sls_access.dashboard.trust import trust

OTHER = """
[orgs.acme.deployment_profiles.evil]
role_arn = "arn:aws:iam::999999999999:role/planted"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "evil"
"""
PROD = Target(org="acme", app="shop", stage="prod")


def project(directory: Path, text: str = DEMO_DASHBOARD) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sls-access.toml"
    path.write_text(textwrap.dedent(text))
    return path


def role_of(options: Options = Options()) -> str:  # noqa: B008 - a frozen value
    location = locate_dashboard(options)
    assert location is not None
    link = location.load().link(PROD)
    assert link is not None
    return link.profile.role_arn


def test_nothing_anywhere_is_none() -> None:
    assert locate_dashboard(Options()) is None


def test_nothing_found_names_where_it_looked() -> None:
    reason = nothing_found()
    assert f"sls-access.toml in {os.getcwd()} or a parent" in reason
    assert str(default_file()) in reason
    assert "SLS_ACCESS_DASHBOARD" in reason
    assert "sls-access login" in reason


def test_the_option_wins_over_a_trusted_project_file(dashboard: Path) -> None:
    trust(project(Path.cwd(), OTHER))
    location = locate_dashboard(Options(dashboard=str(dashboard)))
    assert location is not None
    assert (location.kind, location.location, location.found_by) == (DashboardKind.FILE, str(dashboard), FoundBy.OPTION)


def test_an_option_file_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        locate_dashboard(Options(dashboard=str(tmp_path / "missing.toml")))
    assert info.value.key == "dashboard"


def test_an_option_url_is_a_service() -> None:
    location = locate_dashboard(Options(dashboard="https://dash.example.com"))
    assert location is not None
    assert (location.kind, location.found_by) == (DashboardKind.SERVICE, FoundBy.OPTION)


def test_a_trusted_project_file_in_the_current_directory_is_used() -> None:
    path = project(Path.cwd())
    trust(path)
    location = locate_dashboard(Options())
    assert location is not None
    assert (location.location, location.found_by) == (str(path.resolve()), FoundBy.PROJECT)
    assert role_of() == "arn:aws:iam::111111111111:role/sls-access-prod"


def test_a_trusted_project_file_in_a_parent_directory_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    path = project(Path.cwd())
    trust(path)
    deep = Path.cwd() / "src" / "deep"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_project_file() == path
    assert role_of() == "arn:aws:iam::111111111111:role/sls-access-prod"


def test_the_nearest_project_file_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    trust(project(Path.cwd(), OTHER))
    inner = project(Path.cwd() / "inner")
    trust(inner)
    monkeypatch.chdir(inner.parent)
    assert role_of() == "arn:aws:iam::111111111111:role/sls-access-prod"


def test_the_search_starts_from_the_given_cwd(tmp_path: Path) -> None:
    path = project(tmp_path / "elsewhere")
    assert find_project_file(tmp_path / "elsewhere") == path
    assert find_project_file() is None


def test_an_untrusted_project_file_is_an_error_naming_it_and_the_command(dashboard: Path) -> None:
    path = project(Path.cwd(), OTHER)
    default_file().parent.mkdir(parents=True)
    default_file().write_text(dashboard.read_text())  # not a reason to skip the planted file
    with pytest.raises(ConfigError, match="not trusted") as info:
        locate_dashboard(Options())
    assert info.value.path == str(path.resolve())
    assert f"sls-access trust {path.resolve()}" in str(info.value)


def test_a_project_file_changed_after_trust_is_an_error() -> None:
    path = project(Path.cwd())
    trust(path)
    path.write_text(
        textwrap.dedent(
            DEMO_DASHBOARD + OTHER.replace('[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = "evil"\n', "")
        )
    )
    with pytest.raises(ConfigError, match="changed since you trusted it") as info:
        locate_dashboard(Options())
    assert f"sls-access trust {path.resolve()}" in str(info.value)


def test_an_untrusted_project_file_in_a_parent_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    project(Path.cwd(), OTHER)
    (Path.cwd() / "sub").mkdir()
    monkeypatch.chdir(Path.cwd() / "sub")
    with pytest.raises(ConfigError, match="not trusted"):
        locate_dashboard(Options())


def test_a_broken_project_file_link_is_an_error_not_a_skip() -> None:
    (Path.cwd() / "sls-access.toml").symlink_to(Path.cwd() / "gone.toml")
    with pytest.raises(ConfigError, match="cannot read the project dashboard file"):
        locate_dashboard(Options())


def test_an_unreadable_project_file_in_a_parent_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    (Path.cwd() / "sls-access.toml").mkdir()  # there, but no file can be read from it
    (Path.cwd() / "sub").mkdir()
    monkeypatch.chdir(Path.cwd() / "sub")
    with pytest.raises(ConfigError, match="cannot read the dashboard file"):
        locate_dashboard(Options())


def test_the_checked_bytes_are_the_bytes_parsed() -> None:
    path = project(Path.cwd())
    trust(path)
    location = locate_dashboard(Options())
    assert location is not None
    path.write_text(textwrap.dedent(OTHER))  # swapped after the check
    link = location.load().link(PROD)
    assert link is not None
    assert link.profile.role_arn == "arn:aws:iam::111111111111:role/sls-access-prod"


def test_the_login_dashboard_comes_after_the_project_file(dashboard: Path, tmp_path: Path) -> None:
    login(dashboard)
    location = locate_dashboard(Options())
    assert location is not None
    assert (location.location, location.found_by) == (str(dashboard), FoundBy.LOGIN)
    trust(project(tmp_path / "work", OTHER))
    assert role_of() == "arn:aws:iam::999999999999:role/planted"


def test_a_project_file_stored_with_login_gets_the_same_answer_in_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project(tmp_path / "acme")
    login(path)  # the user's own choice: no trust asked for it, from any directory
    path.write_text(textwrap.dedent(DEMO_DASHBOARD).replace("sls-access-prod", "sls-access-prod-v2"))
    answers = []
    for directory in (Path("/"), tmp_path / "acme", tmp_path / "acme" / "sub"):
        directory.mkdir(exist_ok=True)
        monkeypatch.chdir(directory)
        location = locate_dashboard(Options())
        assert location is not None
        answers.append((location.location, location.found_by, role_of()))
    assert answers == [(str(path), FoundBy.LOGIN, "arn:aws:iam::111111111111:role/sls-access-prod-v2")] * 3


def test_a_project_file_beside_a_login_elsewhere_still_needs_trust(dashboard: Path) -> None:
    login(dashboard)
    project(Path.cwd(), OTHER)
    with pytest.raises(ConfigError, match="not trusted"):
        locate_dashboard(Options())


def test_the_api_raises_an_untrusted_file_error_once_not_chained_to_copies_of_itself() -> None:
    project(Path.cwd())
    with pytest.raises(ConfigError, match="not trusted") as info:
        Resolver().credentials("acme", "shop", "prod")
    error = info.value
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert "(plugin" not in str(error)  # the built-in dashboard source is sls-access itself
    assert error.plugin == "dashboard"  # still said, as data
    assert error.resolution is not None  # the trail comes with it


def test_a_login_file_that_is_gone_is_an_error_not_a_skip(dashboard: Path) -> None:
    copy = dashboard.with_name("copy.toml")
    copy.write_text(dashboard.read_text())
    login(copy)
    default_file().parent.mkdir(parents=True, exist_ok=True)
    default_file().write_text(dashboard.read_text())
    copy.unlink()
    with pytest.raises(ConfigError, match="stored by 'sls-access login' does not exist"):
        locate_dashboard(Options())


def test_a_login_url_is_a_service() -> None:
    login("https://dash.example.com/", "a-key")
    location = locate_dashboard(Options())
    assert location is not None
    assert (location.kind, location.location, location.found_by) == (
        DashboardKind.SERVICE,
        "https://dash.example.com",
        FoundBy.LOGIN,
    )


def test_the_default_file_comes_last(dashboard: Path) -> None:
    default_file().parent.mkdir(parents=True)
    default_file().write_text(dashboard.read_text())
    location = locate_dashboard(Options())
    assert location is not None
    assert (location.location, location.found_by) == (str(default_file()), FoundBy.DEFAULT)


def test_a_location_names_the_file_and_how_it_was_found() -> None:
    trust(project(Path.cwd()))
    location = locate_dashboard(Options())
    assert str(location) == f"{Path.cwd() / 'sls-access.toml'} (trusted project file)"
    assert "content" not in repr(location)


def test_an_access_key_put_in_the_dashboard_option_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sls_0123456789ab_" + "S" * 43
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", key)
    with pytest.raises(ConfigError, match="looks like a dashboard access key") as raised:
        Resolver().credentials("acme", "shop", "prod")
    assert key not in str(raised.value)
    assert "S" * 43 not in repr(raised.value)


def test_a_resolver_keeps_its_first_dashboard_when_the_directory_changes(
    monkeypatch: pytest.MonkeyPatch, sts: StsProxy
) -> None:
    trust(project(Path.cwd() / "a"))
    trust(project(Path.cwd() / "b", OTHER))
    monkeypatch.chdir(Path.cwd() / "a")
    resolver = Resolver()
    assert resolver.credentials("acme", "shop", "prod").role_arn == "arn:aws:iam::111111111111:role/sls-access-prod"
    monkeypatch.chdir(Path.cwd().parent / "b")
    with pytest.raises(ConfigError, match="the dashboard changed since this resolver first used one"):
        resolver.credentials("acme", "shop", "staging")  # not cached: b's planted link is never entered
    assert sts.calls["AssumeRole"] == 1


def test_a_dashboard_gone_from_a_resolver_does_not_let_local_keys_in(
    monkeypatch: pytest.MonkeyPatch, sts: StsProxy
) -> None:
    trust(project(Path.cwd() / "a"))
    (Path.cwd() / "elsewhere").mkdir()
    monkeypatch.chdir(Path.cwd() / "a")
    resolver = Resolver()
    assert resolver.credentials("acme", "shop", "prod").source == "dashboard"
    monkeypatch.chdir(Path.cwd().parent / "elsewhere")
    with pytest.raises(ConfigError, match="now no dashboard"):
        resolver.credentials("acme", "shop", "staging")  # the base keys in AWS_* would apply otherwise
