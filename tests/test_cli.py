"""The ``sls-access`` commands, run in-process through ``main(argv)`` against the loopback STS."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID, BASE_SECRET, DEMO_DASHBOARD
from support import PluginSite, StsProxy, assume_role_answer, free_port, sts_error

import sls_access
import sls_access._api
from sls_access.cli import COMMANDS, main

PROD_ROLE = "arn:aws:iam::111111111111:role/sls-access-prod"
PROD_ASSUMED = "arn:aws:sts::111111111111:assumed-role/sls-access-prod/sls-acme.shop.prod"
OTHER_ACCOUNT_ASSUMED = PROD_ASSUMED.replace("111111111111", "999999999999")

# Stage keys with a session token, so that every secret-bearing field is exercised.
STAGE_KEY_ID = "AKIASTAGEKEY00000009"
STAGE_SECRET = "stage-secret-0123456789abcdefghijklmnopqrst"
STAGE_TOKEN = "stage-token-FwoGZXIvYXdzEJr//////////wEaDMaUoTokenValue+/="


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def target(dashboard: Path | None = None, stage: str = "prod", *extra: str) -> list[str]:
    argv = ["--org", "acme", "--app", "shop", "--stage", stage, *extra]
    if dashboard is not None:
        argv += ["--dashboard", str(dashboard)]
    return argv


@pytest.fixture
def stage_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEV_ACCESS_KEY_ID", STAGE_KEY_ID)
    monkeypatch.setenv("AWS_DEV_SECRET_ACCESS_KEY", STAGE_SECRET)
    monkeypatch.setenv("AWS_DEV_SESSION_TOKEN", STAGE_TOKEN)


# --- credential-process -----------------------------------------------------------------


def test_credential_process_prints_version_1_json_and_nothing_else(
    capsys: pytest.CaptureFixture[str], dashboard: Path, sts: StsProxy
) -> None:
    code, out, err = run(capsys, "credential-process", *target(dashboard))
    assert (code, err) == (0, "")
    document = json.loads(out)  # the whole of stdout is one JSON document
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert document["Version"] == 1
    assert document["AccessKeyId"] != BASE_KEY_ID
    assert document["Expiration"].endswith("Z")
    expiration = datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert datetime.now(UTC) < expiration <= datetime.now(UTC) + timedelta(hours=1, minutes=1)
    assert sts.calls["AssumeRole"] == 1
    assert sts.requests[-1]["RoleArn"] == PROD_ROLE


def test_credential_process_leaves_out_expiration_and_token_for_static_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "credential-process", *target())
    assert code == 0
    assert json.loads(out) == {"Version": 1, "AccessKeyId": BASE_KEY_ID, "SecretAccessKey": BASE_SECRET}


def test_credential_process_refuses_to_loop_on_its_own_target(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sts: StsProxy, dashboard: Path
) -> None:
    # What a profile that runs sls-access and is also AWS_PROFILE for sls-access itself leads to.
    monkeypatch.setenv("SLS_ACCESS_CREDENTIAL_PROCESS_ACTIVE", "acme/shop/prod/")
    code, out, err = run(capsys, "credential-process", *target(dashboard))
    assert (code, out) == (2, "")
    assert "credential_process loop" in err
    assert sts.calls["AssumeRole"] == 0
    code, out, _ = run(capsys, "credential-process", *target(dashboard, "dev"))
    assert code == 0
    assert os.environ["SLS_ACCESS_CREDENTIAL_PROCESS_ACTIVE"] == "acme/shop/prod/"


# --- credentials ---------------------------------------------------------------------


def test_credentials_json_has_keys_region_and_source(capsys: pytest.CaptureFixture[str], dashboard: Path) -> None:
    code, out, _ = run(capsys, "credentials", *target(dashboard, "prod", "--region", "eu-west-1"))
    assert code == 0
    document = json.loads(out)
    assert document["Source"] == "dashboard"
    assert document["Region"] == "eu-west-1"
    assert document["SessionToken"]
    assert document["Expiration"].endswith("Z")


def test_credentials_env_format_is_eval_able_by_a_shell(
    capsys: pytest.CaptureFixture[str], dashboard: Path, stage_keys: None
) -> None:
    code, out, _ = run(capsys, "credentials", "--org", "solo", "--app", "x", "--stage", "dev", "--format", "env")
    assert code == 0
    assert all(line.startswith(("export AWS_", "unset AWS_")) for line in out.splitlines())
    shell = subprocess.run(
        ["sh", "-c", 'eval "$SLS_OUT"; env'],
        env={"SLS_OUT": out, "PATH": os.environ["PATH"], "AWS_PROFILE": "stale"},
        capture_output=True,
        text=True,
        check=True,
    )
    env = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
    assert env["AWS_ACCESS_KEY_ID"] == STAGE_KEY_ID
    assert env["AWS_SECRET_ACCESS_KEY"] == STAGE_SECRET
    assert env["AWS_SESSION_TOKEN"] == STAGE_TOKEN
    assert "AWS_PROFILE" not in env  # unset, so that no tool prefers the profile to the keys


def test_credentials_env_format_unsets_an_older_sessions_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "credentials", *target(), "--format", "env")
    assert code == 0
    shell = subprocess.run(
        ["sh", "-c", 'eval "$SLS_OUT"; env'],
        env={"SLS_OUT": out, "PATH": os.environ["PATH"], "AWS_SESSION_TOKEN": "old-token"},
        capture_output=True,
        text=True,
        check=True,
    )
    env = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
    assert env["AWS_ACCESS_KEY_ID"] == BASE_KEY_ID
    assert "AWS_SESSION_TOKEN" not in env


def test_credentials_dotenv_format_with_region_from_the_deployment_profile(
    capsys: pytest.CaptureFixture[str], dashboard: Path
) -> None:
    # acme/web falls to the org default, deployment profile "sandbox", whose region is us-east-1.
    code, out, _ = run(
        capsys,
        "credentials",
        "--org",
        "acme",
        "--app",
        "web",
        "--stage",
        "dev",
        "--dashboard",
        str(dashboard),
        "--format",
        "dotenv",
    )
    assert code == 0
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert set(env) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    }
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] != BASE_KEY_ID


def test_option_flags_win_over_environment_variables(
    capsys: pytest.CaptureFixture[str], dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))
    for flags, source in (
        ((), "dashboard"),
        (("--use-local-credentials",), "env"),
        (("--sources", "env,dashboard"), "env"),
    ):
        code, out, _ = run(capsys, "credentials", *target(), *flags)
        assert code == 0
        assert json.loads(out)["Source"] == source


def test_profile_flag_picks_the_profile_source(
    capsys: pytest.CaptureFixture[str], aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (aws_env / "aws-credentials").write_text(
        textwrap.dedent("""
        [deployer]
        aws_access_key_id = AKIAPROFILE000000007
        aws_secret_access_key = profile-secret
    """)
    )
    code, out, _ = run(capsys, "credentials", *target(), "--profile", "deployer", "--sources", "profile")
    assert code == 0
    assert json.loads(out)["AccessKeyId"] == "AKIAPROFILE000000007"


# --- explain -------------------------------------------------------------------------


def test_explain_table_marks_the_winner_and_shows_every_source(
    capsys: pytest.CaptureFixture[str], dashboard: Path
) -> None:
    code, out, err = run(capsys, "explain", *target(dashboard))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "acme/shop/prod: credentials from dashboard"
    header = lines.index("") + 1  # after the head, the dashboard and the role
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in lines[header + 1 :]}
    assert rows["dashboard"].startswith("*")
    assert "used" in rows["dashboard"]
    assert "not tried" in rows["env"]
    assert "an earlier source applied" in rows["profile"]
    assert lines[header].split() == ["SOURCE", "OUTCOME", "WHY"]


@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
def test_explain_prints_what_str_of_the_apis_explain_gives_dashboard_line_included(
    capsys: pytest.CaptureFixture[str], dashboard: Path, offline: bool
) -> None:
    flags = ["--offline"] if offline else []
    code, out, err = run(capsys, "explain", *target(dashboard), *flags)
    assert (code, err) == (0, "")
    sls_access._api.registry.clear()
    api = str(sls_access.explain("acme", "shop", "prod", dashboard=str(dashboard), offline=offline))
    assert f"dashboard: {dashboard} (the dashboard option / --dashboard / SLS_ACCESS_DASHBOARD)" in api.splitlines()
    keys = re.compile(r"keys \S+ until \S+")  # the CLI's keys and the API's come from two AssumeRole calls
    assert keys.sub("keys K until T", out) == keys.sub("keys K until T", api + "\n")


def test_explain_json_lists_why_each_source_was_skipped(
    capsys: pytest.CaptureFixture[str], dashboard: Path, stage_keys: None
) -> None:
    code, out, _ = run(
        capsys, "explain", "--org", "nobody", "--app", "x", "--stage", "dev", "--dashboard", str(dashboard), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "env"
    assert data["target"] == {"org": "nobody", "app": "x", "stage": "dev", "region": None}
    trail = {row["source"]: row for row in data["trail"]}
    assert trail["dashboard"]["outcome"] == "skipped"
    assert "'nobody'" in trail["dashboard"]["reason"]
    assert trail["env"]["winner"] is True
    assert trail["profile"]["outcome"] == "not tried"
    assert STAGE_SECRET not in out
    assert STAGE_TOKEN not in out


def test_explain_shows_a_fail_closed_failure_without_raising(
    capsys: pytest.CaptureFixture[str], dashboard: Path, sts: StsProxy
) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "not trusted") if action == "AssumeRole" else None
    code, out, err = run(capsys, "explain", *target(dashboard))
    assert (code, err) == (0, "")
    assert "FAILED (AccessRoleError)" in out.splitlines()[0]
    assert "AccessDenied" in out
    assert "an earlier source failed" in out


# --- whoami --------------------------------------------------------------------------


def test_whoami_shows_the_assumed_role(capsys: pytest.CaptureFixture[str], dashboard: Path, sts: StsProxy) -> None:
    code, out, err = run(capsys, "whoami", *target(dashboard))
    assert (code, err) == (0, "")
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert fields["Account"].strip() == "111111111111"
    assert fields["Arn"].strip() == PROD_ASSUMED
    assert fields["Source"].strip() == "dashboard"
    assert sts.calls["GetCallerIdentity"] == 1


def test_whoami_json_never_prints_the_secret(capsys: pytest.CaptureFixture[str], stage_keys: None) -> None:
    code, out, _ = run(capsys, "whoami", "--org", "a", "--app", "b", "--stage", "dev", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"Account", "Arn", "UserId", "Source", "Region"}
    assert data["Source"] == "env"
    assert STAGE_SECRET not in out
    assert STAGE_TOKEN not in out


# --- plugins -------------------------------------------------------------------------

PLUGIN = """
from sls_access import Credentials, DashboardError
from sls_access.plugin import hookimpl
from sls_access.plugin import Skip


