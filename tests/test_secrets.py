"""The secret scans: nothing the library or the CLI emits carries a secret.

Scanned: ``repr``/``str`` of every public object, the trail, every log record at DEBUG
(botocore's and urllib3's included), every exception (message, repr and formatted
traceback) of the fault matrix, and the CLI's stdout and stderr (``--debug`` on).
Searched for: every secret key and session token STS issued during the test (read off
the wire by the gate in front of STS, so the CLI's own keys count too), the base keys'
secret and session token, the stage and profile secrets, the dashboard access key, and
the secrets inside a truncated STS answer. The only outputs allowed to carry keys are
the ones that exist to print them (``sls-access credentials`` and
``credential-process`` on stdout, ``Credentials.to_env()``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import attrs
import botocore.session
import pytest
from conftest import BASE_SECRET
from faults import FAULTS, TEST_CLIENT_CONFIG, TRUNCATED_SECRET, TRUNCATED_TOKEN, Gate, inject
from support import FakeClock, StsProxy, sts_error

import sls_access
from sls_access import AccessRoleError, ConfigError, Options, Resolver, SlsAccessError
from sls_access._chain import Chain
from sls_access._target import Target
from sls_access.dashboard.file import load_dashboard_file
from sls_access.plugin._plugins import PluginSource

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

BASE_TOKEN = "BaseSessionToken/base+token+0123456789abcdefghij"
ACCESS_KEY = "sls-dashboard-access-key-leaktest-0123456789"
STAGE_SECRET = "stage-secret-leaktest-0123456789abcdefghij"
STAGE_TOKEN = "stage-token-leaktest-0123456789abcdefghij"
PROFILE_SECRET = "profile-secret-leaktest-0123456789abcdefgh"
FIXED_SECRETS = (
    BASE_SECRET,
    BASE_TOKEN,
    ACCESS_KEY,
    STAGE_SECRET,
    STAGE_TOKEN,
    PROFILE_SECRET,
    TRUNCATED_SECRET,
    TRUNCATED_TOKEN,
)
LINKED = ("acme", "shop", "prod")
STAGE_KEYS = ("acme", "blog", "dev")  # linked to sandbox in the demo file; use_local_credentials → env
PROFILE_TARGET = ("other", "web", "qa")


@attrs.define
class Scan:
    """Texts emitted during a test, each with where it came from."""

    texts: list[tuple[str, str]] = attrs.field(factory=list)

    def add(self, where: str, text: object) -> None:
        self.texts.append((where, str(text)))

    def add_error(self, where: str, exc: BaseException) -> None:
        self.add(f"{where}: str", exc)
        self.add(f"{where}: repr", repr(exc))
        self.add(f"{where}: traceback", "".join(traceback.format_exception(exc)))
        resolution = getattr(exc, "resolution", None)
        if resolution is not None:
            self.add(f"{where}: resolution", resolution)
            self.add(f"{where}: resolution repr", repr(resolution))

    def assert_clean(self, secrets: set[str]) -> None:
        assert secrets, "nothing to look for: the scan would pass vacuously"
        leaks = [f"{secret[:6]}... in {where}" for where, text in self.texts for secret in secrets if secret in text]
        assert leaks == []


@pytest.fixture
def gate(sts: StsProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gate]:
    """STS behind a recording gate; base keys with a token; stage, profile and dashboard secrets set."""
    gate = Gate(sts.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", gate.url)
    monkeypatch.setenv("AWS_SESSION_TOKEN", BASE_TOKEN)
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("AWS_DEV_ACCESS_KEY_ID", "AKIASTAGEKEYLEAK0001")
    monkeypatch.setenv("AWS_DEV_SECRET_ACCESS_KEY", STAGE_SECRET)
    monkeypatch.setenv("AWS_DEV_SESSION_TOKEN", STAGE_TOKEN)
    monkeypatch.setenv("AWS_QA_PROFILE", "qa")
    (tmp_path / "home" / "aws-credentials").write_text(
        f"[qa]\naws_access_key_id = AKIAPROFILELEAK00001\naws_secret_access_key = {PROFILE_SECRET}\n"
    )
    yield gate
    gate.shut()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def all_secrets(gate: Gate) -> set[str]:
    issued = gate.issued_secrets()
    return issued | set(FIXED_SECRETS)


def add_logs(scan: Scan, logs: pytest.LogCaptureFixture) -> None:
    scan.add("log text", logs.text)
    for record in logs.records:
        scan.add(f"log record {record.name}", record.getMessage())


def test_everything_a_working_resolution_emits_hides_secrets(
    dashboard: Path, gate: Gate, logs: pytest.LogCaptureFixture
) -> None:
    scan = Scan()
    resolver = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, access_key=ACCESS_KEY)
    creds = resolver.credentials(*LINKED)
    resolution = resolver.explain(*LINKED)
    session = resolver.session(*LINKED)
    client = cast("STSClient", session.create_client("sts"))
    client.get_caller_identity()  # signed with the role's key and token: botocore logs the request
    boto3_session = resolver.boto3_session(*LINKED)
    boto3_session.client("sts").get_caller_identity()
    registered = botocore.session.Session()
    resolver.register(registered, *LINKED)
    cast("STSClient", registered.create_client("sts")).get_caller_identity()
    local = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, use_local_credentials=True)
    stage = local.explain(*STAGE_KEYS)
    profile = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, sources=["profile"]).explain(
        *PROFILE_TARGET
    )
    assert (stage.source, profile.source) == ("env", "profile")

    file = load_dashboard_file(dashboard)
    objects: list[object] = [
        resolver,
        resolver.options,
        Options.from_env(access_key=ACCESS_KEY),
        creds,
        resolution,
        *resolution.trail,
        resolution.target,
        resolution.trail[0].outcome,
        stage,
        stage.credentials,
        *stage.trail,
        profile,
        profile.credentials,
        *profile.trail,
        file,
        *file.orgs.values(),
        *file.orgs["acme"].profiles.values(),
        file.link(resolution.target),
        resolver.chain,
        *resolver.chain.sources,
        *resolver.plugins,
        session.get_credentials(),
        registered.get_credentials(),
        boto3_session,
        sls_access.explain(*LINKED, dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG),
    ]
    for obj in objects:
        scan.add(f"repr({type(obj).__name__})", repr(obj))
        scan.add(f"str({type(obj).__name__})", obj)
    add_logs(scan, logs)

    assert "Response body" in logs.text  # botocore did log STS's answers, keys and all ...
    assert creds.secret_access_key in gate.issued_secrets()
    scan.assert_clean(all_secrets(gate))  # ... and none of it got through
    assert creds.secret_access_key in creds.to_env().values()  # the one place meant to carry it


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("phase", ["cold", "advisory", "mandatory"])
def test_fault_matrix_errors_and_logs_hide_secrets(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock, logs: pytest.LogCaptureFixture, fault: str, phase: str
) -> None:
    scan = Scan()
    sts.clock = clock
    resolver = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, access_key=ACCESS_KEY, clock=clock)
    if phase != "cold":
        scan.add("warm keys", repr(resolver.credentials(*LINKED)))
        clock.advance(minutes={"advisory": 47, "mandatory": 52}[phase])
    inject(fault, sts, gate, clock)
    try:
        scan.add("result", repr(resolver.credentials(*LINKED)))
    except SlsAccessError as exc:
        assert phase != "advisory"
        scan.add_error("error", exc)
    else:
        assert phase == "advisory"
        scan.add("explain", resolver.explain(*LINKED))
    add_logs(scan, logs)
    scan.assert_clean(all_secrets(gate))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sls_access.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_output_hides_secrets(dashboard: Path, sts: StsProxy, gate: Gate) -> None:
    scan = Scan()
    target = ["--org", "acme", "--app", "shop", "--stage", "prod", "--dashboard", str(dashboard), "--debug"]
    stage = [
        "--org",
        "acme",
        "--app",
        "blog",
        "--stage",
        "dev",
        "--dashboard",
        str(dashboard),
        "--use-local-credentials",
        "--debug",
    ]
    for args in (
        ["explain", *target],
        ["explain", "--json", *target],
        ["whoami", *target],
        ["whoami", *stage],
        ["explain", *stage],
        ["plugins"],
        ["exec", *target, "--", sys.executable, "-c", "print('child ran')"],
    ):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
        scan.add(f"{args[0]} stdout", done.stdout)
        scan.add(f"{args[0]} stderr", done.stderr)
    # The commands that exist to print keys: they do, on stdout only.
    for args in (["credentials", *target], ["credential-process", *target]):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
        assert any(secret in done.stdout for secret in gate.issued_secrets())
        scan.add(f"{args[0]} stderr", done.stderr)
    # Failures: one line on stderr, nothing on stdout.
    for fault in ("access-denied", "malformed"):
        inject(fault, sts, gate, FakeClock())
        for args in (["credentials", *target], ["explain", *target], ["whoami", *target]):
            done = run_cli(*args)
            scan.add(f"{fault} {args[0]} stdout", done.stdout)
            scan.add(f"{fault} {args[0]} stderr", done.stderr)
            if args[0] != "explain":
                assert done.returncode != 0
                assert done.stdout == ""
        sts.fault = None
    scan.assert_clean(all_secrets(gate))


def test_session_names_and_requests_carry_no_secret(dashboard: Path, sts: StsProxy, gate: Gate) -> None:
    resolver = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, access_key=ACCESS_KEY)
    for org, app, stage in (LINKED, ("acme", "blog", "dev"), ("solo", "api", "dev")):
        resolver.credentials(org, app, stage)
    assume_roles = [r for r in sts.requests if r.get("Action") == "AssumeRole"]
    assert len(assume_roles) == 3
    secrets = all_secrets(gate)
    for request in sts.requests:
        for name, value in request.items():
            for secret in secrets:
                assert secret not in value, f"{secret[:6]}... sent to STS in {name}"
    for request in assume_roles:
        assert request["RoleSessionName"].startswith("sls-")


@pytest.mark.parametrize(
    "text",
    [
        f"<SecretAccessKey>{TRUNCATED_SECRET}</SecretAccessKey>",
        f"<SessionToken>{TRUNCATED_TOKEN}",  # an answer cut short inside the value
        f'{{"SecretAccessKey": "{TRUNCATED_SECRET}", "SessionToken": "{TRUNCATED_TOKEN}"}}',
        f'{{"SessionToken": "{TRUNCATED_TOKEN}',
        f"{{'X-Amz-Security-Token': b'{TRUNCATED_TOKEN}'}}",
        f"x-amz-security-token:{TRUNCATED_TOKEN}\n",
    ],
)
def test_redaction_hides_values_cut_short_too(text: str) -> None:
    from sls_access._redact import redact  # noqa: PLC0415 - the unit under test

    cleaned = redact(text)
    assert TRUNCATED_SECRET not in cleaned
    assert TRUNCATED_TOKEN not in cleaned
    assert "<redacted>" in cleaned


LEAK_PROBE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import sls_access
session = sls_access.session("other", "web", "dev")   # the env source: no AssumeRole at all
session.create_client("sts").get_caller_identity()
print("called", file=sys.stderr)
"""


