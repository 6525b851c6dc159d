"""``sls-access login`` and ``logout``: the stored dashboard, and a service key that is never shown."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import DashboardServer, StsProxy

from sls_access.cli import main
from sls_access.dashboard.login import access_key_path, config_path
from sls_access.service.keys import KeyStore

TARGET = ["--org", "acme", "--app", "shop", "--stage", "prod"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_login_with_a_file_then_logout(capsys: pytest.CaptureFixture[str], dashboard: Path) -> None:
    code, out, err = run(capsys, "login", "--dashboard", str(dashboard))
    assert (code, err) == (0, "")
    assert out == f"dashboard {dashboard} stored in {config_path()}\n"
    assert mode(config_path()) == 0o600
    code, out, _ = run(capsys, "logout")
    assert (code, out) == (0, f"removed {config_path()}\n")
    assert not config_path().exists()


def test_the_login_file_is_used_from_any_directory(
    capsys: pytest.CaptureFixture[str], dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "login", "--dashboard", str(dashboard))
    monkeypatch.chdir("/")
    code, out, _ = run(capsys, "explain", *TARGET, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "dashboard"
    assert data["dashboard"] == {"kind": "file", "location": str(dashboard), "found_by": "login"}


def test_login_to_a_service_reads_the_key_from_stdin_and_never_prints_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dashboard_server: DashboardServer,
    sts: StsProxy,
) -> None:
    key = KeyStore(dashboard_server.keys_path).create("acme", "me")[1]
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    code, out, err = run(capsys, "login", "--dashboard", dashboard_server.url)
    assert (code, err) == (0, "")
    assert key not in out
    assert access_key_path().read_text() == key + "\n"
    assert (mode(config_path()), mode(access_key_path())) == (0o600, 0o600)
    code, out, err = run(capsys, "explain", *TARGET, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "dashboard"
    assert data["dashboard"] == {"kind": "service", "location": dashboard_server.url, "found_by": "login"}
    assert data["role_arn"] == "arn:aws:iam::111111111111:role/sls-access-prod"
    assert key not in out + err
    code, out, err = run(capsys, "logout")
    assert code == 0
    assert not access_key_path().exists()
    assert key not in out + err


def test_serverless_access_key_wins_over_the_stored_key(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dashboard_server: DashboardServer,
    sts: StsProxy,
) -> None:
    stored = KeyStore(dashboard_server.keys_path).create("solo", "stored")[1]  # another org's key
    monkeypatch.setattr(sys, "stdin", io.StringIO(stored))
    run(capsys, "login", "--dashboard", dashboard_server.url)
    assert run(capsys, "credentials", *TARGET)[0] == 5  # the stored key is used, and refused for acme
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", KeyStore(dashboard_server.keys_path).create("acme", "env")[1])
    code, out, err = run(capsys, "credentials", *TARGET)
    assert (code, err) == (0, "")
    assert stored not in out


def test_login_to_a_service_without_a_key_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run(capsys, "login", "--dashboard", "https://dash.example.com")
    assert (code, out) == (2, "")
    assert "no access key" in err
    assert not config_path().exists()


def test_login_has_no_flag_for_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "login", "--dashboard", "https://dash.example.com", "--access-key", "s3cret")
    assert code == 2
    assert "s3cret" not in err


def test_login_in_a_subprocess_with_the_key_piped(aws_env: Path) -> None:
    key = "sls-key-piped-0123456789"
    result = subprocess.run(
        [sys.executable, "-m", "sls_access.cli", "login", "--dashboard", "https://dash.example.com"],
        input=key + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout + result.stderr
    assert access_key_path().read_text() == key + "\n"


def test_a_stored_file_that_is_gone_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, dashboard: Path
) -> None:
    copy = tmp_path / "copy.toml"
    copy.write_text(dashboard.read_text())
    run(capsys, "login", "--dashboard", str(copy))
    copy.unlink()
    code, out, err = run(capsys, "credentials", *TARGET)
    assert (code, out) == (2, "")
    assert "sls-access logout" in err
