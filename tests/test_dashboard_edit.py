"""Editing the dashboard file for link/unlink: comments kept, conflicts refused, written atomically."""

from __future__ import annotations

import os
import stat
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import DEMO_DASHBOARD

from sls_access.dashboard.edit import (
    LinkSpec,
    ProfileSpec,
    check_writable,
    decode,
    diff,
    link_profile,
    links_using,
    locked,
    unlink_profile,
    validate,
    write_atomically,
)
from sls_access.dashboard.file import parse_dashboard_file
from sls_access.errors import ConfigError

COMMENTED = textwrap.dedent("""\
    # The acme dashboard: every change is reviewed.
    [orgs.acme.deployment_profiles.sandbox]   # the sandbox account
    role_arn = "arn:aws:iam::222222222222:role/sandbox"   # made by hand
    """)
ROLE = "arn:aws:iam::123456789012:role/sls-access-acme-prod"
PROFILE = ProfileSpec(role_arn=ROLE, external_id="sls-0123456789", account_id="123456789012", region="eu-west-1")


def added_lines(old: str, new: str) -> list[str]:
    lines = diff(old, new, "f", shown=(PROFILE.external_id,)).splitlines()[2:]
    assert not [line for line in lines if line.startswith("-")]  # nothing removed or changed
    return [line[1:] for line in lines if line.startswith("+")]


def test_a_new_profile_and_link_are_added_and_comments_and_layout_kept() -> None:
    new = link_profile(
        COMMENTED, "f", org="acme", name="prod", profile=PROFILE, link=LinkSpec(app="shop", stage="prod"), replace=False
    )
    assert new.startswith(COMMENTED)
    assert [line for line in added_lines(COMMENTED, new) if line] == [
        "[orgs.acme.deployment_profiles.prod]",
        f'role_arn = "{ROLE}"',
        'external_id = "sls-0123456789"',
        'account_id = "123456789012"',
        'region = "eu-west-1"',
        "duration_seconds = 3600",
        "[orgs.acme.apps.shop.stages.prod]",
        'deployment_profile = "prod"',
    ]
    link = parse_dashboard_file(new.encode(), "f").orgs["acme"].apps["shop"].stages["prod"]
    assert link.profile == "prod"


def test_a_region_link_is_a_stage_and_region_table() -> None:
    new = link_profile(
        COMMENTED,
        "f",
        org="acme",
        name="prod",
        profile=PROFILE,
        link=LinkSpec(app="shop", stage="prod", region="eu-west-1"),
        replace=False,
    )
    assert "[orgs.acme.apps.shop.stages.prod.regions.eu-west-1]" in new
    validate(new, "f")


def test_a_new_org_is_added_to_a_file_with_other_orgs() -> None:
    old = textwrap.dedent(DEMO_DASHBOARD)
    new = link_profile(old, "f", org="beta", name="prod", profile=PROFILE, link=None, replace=False)
    assert new.startswith(old)
    assert parse_dashboard_file(new.encode(), "f").orgs["beta"].profiles["prod"].role_arn == ROLE


def test_an_existing_profile_with_another_role_is_refused_without_replace() -> None:
    with pytest.raises(
        ConfigError,
        match=r"orgs\.acme\.deployment_profiles\.sandbox: deployment profile "
        r"'sandbox' exists with another role .*--replace",
    ):
        link_profile(COMMENTED, "f", org="acme", name="sandbox", profile=PROFILE, link=None, replace=False)


def test_replace_rewrites_the_profiles_values_and_keeps_its_comment() -> None:
    new = link_profile(COMMENTED, "f", org="acme", name="sandbox", profile=PROFILE, link=None, replace=True)
    assert "# the sandbox account" in new
    profile = parse_dashboard_file(new.encode(), "f").orgs["acme"].profiles["sandbox"]
    assert (profile.role_arn, profile.region, profile.account_id) == (ROLE, "eu-west-1", "123456789012")


