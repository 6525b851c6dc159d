"""``sls-access exec``: the child's environment, its exit code and signals, as real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID, BASE_SECRET
from support import StsProxy, sts_error

EU_ASSUMED = "arn:aws:sts::333333333333:assumed-role/sls-access-eu/sls-acme.shop.prod"

# The child prints its AWS_* variables and the identity STS sees for them.
SHOW_ENV = """
import json, os, botocore.session
env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
sts = botocore.session.Session().create_client("sts")
env["identity"] = sts.get_caller_identity()["Arn"]
env["keep"] = os.environ.get("SLS_TEST_KEEP")
print(json.dumps(env))
"""

# The child reports the first signal it gets to a file, then exits 42.
TRAP = """
import os, signal, sys, time
out = sys.argv[1]
def handler(signum, frame):
    with open(out, "w") as f:
        f.write(signal.Signals(signum).name)
    sys.exit(42)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(sig, handler)
open(out + ".ready", "w").close()
while True:
    time.sleep(0.05)
"""


def sls_access() -> list[str]:
    return [sys.executable, "-m", "sls_access.cli"]


def exec_argv(dashboard: Path, *command: str, region: str | None = "eu-west-1") -> list[str]:
    argv = [*sls_access(), "exec", "--org", "acme", "--app", "shop", "--stage", "prod", "--dashboard", str(dashboard)]
    if region:
        argv += ["--region", region]
    return [*argv, "--", *command]


def env_keys_argv(dashboard: Path, *command: str) -> list[str]:
    argv = exec_argv(dashboard, *command)
    argv.insert(argv.index("--"), "--env-keys")
    return argv


def _parent_credentials(monkeypatch: pytest.MonkeyPatch, aws_env: Path) -> None:
    (aws_env / "aws-config").write_text("[profile parent-profile]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_PROFILE", "parent-profile")
    monkeypatch.setenv("AWS_PROD_ACCESS_KEY_ID", "AKIAPARENTPROD000001")
    monkeypatch.setenv("AWS_PROD_SECRET_ACCESS_KEY", "parent-prod-secret")
    monkeypatch.setenv("AWS_PROD_PROFILE", "parent-prod-profile")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/parent")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/parent")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "parent-container-token")
    monkeypatch.setenv("SLS_TEST_KEEP", "kept")


PARENT_ONLY = (
    "AWS_PROFILE",
    "AWS_PROD_ACCESS_KEY_ID",
    "AWS_PROD_SECRET_ACCESS_KEY",
    "AWS_PROD_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def test_child_is_served_the_roles_credentials_and_gets_no_keys_in_its_environment(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy, aws_env: Path
) -> None:
    _parent_credentials(monkeypatch, aws_env)
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", SHOW_ENV), capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    env = json.loads(result.stdout)
    assert env["identity"] == EU_ASSUMED  # the child's SDK reads the role's keys from the endpoint
    for absent in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        *PARENT_ONLY,
    ):
        assert absent not in env
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != "http://127.0.0.1:9/parent"
    assert len(env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) >= 40
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["keep"] == "kept"
    assert env["AWS_ENDPOINT_URL"] == sts.url  # non-credential AWS settings pass through
    assert sts.calls["AssumeRole"] == 1  # the endpoint serves the keys exec resolved


def test_env_keys_gives_the_child_the_roles_keys_and_none_of_the_parents(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy, aws_env: Path
) -> None:
    _parent_credentials(monkeypatch, aws_env)
    result = subprocess.run(
        env_keys_argv(dashboard, sys.executable, "-c", SHOW_ENV), capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    env = json.loads(result.stdout)
    assert env["identity"] == EU_ASSUMED  # the child's SDK uses the role's keys
    assert env["AWS_ACCESS_KEY_ID"] not in (BASE_KEY_ID, "AKIAPARENTPROD000001")
    assert env["AWS_SESSION_TOKEN"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_CREDENTIAL_EXPIRATION"].endswith("Z")
    for removed in (*PARENT_ONLY, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        assert removed not in env
    assert env["keep"] == "kept"
    assert sts.calls["AssumeRole"] == 1


# The child prints its whole environment: names with "-" or "." included.
SHOW_ALL = "import json, os; print(json.dumps(dict(os.environ)))"


def child_env(argv: list[str], **extra: str) -> dict[str, str]:
    """Run *argv* with the test's environment plus *extra* (any names); return what the child saw."""
    result = subprocess.run(argv, env={**os.environ, **extra}, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    env: dict[str, str] = json.loads(result.stdout)
    return env


def test_every_stages_keys_and_profile_are_removed_whatever_the_stage_holds(dashboard: Path, aws_env: Path) -> None:
    # The Serverless Framework reads AWS_${stage.toUpperCase()}_* verbatim, for any stage.
    (aws_env / "aws-config").write_text("[profile parent-default]\nregion = us-east-1\n")
    odd = {
        "AWS_PRE-PROD_ACCESS_KEY_ID": "AKIAPREPROD000000001",
        "AWS_PRE-PROD_SECRET_ACCESS_KEY": "pp-secret",
        "AWS_Staging_PROFILE": "staging",
        "AWS_X.Y_SESSION_TOKEN": "x.y-token",
        "AWS_DEV_ACCESS_KEY_ID": "AKIAOTHERSTAGE000001",
        "AWS_DEFAULT_PROFILE": "parent-default",
    }
    env = child_env(exec_argv(dashboard, sys.executable, "-c", SHOW_ALL), **odd)
    assert sorted(set(odd) & set(env)) == []


def test_the_childs_own_keys_survive_the_removal(dashboard: Path, sts: StsProxy) -> None:
    env = child_env(env_keys_argv(dashboard, sys.executable, "-c", SHOW_ALL), AWS_PROD_PROFILE="parent-prod")
    assert list(sts.issued) == [env["AWS_ACCESS_KEY_ID"]]  # the role's, set after the parent's were removed
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"} <= set(env)


def test_the_dashboard_access_key_does_not_reach_the_child(dashboard: Path) -> None:
    env = child_env(exec_argv(dashboard, sys.executable, "-c", SHOW_ALL), SERVERLESS_ACCESS_KEY="sls-key-not-for-child")
    assert "SERVERLESS_ACCESS_KEY" not in env


def test_both_region_variables_carry_the_deployment_profiles_region(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # acme/web/dev: the org default "sandbox", region us-east-1; the parent says ap-south-1.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    argv = [
        *sls_access(),
        "exec",
        "--org",
        "acme",
        "--app",
        "web",
        "--stage",
        "dev",
        "--dashboard",
        str(dashboard),
        "--",
        sys.executable,
        "-c",
        SHOW_ALL,
    ]
    env = child_env(argv)
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == ("us-east-1", "us-east-1")


def test_region_variables_are_left_alone_when_the_region_is_unknown(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", SHOW_ENV, region=None), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    env = json.loads(result.stdout)
    assert env["AWS_REGION"] == "ap-south-1"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"  # the parent's, from the test environment


@pytest.mark.parametrize("mode", ["served", "env-keys"])
@pytest.mark.parametrize("given", ["AWS_DEFAULT_REGION", "AWS_REGION"])
def test_a_region_passed_on_from_the_parent_is_set_in_both_variables(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch, mode: str, given: str
) -> None:
    # The AWS SDK for JavaScript v3 reads only AWS_REGION, the AWS CLI v1 only AWS_DEFAULT_REGION.
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv(given, "ap-south-1")
    argv = exec_argv(dashboard, sys.executable, "-c", SHOW_ALL, region=None)
    if mode == "env-keys":
        argv.insert(argv.index("--"), "--env-keys")
    env = child_env(argv)
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == ("ap-south-1", "ap-south-1")


def test_exit_code_of_the_child_is_returned(dashboard: Path) -> None:
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", "import sys; sys.exit(7)"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 7
    assert (result.stdout, result.stderr) == ("", "")  # exec itself prints nothing, least of all keys


def test_a_child_killed_by_a_signal_gives_128_plus_the_signal(dashboard: Path) -> None:
    kill_self = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    result = subprocess.run(exec_argv(dashboard, sys.executable, "-c", kill_self), check=False)
    assert result.returncode == 128 + signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1])
