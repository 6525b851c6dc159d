"""``sls-access trust``, and what an untrusted or changed project file does to every command."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID, DEMO_DASHBOARD
from support import StsProxy

from sls_access.cli import main
from sls_access.dashboard.trust import load_trusted

PROD_ROLE = "arn:aws:iam::111111111111:role/sls-access-prod"
PLANTED = """
[orgs.acme.deployment_profiles.evil]
role_arn = "arn:aws:iam::999999999999:role/planted"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "evil"
"""
TARGET = ["--org", "acme", "--app", "shop", "--stage", "prod"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project() -> Path:
    path = Path.cwd() / "sls-access.toml"
    path.write_text(textwrap.dedent(DEMO_DASHBOARD))
    return path


def test_trust_without_a_file_trusts_the_project_file_found_from_here(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.parent / "sub").mkdir()
    monkeypatch.chdir(project.parent / "sub")
    code, out, err = run(capsys, "trust")
    assert (code, err) == (0, "")
    assert out.startswith(f"trusted {project.resolve()} (sha256 ")
    assert str(project.resolve()) in load_trusted()


def test_trust_without_a_project_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "trust")
    assert (code, out) == (2, "")
    assert err.startswith("sls-access: error: no sls-access.toml in ")
    assert err.count("\n") == 1


def test_trust_refuses_a_file_that_does_not_parse(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    project.write_text("[orgs.acme]\ndeployment_profile = 'missing'\n")
    code, out, err = run(capsys, "trust", str(project))
    assert (code, out) == (2, "")
    assert "missing" in err
    assert load_trusted() == {}


@pytest.mark.usefixtures("project")
def test_an_untrusted_project_file_fails_with_the_trust_command(
    capsys: pytest.CaptureFixture[str], sts: StsProxy
) -> None:
    code, out, err = run(capsys, "credential-process", *TARGET)
    assert (code, out) == (2, "")
    assert f"sls-access trust {Path.cwd() / 'sls-access.toml'}" in err
    assert err.count("\n") == 1
    assert sts.calls["AssumeRole"] == 0


def test_a_trusted_project_file_gives_its_role(
    capsys: pytest.CaptureFixture[str], project: Path, sts: StsProxy
) -> None:
    run(capsys, "trust", str(project))
    code, out, err = run(capsys, "credential-process", *TARGET)
    assert (code, err) == (0, "")
    assert json.loads(out)["AccessKeyId"] != BASE_KEY_ID
    assert sts.requests[-1]["RoleArn"] == PROD_ROLE


def test_a_changed_project_file_fails_again(capsys: pytest.CaptureFixture[str], project: Path, sts: StsProxy) -> None:
    run(capsys, "trust")
    project.write_text(
        textwrap.dedent(DEMO_DASHBOARD + PLANTED).replace(
            '[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = "prod"\n', ""
        )
    )
    code, out, err = run(capsys, "credential-process", *TARGET)
    assert (code, out) == (2, "")
    assert "changed since you trusted it" in err
    assert sts.calls["AssumeRole"] == 0


def test_revoke_stops_the_project_file_being_used(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    run(capsys, "trust")
    code, out, _ = run(capsys, "trust", "--revoke")
    assert (code, out) == (0, f"revoked trust in {project.resolve()}\n")
    code, _, err = run(capsys, "credentials", *TARGET)
    assert code == 2
    assert "not trusted" in err


def test_revoke_of_a_file_never_trusted_says_so(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run(capsys, "trust", "--revoke", str(project))
    assert (code, out) == (0, f"{project.resolve()} was not trusted\n")


def test_explain_names_the_project_file_and_the_role(
    capsys: pytest.CaptureFixture[str], project: Path, sts: StsProxy
) -> None:
    run(capsys, "trust")
    code, out, _ = run(capsys, "explain", *TARGET)
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == f"dashboard: {project.resolve()} (trusted project file)"
    assert lines[2] == f"role: {PROD_ROLE}"
    used = next(line for line in lines if line.startswith("* dashboard"))
    assert f"role {PROD_ROLE} from {project.resolve()} (trusted project file)" in used


def test_explain_json_names_the_project_file_and_the_role(
    capsys: pytest.CaptureFixture[str], project: Path, sts: StsProxy
) -> None:
    run(capsys, "trust")
    code, out, _ = run(capsys, "explain", *TARGET, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["dashboard"] == {"kind": "file", "location": str(project.resolve()), "found_by": "project"}
    assert data["role_arn"] == PROD_ROLE


@pytest.mark.usefixtures("project")
def test_explain_shows_an_untrusted_project_file_as_the_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", *TARGET, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["dashboard"] is None
    assert data["source"] is None
    assert data["trail"][0]["outcome"] == "failed"
    assert "sls-access trust" in data["trail"][0]["reason"]


def test_the_cli_reference_documents_trust_login_and_logout() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "reference" / "cli.md").read_text()
    for heading in ("### `trust`", "### `login`", "### `logout`", "`--revoke`", "login --dashboard FILE_OR_URL"):
        assert heading in reference