def test_the_same_role_again_updates_the_profile_without_replace() -> None:
    once = link_profile(COMMENTED, "f", org="acme", name="prod", profile=PROFILE, link=None, replace=False)
    again = ProfileSpec(role_arn=ROLE, external_id="sls-rotated000", account_id="123456789012")
    twice = link_profile(once, "f", org="acme", name="prod", profile=again, link=None, replace=False)
    profile = parse_dashboard_file(twice.encode(), "f").orgs["acme"].profiles["prod"]
    assert (profile.external_id, profile.region) == ("sls-rotated000", "eu-west-1")


TUNED = textwrap.dedent("""\
    [orgs.acme.deployment_profiles.prod]
    role_arn = "arn:aws:iam::123456789012:role/sls-access-acme-prod"
    external_id = "sls-old0000000"
    account_id = "123456789012"
    region = "eu-west-1"   # prod lives in Ireland
    sessions = "per_key"
    """)


def test_linking_the_same_role_again_keeps_the_keys_not_given_and_their_comments() -> None:
    again = ProfileSpec(role_arn=ROLE, external_id="sls-rotated000", account_id="123456789012")
    new = link_profile(TUNED, "f", org="acme", name="prod", profile=again, link=None, replace=False)
    assert 'region = "eu-west-1"   # prod lives in Ireland\n' in new
    assert 'sessions = "per_key"\n' in new
    assert 'external_id = "sls-rotated000"\n' in new


def test_replacing_the_role_drops_the_old_roles_other_keys() -> None:
    other = ProfileSpec(
        role_arn="arn:aws:iam::123456789012:role/other", external_id="sls-rotated000", account_id="123456789012"
    )
    new = link_profile(TUNED, "f", org="acme", name="prod", profile=other, link=None, replace=True)
    assert "region" not in new
    assert "sessions" not in new


def test_a_stage_linked_to_another_profile_is_refused_without_replace() -> None:
    with pytest.raises(
        ConfigError,
        match=r"orgs\.acme\.apps\.shop\.stages\.prod: already linked to "
        r"deployment profile 'prod'",
    ):
        link_profile(
            textwrap.dedent(DEMO_DASHBOARD),
            "f",
            org="acme",
            name="new",
            profile=PROFILE,
            link=LinkSpec(app="shop", stage="prod"),
            replace=False,
        )


def test_per_key_sessions_are_written_as_text() -> None:
    # The strict parser learns `sessions` with per-key role sessions (merged separately): text only here.
    profile = ProfileSpec(role_arn=ROLE, external_id="sls-0123456789", account_id="123456789012", sessions="per_key")
    new = link_profile(COMMENTED, "f", org="acme", name="prod", profile=profile, link=None, replace=False)
    assert 'sessions = "per_key"' in added_lines(COMMENTED, new)


def test_links_using_lists_every_level() -> None:
    assert links_using(textwrap.dedent(DEMO_DASHBOARD), "f", "acme", "prod") == ["orgs.acme.apps.shop.stages.prod"]
    assert links_using(textwrap.dedent(DEMO_DASHBOARD), "f", "acme", "sandbox") == ["orgs.acme"]
    assert links_using(textwrap.dedent(DEMO_DASHBOARD), "f", "acme", "eu") == [
        "orgs.acme.apps.shop.stages.prod.regions.eu-west-1"
    ]


def test_unlink_refuses_a_profile_links_use_and_lists_them() -> None:
    with pytest.raises(
        ConfigError,
        match=r"'eu' is still linked from orgs\.acme\.apps\.shop\.stages\.prod\."
        r"regions\.eu-west-1; ",
    ):
        unlink_profile(textwrap.dedent(DEMO_DASHBOARD), "f", org="acme", name="eu")


def test_unlink_removes_an_unused_profile_and_nothing_else() -> None:
    other = '\n[orgs.acme.deployment_profiles.other]  # kept\nrole_arn = "arn:aws:iam::333333333333:role/o"\n'
    new = unlink_profile(COMMENTED + other, "f", org="acme", name="sandbox")
    assert new == "# The acme dashboard: every change is reviewed.\n" + other.lstrip("\n")


def test_unlink_of_a_missing_profile_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no such deployment profile"):
        unlink_profile(COMMENTED, "f", org="acme", name="nope")


