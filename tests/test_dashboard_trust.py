"""Trust records of project dashboard files: what is recorded, where, and what is refused."""

from __future__ import annotations

import hashlib
import json
import stat
import textwrap
from pathlib import Path

import pytest
from conftest import DEMO_DASHBOARD

from sls_access import ConfigError
from sls_access.dashboard.trust import check_trusted, digest, load_trusted, revoke, trust, trust_path, trust_problem


@pytest.fixture
def project() -> Path:
    path = Path.cwd() / "sls-access.toml"
    path.write_text(textwrap.dedent(DEMO_DASHBOARD))
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_trust_records_the_resolved_path_and_sha256(project: Path) -> None:
    path, sha256 = trust(project)
    assert path == str(project.resolve())
    assert sha256 == hashlib.sha256(project.read_bytes()).hexdigest()
    assert json.loads(trust_path().read_text()) == {"version": 1, "files": {path: sha256}}


def test_trust_of_given_content_records_those_bytes_not_the_files(project: Path) -> None:
    written = project.read_bytes()
    project.write_bytes(written + b"# changed after the write\n")
    path, sha256 = trust(project, content=written)
    assert sha256 == digest(written)
    with pytest.raises(ConfigError, match="has changed since you trusted it"):
        check_trusted(path, project.read_bytes())


def test_the_state_file_is_0600_in_a_0700_directory(aws_env: Path, project: Path) -> None:
    trust(project)
    assert trust_path() == aws_env / ".local" / "state" / "sls-access" / "trusted.json"
    assert mode(trust_path()) == 0o600
    assert mode(trust_path().parent) == 0o700


def test_trust_through_a_symlink_records_the_file_it_points_to(project: Path) -> None:
    link = Path.cwd() / "sub" / "sls-access.toml"
    link.parent.mkdir()
    link.symlink_to(project)
    path, _ = trust(link)
    assert path == str(project.resolve())


def test_a_file_that_does_not_parse_is_refused(project: Path) -> None:
    project.write_text("[orgs.acme]\ndeployment_profile = 'missing'\n")
    with pytest.raises(ConfigError, match="missing"):
        trust(project)
    assert load_trusted() == {}


def test_a_file_not_named_sls_access_toml_is_refused(dashboard: Path) -> None:
    with pytest.raises(ConfigError, match=r"only project files named sls-access\.toml"):
        trust(dashboard)


def test_a_missing_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        trust("sls-access.toml")


def test_revoke_forgets_the_file(project: Path) -> None:
    trust(project)
    assert revoke(project) == (str(project.resolve()), True)
    assert load_trusted() == {}
    assert revoke(project) == (str(project.resolve()), False)


def test_trust_problem_is_none_for_the_recorded_bytes_only() -> None:
    records = {"/p/sls-access.toml": digest(b"a")}
    assert trust_problem("/p/sls-access.toml", b"a", records) is None
    assert "changed" in (trust_problem("/p/sls-access.toml", b"b", records) or "")
    assert "not trusted" in (trust_problem("/q/sls-access.toml", b"a", records) or "")


def test_a_state_file_others_can_write_is_refused(project: Path) -> None:
    trust(project)
    trust_path().chmod(0o622)
    with pytest.raises(ConfigError, match="writable by group or others"):
        load_trusted()


def test_a_malformed_state_file_is_refused() -> None:
    trust_path().parent.mkdir(parents=True)
    trust_path().write_text('{"version": 1, "files": {"relative": "x"}}')
    trust_path().chmod(0o600)
    with pytest.raises(ConfigError, match="not a trust file"):
        load_trusted()