class RemoteSource:
    name = "remote"

    def load(self, target):
        if target.org == "refused":
            raise DashboardError("the dashboard refused the access key", status=401)
        if target.org == "broken":
            raise RuntimeError("remote exploded")
        raise Skip("remote knows no such org")


@hookimpl
def sls_access_sources(options):
    return [RemoteSource()]
"""


@pytest.fixture
def plugin(site: PluginSite) -> None:
    """A third-party plugin installed like a package: a module and its dist-info on sys.path."""
    site.install("remote", PLUGIN, dist="sls-access-remote", module="sls_access_remote_cli_plugin")


@pytest.mark.usefixtures("plugin")
def test_plugins_lists_sources_in_chain_order_with_versions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    data = json.loads(out)
    assert [row["source"] for row in data["chain"]] == ["dashboard", "remote", "env", "profile"]
    assert [row["builtin"] for row in data["chain"]] == [True, False, True, True]
    assert [p["name"] for p in data["plugins"]][:4] == ["dashboard", "remote", "env", "profile"]  # chain order
    versions = {p["name"]: (p["distribution"], p["version"]) for p in data["plugins"]}
    assert versions["remote"] == ("sls-access-remote", "2.0.1")
    from sls_access import __version__  # noqa: PLC0415

    assert versions["env"] == ("sls-access", __version__)


@pytest.mark.usefixtures("plugin")
def test_plugins_text_respects_disable_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins")
    assert "remote" in out
    assert "sls-access-remote 2.0.1" in out
    code, out, _ = run(capsys, "plugins", "--disable-plugins", "remote")
    assert code == 0
    chain, plugins = out.split("\nplugins:\n")
    assert chain.startswith("sources, in chain order:")
    assert "remote" not in chain
    assert [line.split()[-1] for line in plugins.splitlines() if line.split()[0] == "remote"] == ["disabled"]


# --- errors: one line on stderr, nothing on stdout, a code per class -------------------


@pytest.fixture
def no_base_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


def broken_dashboard(tmp_path: Path) -> list[str]:
    path = tmp_path / "broken.toml"
    path.write_text("[orgs.acme\n")
    return ["--dashboard", str(path)]


def strict_dashboard(tmp_path: Path) -> list[str]:
    """The demo dashboard with stage prod protected org-wide and the prod profile pinned to its account."""
    text = (
        textwrap.dedent(DEMO_DASHBOARD)
        .replace(
            'deployment_profile = "sandbox"\n',
            'deployment_profile = "sandbox"\nprotected_stages = ["prod"]\n',
            1,
        )
        .replace(f'role_arn = "{PROD_ROLE}"\n', f'role_arn = "{PROD_ROLE}"\naccount_id = "111111111111"\n')
    )
    path = tmp_path / "strict.toml"
    path.write_text(text)
    return ["--dashboard", str(path)]


ERRORS = [
    # (id, argv after the command, fixtures, exit code, text in the error line)
    ("unknown-flag", ["credentials", *target(), "--nope"], (), 2, "unrecognized arguments: --nope"),
    ("missing-stage", ["credentials", "--org", "a", "--app", "b"], (), 2, "--stage"),
    ("bad-format", ["credentials", *target(), "--format", "yaml"], (), 2, "invalid choice: 'yaml'"),
    ("unknown-command", ["nope"], (), 2, "invalid choice: 'nope'"),
    ("bad-name", ["credentials", "--org", "a/b", "--app", "b", "--stage", "c"], (), 2, "org"),
    ("bad-region", ["credentials", *target(), "--region", "Mars"], (), 2, "region"),
    ("unknown-source", ["explain", *target(), "--sources", "env,nope"], (), 2, "'nope'"),
    ("broken-dashboard", ["credential-process", *target()], ("broken",), 2, "broken.toml"),
    ("no-credentials", ["credential-process", *target()], ("no_base_keys",), 3, "no AWS credentials for"),
    ("access-role", ["credential-process", *target()], ("dashboard", "denied"), 4, PROD_ROLE),
    (
        "name-slip",
        ["credential-process", "--org", "acmee", "--app", "shop", "--stage", "prod"],
        ("dashboard",),
        2,
        "did you mean 'acme'?",
    ),
    ("stage-case", ["credentials", *target(stage="PROD")], ("dashboard",), 2, "did you mean 'prod'?"),
    (
        "protected-stage",
        ["credentials", "--org", "acme", "--app", "blog", "--stage", "prod"],
        ("strict",),
        2,
        "orgs.acme.protected_stages: stage 'prod' is protected",
    ),
    (
        "other-account",
        ["credential-process", *target()],
        ("strict", "other_account"),
        4,
        "not in the deployment profile's account 111111111111",
    ),
    ("no-base-keys", ["whoami", *target()], ("dashboard", "no_base_keys"), 4, "no base AWS credentials"),
    (
        "protected-local-keys",
        ["credentials", *target(), "--use-local-credentials"],
        ("strict",),
        2,
        "stage 'prod' is protected: use_local_credentials",
    ),
    (
        "dashboard-service",
        ["credentials", "--org", "refused", "--app", "a", "--stage", "s"],
        ("plugin",),
        5,
        "refused the access key",
    ),
    (
        "dashboard-unreachable",
        ["credentials", *target()],
        ("closed_service", "access_key"),
        5,
        "is unreachable: connection refused",
    ),
    ("service-without-access-key", ["credentials", *target()], ("closed_service",), 2, "SERVERLESS_ACCESS_KEY"),
    (
        "plugin-failure",
        ["credentials", "--org", "broken", "--app", "a", "--stage", "s"],
        ("plugin",),
        1,
        "source 'remote' failed: RuntimeError: remote exploded",
    ),
    ("whoami-sts-down", ["whoami", *target()], ("sts_down",), 1, "GetCallerIdentity"),
]


@pytest.mark.parametrize(
    ("argv", "needs", "expected", "text"), [pytest.param(*case[1:], id=case[0]) for case in ERRORS]
)
def test_each_error_class_is_one_stderr_line_and_its_exit_code(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sts: StsProxy,
    argv: list[str],
    needs: tuple[str, ...],
    expected: int,
    text: str,
) -> None:
    argv = list(argv)
    for need in needs:
        if need == "broken":
            argv += broken_dashboard(tmp_path)
        elif need == "strict":
            argv += strict_dashboard(tmp_path)
        elif need == "other_account":
            # A stub answer: a real STS cannot enter a role in another account than its ARN names.
            sts.fault = lambda action: assume_role_answer(OTHER_ACCOUNT_ASSUMED) if action == "AssumeRole" else None
        elif need == "dashboard":
            argv += ["--dashboard", str(request.getfixturevalue("dashboard"))]
        elif need == "denied":
            sts.fault = lambda action: sts_error("AccessDenied", "no trust") if action == "AssumeRole" else None
        elif need == "closed_service":
            argv += ["--dashboard", f"http://127.0.0.1:{free_port()}"]  # nothing listens there
        elif need == "access_key":
            request.getfixturevalue("monkeypatch").setenv("SERVERLESS_ACCESS_KEY", "sls_test_not-a-real-key")
        elif need == "sts_down":
            sts.fault = lambda action: (
                sts_error("InvalidClientTokenId", "bad keys") if action == "GetCallerIdentity" else None
            )
        else:
            request.getfixturevalue(need)
    code, out, err = run(capsys, *argv)
    assert code == expected
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("sls-access: error: ")
    assert text in err
    assert "Traceback" not in err
    assert BASE_SECRET not in err
    assert "not-a-real-key" not in err
    # Only a plugin the user installed is named: the built-ins are sls-access itself.
    assert not re.search(r"\(plugin '(dashboard|env|profile|assume-role)'\)", err), err


def test_credential_process_with_require_role_and_no_link_exits_3_without_keys(
    capsys: pytest.CaptureFixture[str], dashboard: Path
) -> None:
    code, out, err = run(
        capsys,
        "credential-process",
        "--org",
        "solo",
        "--app",
        "web",
        "--stage",
        "dev",
        "--dashboard",
        str(dashboard),
        "--require-role",
    )
    assert (code, out) == (3, "")
    assert "env: skipped (not consulted: require_role is set" in err
    assert "profile: skipped (not consulted: require_role is set" in err
    assert BASE_KEY_ID not in err


def test_debug_adds_the_traceback_and_still_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], no_base_keys: None
) -> None:
    code, out, err = run(capsys, "--debug", "credentials", *target())
    assert (code, out) == (3, "")
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("sls-access: error: no AWS credentials")


def test_debug_logging_does_not_outlive_the_command(capsys: pytest.CaptureFixture[str], no_base_keys: None) -> None:
    logger = logging.getLogger("sls_access")
    before = (list(logger.handlers), logger.level)
    run(capsys, "--debug", "credentials", *target())
    assert (list(logger.handlers), logger.level) == before


def test_debug_flag_after_the_command_works_too(capsys: pytest.CaptureFixture[str], no_base_keys: None) -> None:
    code, _, err = run(capsys, "credentials", *target(), "--debug")
    assert code == 3
    assert "Traceback" in err


def test_errors_never_carry_secrets(
    capsys: pytest.CaptureFixture[str], stage_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", "AKsls-dashboard-access-key-secret")
    monkeypatch.setenv("SLS_ACCESS_SOURCES", "profile")
    code, out, err = run(capsys, "credentials", "--org", "a", "--app", "b", "--stage", "dev")
    assert (code, out) == (3, "")
    for secret in (STAGE_SECRET, STAGE_TOKEN, BASE_SECRET, "AKsls-dashboard-access-key-secret"):
        assert secret not in err


# --- help and version ----------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from sls_access import __version__  # noqa: PLC0415

    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"sls-access {__version__}\n")


CLIENT_COMMANDS = ("credentials", "credential-process", "exec", "explain", "whoami", "plugins")


def test_the_client_commands_are_registered() -> None:
    assert {name.replace("_", "-") for name in COMMANDS} >= set(CLIENT_COMMANDS)


@pytest.mark.parametrize("command", CLIENT_COMMANDS)
def test_every_command_has_help_listing_the_option_flags(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: sls-access {command}")
    for flag in (
        "--dashboard",
        "--use-local-credentials",
        "--profile",
        "--sources",
        "--disable-plugins",
        "SERVERLESS_ACCESS_KEY",
    ):
        assert flag in out


@pytest.mark.parametrize("command", [c for c in CLIENT_COMMANDS if c != "plugins"])
def test_every_command_that_resolves_takes_a_target(capsys: pytest.CaptureFixture[str], command: str) -> None:
    _, out, _ = run(capsys, command, "--help")
    assert "--org" in out


def test_access_key_is_not_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "credentials", *target(), "--access-key", "AKsecret")
    assert (code, out) == (2, "")
    assert "unrecognized arguments: --access-key" in err
    assert "AKsecret" not in err  # values of unknown flags are not echoed: they may be secrets


def test_importing_sls_access_does_not_import_the_cli() -> None:
    code = "import sys, sls_access; print('argparse' in sys.modules, 'sls_access.cli' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# --- the reference documents what the parser has -------------------------------------


def test_cli_reference_documents_every_command_flag_and_exit_code() -> None:
    from sls_access.cli import _common, build_parser  # noqa: PLC0415

    reference = (Path(__file__).parent.parent / "docs" / "reference" / "cli.md").read_text()
    parser = build_parser()
    for command in CLIENT_COMMANDS:
        assert f"### `{command}`" in reference
        sub = parser.commands[command]
        assert isinstance(sub, _common.CliParser)
        assert "--help" in sub.option_strings  # what it records is every option string
        for flag in sub.option_strings:
            if flag not in ("-h", "--help"):
                assert f"`{flag}" in reference, (command, flag)
    for name in dir(_common):
        if name.startswith("EXIT_"):
            assert f"\n| {getattr(_common, name)} |" in reference, name


def test_dotenv_output_quotes_what_is_not_plain() -> None:
    from sls_access.cli.credentials import _dotenv_quote  # noqa: PLC0415 - the unit under test

    assert _dotenv_quote("FQoGZXIvYXdzE+/abc==") == "FQoGZXIvYXdzE+/abc=="
    assert _dotenv_quote('to$k"en`x\\') == '"to\\$k\\"en\\`x\\\\"'


def _binary(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sls_access.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )


def test_a_bare_sls_access_prints_the_help() -> None:
    result = _binary()
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: sls-access")
    assert "credential-process" in result.stdout


@pytest.mark.parametrize("command", ["credentials", "explain", "exec", "credential-process", "whoami"])
def test_a_commands_help_has_one_options_heading(command: str) -> None:
    result = _binary(command, "--help")
    assert result.returncode == 0
    assert [line for line in result.stdout.splitlines() if line == "options:"] == ["options:"]


def test_an_unknown_flag_points_to_the_commands_own_help() -> None:
    result = _binary("explain", "--org", "a", "--app", "b", "--stage", "c", "--bogus")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "sls-access: error: unrecognized arguments: --bogus (see 'sls-access explain --help')"
    )


def test_exec_without_a_command_starts_the_users_shell_with_the_credentials(tmp_path: Path, dashboard: Path) -> None:
    shell = tmp_path / "fake-shell"
    shell.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        "print('served' if os.environ.get('AWS_CONTAINER_CREDENTIALS_FULL_URI') else 'none')\n"
        "sys.exit(7)\n"
    )
    shell.chmod(0o755)
    result = _binary("exec", *target(), "--dashboard", str(dashboard), env={**os.environ, "SHELL": str(shell)})
    assert result.returncode == 7, result.stderr
    assert result.stdout.strip() == "served"


@pytest.mark.parametrize("command", [["keys", "list"], ["dashboard", "export"], ["serve"]])
def test_a_state_url_with_a_password_on_the_command_line_is_refused_without_showing_it(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # A command line lands in ps and shell history: the password belongs in SLS_ACCESS_STATE.
    code, out, err = run(capsys, *command, "--state", "postgresql://deploy:hunter2-s3cret@127.0.0.1:1/state")
    assert code == 2
    assert out == ""
    assert "SLS_ACCESS_STATE" in err
    assert "hunter2-s3cret" not in err


def test_serve_refuses_a_negative_audit_retention(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "serve", "--audit-days", "-1")
    assert (code, out) == (2, "")
    assert "--audit-days must be 0" in err