def test_diff_masks_every_external_id_on_both_sides() -> None:
    other = ProfileSpec(
        role_arn="arn:aws:iam::123456789012:role/other", external_id="sls-new0000000", account_id="123456789012"
    )
    neighbour = (
        '\n[orgs.acme.deployment_profiles.next]\nrole_arn = "arn:aws:iam::1:role/n"\nexternal_id = "sls-next000000"\n'
    )
    old = TUNED + neighbour
    shown = diff(old, link_profile(old, "f", org="acme", name="prod", profile=other, link=None, replace=True), "f")
    assert "sls-old0000000" not in shown
    assert "sls-new0000000" not in shown
    assert "sls-next000000" not in shown
    assert ' external_id = "…"' in shown.splitlines()  # context: the same line, masked on both sides


@pytest.mark.parametrize(
    "layout",
    [
        'prod = { role_arn = "arn:aws:iam::1:role/p", external_id = "sls-inline00000" }',
        'prod.role_arn = "arn:aws:iam::1:role/p"\nprod.external_id = "sls-inline00000"',
        'prod.role_arn = "arn:aws:iam::1:role/p"\nprod.external_id = """sls-inline00000"""',
        "prod.role_arn = 'arn:aws:iam::1:role/p'\nprod.external_id = 'sls-inline00000'",
    ],
)
def test_diff_masks_an_external_id_in_any_layout(layout: str) -> None:
    old = f"[orgs.acme.deployment_profiles]\n{layout}\n"
    new = "# a comment above it\n" + old
    shown = diff(old, new, "f")
    assert "# a comment above it" in shown
    assert "sls-inline00000" not in shown


def test_diff_shows_an_external_id_named_as_no_secret() -> None:
    again = ProfileSpec(role_arn=ROLE, external_id="placeholder", account_id="123456789012")
    new = link_profile(TUNED, "f", org="acme", name="prod", profile=again, link=None, replace=False)
    assert '+external_id = "placeholder"' in diff(TUNED, new, "f", shown=("placeholder",)).splitlines()


def test_a_file_that_is_not_utf8_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^f: not UTF-8 text \(byte 1\); nothing was changed$"):
        decode(b"#\xff\n", "f")


def test_a_missing_directory_under_a_writable_one_is_writable(tmp_path: Path) -> None:
    check_writable(tmp_path / "config" / "sls-access" / "dashboard.toml")  # no error


def test_a_new_file_in_a_missing_directory_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "config" / "sls-access" / "dashboard.toml"
    write_atomically(path, COMMENTED, previous=None)
    assert path.read_text() == COMMENTED
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_lock_makes_a_second_writer_wait(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.toml"
    entered = threading.Event()

    def second() -> None:
        with locked(path):
            entered.set()

    with locked(path):
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.3)  # flock: another open of the lock file waits
    assert entered.wait(5)
    thread.join()


def test_a_lock_file_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.toml"
    elsewhere = tmp_path / "elsewhere"
    os.symlink(elsewhere, tmp_path / "dashboard.toml.lock")
    with pytest.raises(ConfigError, match="cannot open the dashboard file's lock"), locked(path):
        pass
    assert not elsewhere.exists()


def test_write_keeps_the_mode_and_the_previous_content_as_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.toml"
    path.write_text(COMMENTED)
    path.chmod(0o640)
    backup = write_atomically(path, COMMENTED + "# more\n", previous=COMMENTED.encode())
    assert path.read_text() == COMMENTED + "# more\n"
    assert backup == tmp_path / "dashboard.toml.bak"
    assert backup.read_text() == COMMENTED
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("dashboard", ".dashboard"))) == [
        "dashboard.toml",
        "dashboard.toml.bak",
    ]  # no temporary file left


def test_a_new_file_is_private_and_has_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.toml"
    assert write_atomically(path, COMMENTED, previous=None) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_changed_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.toml"
    path.write_text(COMMENTED + "# edited meanwhile\n")
    with pytest.raises(ConfigError, match="changed while linking"):
        write_atomically(path, "x = 1\n", previous=COMMENTED.encode())
    assert path.read_text() == COMMENTED + "# edited meanwhile\n"


def test_a_read_only_file_is_refused_before_any_change(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.toml"
    path.write_text(COMMENTED)
    path.chmod(0o444)
    with pytest.raises(ConfigError, match="the dashboard file is read-only: nothing was changed"):
        check_writable(path)