def test_debug_logs_hide_env_keys_in_a_process_that_never_assumed_a_role(gate: Gate) -> None:
    # A fresh process: nothing has installed the log filter through an AssumeRole first.
    done = subprocess.run([sys.executable, "-c", LEAK_PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "called" in done.stderr
    assert "x-amz-security-token" in done.stderr.lower()  # botocore did log the signed request ...
    scan = Scan()
    scan.add("stderr", done.stderr)
    scan.add("stdout", done.stdout)
    scan.assert_clean(set(FIXED_SECRETS))  # ... without the stage's session token


# -- one object or path at a time (the scans above cover everything at once) ---------------

UNIT_ACCESS_KEY = "sls-dashboard-access-key-0123456789"


def test_debug_logs_never_carry_assumed_keys(dashboard: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    resolver = Resolver(dashboard=str(dashboard), access_key=UNIT_ACCESS_KEY)
    session = resolver.session("acme", "shop", "prod")
    session.create_client("sts").get_caller_identity()  # type: ignore[attr-defined]
    creds = resolver.credentials("acme", "shop", "prod")
    assert creds.session_token
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Response body" in text  # botocore did log the STS bodies...
    for secret in (creds.secret_access_key, creds.session_token, BASE_SECRET, UNIT_ACCESS_KEY):
        assert secret not in text  # ...without the secrets


def test_repr_str_and_trail_hide_secrets(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard), access_key=UNIT_ACCESS_KEY)
    resolution = resolver.explain("acme", "shop", "prod")
    creds = resolution.credentials
    assert creds is not None
    assert creds.session_token
    texts = [
        repr(resolver),
        repr(resolver.options),
        repr(resolution),
        str(resolution),
        repr(creds),
        str(creds),
        *(str(entry) for entry in resolution.trail),
        repr(Options(access_key=UNIT_ACCESS_KEY)),
    ]
    for text in texts:
        for secret in (creds.secret_access_key, creds.session_token, UNIT_ACCESS_KEY, BASE_SECRET):
            assert secret not in text


def test_error_messages_hide_secrets(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "denied") if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError) as info:
        Resolver(dashboard=str(dashboard), access_key=UNIT_ACCESS_KEY).credentials("acme", "shop", "prod")
    for secret in (BASE_SECRET, UNIT_ACCESS_KEY):
        assert secret not in str(info.value)
        assert secret not in repr(info.value)


def test_external_id_is_not_in_repr(dashboard: Path) -> None:
    profile = load_dashboard_file(dashboard).orgs["acme"].profiles["sandbox"]
    assert "acme-7f3c" not in repr(profile)


def test_a_bad_external_id_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "dash.toml"
    path.write_text(
        "[orgs.acme.deployment_profiles.p]\nrole_arn = 'arn:aws:iam::222222222222:role/r'\n"
        "external_id = 'secret-ext id'\n"
    )
    with pytest.raises(ConfigError, match="external_id") as raised:
        load_dashboard_file(path)
    assert "secret-ext" not in str(raised.value)


def test_debug_logs_never_carry_the_external_id(
    dashboard: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture
) -> None:
    # The external ID is the shared secret of the role's trust policy (the demo's is acme-7f3c).
    caplog.set_level(logging.DEBUG)
    Resolver(dashboard=str(dashboard)).credentials("acme", "blog", "dev")
    assert sts.requests[-1]["ExternalId"] == "acme-7f3c"
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "AssumeRole" in text  # botocore did log the request...
    assert "acme-7f3c" not in text  # ...without the external ID


def test_a_role_profile_answered_with_a_truncated_body_keeps_its_secrets_out_of_every_error(
    sts: StsProxy, gate: Gate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # botocore's ResponseParserError quotes the body: the profile source's error must not.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    (tmp_path / "home" / "aws-credentials").write_text(
        f"[base]\naws_access_key_id = AKIAPROFILELEAK00001\naws_secret_access_key = {PROFILE_SECRET}\n"
    )
    (tmp_path / "home" / "aws-config").write_text(
        "[profile deploy]\nrole_arn = arn:aws:iam::666666666666:role/deployer\nsource_profile = base\n"
    )
    inject("malformed", sts, gate, FakeClock())
    scan = Scan()
    target = ["--org", "acme", "--app", "shop", "--stage", "prod", "--sources", "profile", "--profile", "deploy"]
    for args in (["credentials", *target], ["explain", *target], ["explain", "--json", *target]):
        done = run_cli(*args)
        assert "malformed" in done.stdout + done.stderr  # it did fail, on the truncated answer
        scan.add(f"{args} stdout", done.stdout)
        scan.add(f"{args} stderr", done.stderr)
    with pytest.raises(SlsAccessError) as caught:
        Resolver(sources=["profile"], profile="deploy").credentials("acme", "shop", "prod")
    scan.add_error("library", caught.value)
    scan.assert_clean({TRUNCATED_SECRET, TRUNCATED_TOKEN, PROFILE_SECRET})


@attrs.define
class QuotingSource:
    """A source whose errors quote an answer, as a careless plugin's would."""

    error: Exception
    name: str = "quoting"

    def load(self, target: Target) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        SlsAccessError(f"the vault said <SecretAccessKey>{TRUNCATED_SECRET}</SecretAccessKey>"),
        RuntimeError(f'bad answer {{"SessionToken": "{TRUNCATED_TOKEN}"}}'),
    ],
    ids=["sls-access-error", "other-error"],
)
def test_the_chain_redacts_every_source_error(error: Exception, clock: FakeClock) -> None:
    for source in (QuotingSource(error), PluginSource(QuotingSource(error), "quoting")):
        resolution = Chain([source], clock).run(Target(org="acme", app="shop", stage="prod"))
        assert resolution.error is not None
        scan = Scan()
        scan.add_error("error", resolution.error)
        scan.add("trail", resolution.trail)
        assert "<redacted>" in str(resolution.error)
        scan.assert_clean({TRUNCATED_SECRET, TRUNCATED_TOKEN})