def test_signals_sent_to_sls_access_reach_the_child(dashboard: Path, tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "signal"
    # No terminal here (stdin, stdout and stderr are not ttys), so SIGINT is passed on too.
    proc = subprocess.Popen(
        exec_argv(dashboard, sys.executable, "-c", TRAP, str(out)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = Path(f"{out}.ready")
        while not ready.exists():  # waits for the child's handler, however long that takes
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 42, stderr
    assert out.read_text() == sig.name
    assert stdout == b""


def test_unknown_command_exits_127_with_one_line(dashboard: Path) -> None:
    result = subprocess.run(
        exec_argv(dashboard, "sls-access-no-such-command"), capture_output=True, text=True, check=False
    )
    assert result.returncode == 127
    assert result.stdout == ""
    assert result.stderr == "sls-access: error: command not found: sls-access-no-such-command\n"


def test_a_file_that_is_not_executable_exits_126(dashboard: Path, tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    result = subprocess.run(exec_argv(dashboard, str(script)), capture_output=True, text=True, check=False)
    assert result.returncode == 126
    assert result.stderr.startswith("sls-access: error: cannot run ")


def test_fail_closed_the_command_does_not_run(dashboard: Path, tmp_path: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "no trust") if action == "AssumeRole" else None
    marker = tmp_path / "ran"
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", f"open({str(marker)!r}, 'w')"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 4
    assert not marker.exists()
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "AccessDenied" in result.stderr
    assert BASE_SECRET not in result.stderr


def test_exec_works_without_the_double_dash(dashboard: Path) -> None:
    argv = exec_argv(dashboard, sys.executable, "-c", "import sys; sys.exit(3)")
    argv.remove("--")
    assert subprocess.run(argv, check=False).returncode == 3


def test_options_after_the_command_belong_to_the_command(dashboard: Path) -> None:
    show_args = "import sys, json; print(json.dumps(sys.argv[1:]))"
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", show_args, "--org", "x", "--help"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == ["--org", "x", "--help"]


def test_environment_removal_list_is_documented() -> None:
    from sls_access.cli.exec import REMOVED_VARIABLES  # noqa: PLC0415

    reference = (Path(__file__).parent.parent / "docs" / "reference" / "cli.md").read_text()
    for name in REMOVED_VARIABLES:
        assert f"`{name}`" in reference
    assert os.environ.get("SLS_ACCESS_CREDENTIAL_PROCESS_ACTIVE") is None


# The child asks its endpoint without, with a wrong and with the right token, and another
# path; prints the statuses, the keys' id and its URL.
PROBE = """
import json, os, urllib.request, urllib.error
url, token = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
def status(target, auth):
    request = urllib.request.Request(target, headers={} if auth is None else {"Authorization": auth})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
result = {"none": status(url, None)[0], "wrong": status(url, token + "x")[0],
          "other": status(url + "x", token)[0]}
result["ok"], body = status(url, token)
result["key"], result["expiration"], result["url"] = body["AccessKeyId"], body["Expiration"], url
print(json.dumps(result))
"""


def test_the_endpoint_answers_only_its_token_and_path_and_closes_with_the_child(dashboard: Path, sts: StsProxy) -> None:
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", PROBE), capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    seen = json.loads(result.stdout)
    assert (seen["none"], seen["wrong"], seen["other"], seen["ok"]) == (401, 401, 404, 200)
    assert list(sts.issued) == [seen["key"]]
    assert seen["expiration"].endswith("Z")
    port = int(seen["url"].split(":")[2].split("/")[0])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_the_token_and_keys_are_not_printed_even_with_debug(dashboard: Path, sts: StsProxy) -> None:
    argv = exec_argv(dashboard, sys.executable, "-c", SHOW_ALL)
    argv.insert(argv.index("--"), "--debug")
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    env = json.loads(result.stdout)
    assert "serving acme/shop/prod" in result.stderr  # the debug log is on
    token, url = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"], env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    path = url.split("/", 3)[3]
    for secret in (token, path, *sts.issued):
        assert secret not in result.stderr


def test_a_default_profile_with_keys_makes_exec_pass_environment_keys(
    dashboard: Path, aws_env: Path, sts: StsProxy
) -> None:
    # Every SDK would take these before the endpoint: the child gets keys it cannot miss.
    (aws_env / "aws-credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULT000000001\naws_secret_access_key = default-secret\n"
    )
    result = subprocess.run(
        exec_argv(dashboard, sys.executable, "-c", SHOW_ENV), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    env = json.loads(result.stdout)
    assert env["identity"] == EU_ASSUMED
    assert env["AWS_ACCESS_KEY_ID"] == next(iter(sts.issued))
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in env
    assert result.stderr.startswith("sls-access: warning: ")
    assert "[default] has aws_access_key_id" in result.stderr
    assert "default-secret" not in result.stderr


def test_a_default_profile_without_credentials_does_not_change_the_mode(dashboard: Path, aws_env: Path) -> None:
    (aws_env / "aws-config").write_text("[default]\nregion = eu-west-1\noutput = json\n")
    env = child_env(exec_argv(dashboard, sys.executable, "-c", SHOW_ALL))
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env
    assert "AWS_ACCESS_KEY_ID" not in env


def test_the_frameworks_telemetry_and_notifications_are_off_unless_the_parent_says(dashboard: Path) -> None:
    env = child_env(exec_argv(dashboard, sys.executable, "-c", SHOW_ALL), SLS_NOTIFICATIONS_MODE="upgrades-only")
    assert env["SLS_TELEMETRY_DISABLED"] == "1"
    assert env["SLS_NOTIFICATIONS_MODE"] == "upgrades-only"


def test_a_framework_service_with_provider_profile_gets_environment_keys(dashboard: Path, sts: StsProxy) -> None:
    # The Framework takes provider.profile before container credentials, after environment keys.
    (Path.cwd() / "serverless.yml").write_text("org: acme\napp: shop\nprovider: {name: aws, profile: old-keys}\n")
    framework = Path.cwd() / "serverless"
    framework.write_text(f"#!{sys.executable}\n{SHOW_ALL}\n")
    framework.chmod(0o755)
    result = subprocess.run(exec_argv(dashboard, str(framework), "deploy"), capture_output=True, text=True, check=False)
    assert result.returncode == 0
    env = json.loads(result.stdout)
    assert env["AWS_ACCESS_KEY_ID"] == next(iter(sts.issued))
    assert "serverless.yml sets provider.profile" in result.stderr


def test_the_framework_told_aws_profile_does_not_run(dashboard: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    framework = Path.cwd() / "sls"
    framework.write_text(f"#!/bin/sh\ntouch {marker}\n")
    framework.chmod(0o755)
    result = subprocess.run(
        exec_argv(dashboard, str(framework), "deploy", "--aws-profile", "old"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--aws-profile" in result.stderr
    assert not marker.exists()
