"""``sls-access link``/``unlink`` end to end against moto's CloudFormation, IAM and STS on loopback.

The rollback and the AccessDenied are answered by the loopback proxy in front of moto
(stubs: moto creates a stack synchronously and enforces no IAM policy, so it produces
neither); everything else is moto's own answer.
"""

from __future__ import annotations

import hashlib
import stat
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
import yaml
from conftest import BASE_SECRET
from support import PluginSite, StsProxy

from sls_access._target import Target
from sls_access.cli import main
from sls_access.dashboard.file import parse_dashboard_file
from sls_access.dashboard.model import Sessions
from sls_access.link.template import RoleSpec, legacy_stack_name, role_name, stack_name, template, to_yaml

ACCOUNT = "123456789012"  # moto's account
CALLER = f"arn:aws:iam::{ACCOUNT}:user/moto"
COMMENTED = textwrap.dedent("""\
    # The acme dashboard: every change is reviewed.
    [orgs.acme.deployment_profiles.sandbox]   # the sandbox account
    role_arn = "arn:aws:iam::222222222222:role/sandbox"   # made by hand
    """)
CFN_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def org() -> str:
    """An org name of this test's own: the tests share one moto, where role names are global."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def file(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard.toml"
    path.write_text(COMMENTED)
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def call(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def named(org: str, profile: str = "prod") -> str:
    """The stack's and the role's name for *org*'s *profile* (the same for these tests' names)."""
    assert stack_name(org, profile) == role_name(org, profile)
    return stack_name(org, profile)


def link_args(org: str, file: Path, *extra: str) -> list[str]:
    return ["link", "--org", org, "--profile", "prod", "--account", ACCOUNT, "--dashboard", str(file), *extra]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def error_line(err: str) -> str:
    """The error: the last line of stderr (progress lines come before it), and the only error line."""
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("sls-access: error:")] == lines[-1:]
    return lines[-1]


def test_deploy_creates_the_role_and_writes_exactly_the_profile_and_link(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    code, out, err = run(*link_args(org, file, "--app", "shop", "--stage", "prod", "--deploy"))
    assert code == 0, err
    name = named(org)
    role = boto3.client("iam").get_role(RoleName=name)["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    external_id = statement["Condition"]["StringEquals"]["sts:ExternalId"]
    assert statement["Principal"] == {"AWS": [CALLER]}
    assert role["MaxSessionDuration"] == 3600
    new = file.read_text()
    assert new.startswith(COMMENTED)  # comments and layout kept
    assert [line for line in new[len(COMMENTED) :].splitlines() if line] == [
        f"[orgs.{org}.deployment_profiles.prod]",
        f'role_arn = "arn:aws:iam::{ACCOUNT}:role/{name}"',
        f'external_id = "{external_id}"',
        f'account_id = "{ACCOUNT}"',
        "duration_seconds = 3600",
        f"[orgs.{org}.apps.shop.stages.prod]",
        'deployment_profile = "prod"',
    ]
    assert (file.parent / "dashboard.toml.bak").read_text() == COMMENTED
    assert out.splitlines()[0] == f"deployment profile 'prod' of org '{org}' -> arn:aws:iam::{ACCOUNT}:role/{name}"


def test_deploy_shows_each_stack_event_and_the_role_check(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    code, _, err = run(*link_args(org, file, "--deploy"))
    assert code == 0
    progress = err.splitlines()
    assert progress[0].startswith(f"sls-access: deploying stack {named(org)} in {ACCOUNT}")
    assert [line.split()[3] for line in progress if line.startswith("sls-access: stack:")] == [
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
    ]
    assert progress[-1] == (
        f"sls-access: checked: AssumeRole with the external ID gives "
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{named(org)}/sls-{org}.-.-"
    )


def test_the_role_is_checked_with_the_external_id_written(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    (assume,) = [request for request in sts.requests if request.get("Action") == "AssumeRole"]
    assert f'external_id = "{assume["ExternalId"]}"' in file.read_text()
    assert sts.calls["GetCallerIdentity"] == 2  # who links, then who the new role's keys are


def test_whoami_afterwards_shows_the_role(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    assert run(*link_args(org, file, "--app", "shop", "--stage", "prod", "--deploy"))[0] == 0
    code, out, _ = run("whoami", "--org", org, "--app", "shop", "--stage", "prod", "--dashboard", str(file))
    assert code == 0
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/{named(org)}/sls-{org}.shop.prod" in out


def test_no_secret_reaches_the_output(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert code == 0
    for secret in (BASE_SECRET, "SecretAccessKey", "SessionToken", "ASIA"):
        assert secret not in out + err
    external_id = file.read_text().split('external_id = "')[1].split('"')[0]
    assert external_id not in out + err


def test_linking_again_updates_the_stack_and_rotates_the_external_id(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    first = file.read_text()
    code, _, err = run(*link_args(org, file, "--deploy"))
    assert code == 0, err
    assert "UPDATE_COMPLETE" in err
    assert file.read_text() != first
    assert file.read_text().count("[orgs.") == first.count("[orgs.")


def test_template_prints_yaml_and_changes_nothing(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--trust", "arn:aws:iam::999999999999:role/ci", "--template"))
    assert (code, err) == (0, "")
    body = yaml.safe_load(out)
    properties = body["Resources"]["AccessRole"]["Properties"]
    assert properties["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": ["arn:aws:iam::999999999999:role/ci"]
    }
    assert sum(sts.calls.values()) == 0  # --trust given: no AWS call at all
    assert digest(file) == before


def test_template_trusts_the_callers_own_identity_by_default(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    code, out, _ = run(*link_args(org, file, "--template"))
    assert code == 0
    statement = yaml.safe_load(out)["Resources"]["AccessRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"AWS": [CALLER]}
    assert sts.calls["CreateStack"] == 0


ROLE_SESSION_PLUGIN = """
from sls_access.plugin import RoleSession, hookimpl

@hookimpl
def sls_access_role_session(target, deployment_profile, options):
    return RoleSession(name="sls-who", source_identity="alice")
"""


def test_a_plugin_setting_a_source_identity_adds_set_source_identity(
    run: Run, org: str, file: Path, site: PluginSite
) -> None:
    site.install("whoami-plugin", ROLE_SESSION_PLUGIN)
    code, out, _ = run(*link_args(org, file, "--template"))
    assert code == 0
    statement = yaml.safe_load(out)["Resources"]["AccessRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]


def test_per_key_sessions_add_both_session_actions(run: Run, org: str, file: Path) -> None:
    code, out, _ = run(*link_args(org, file, "--per-key-sessions", "--template"))
    assert code == 0
    statement = yaml.safe_load(out)["Resources"]["AccessRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]


def test_per_key_sessions_are_written_into_the_profile_and_used(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    code, _, err = run(*link_args(org, file, "--app", "shop", "--stage", "prod", "--per-key-sessions", "--deploy"))
    assert code == 0, err
    link = parse_dashboard_file(file.read_bytes(), str(file)).link(Target(org=org, app="shop", stage="prod"))
    assert link is not None
    assert link.profile.sessions is Sessions.PER_KEY
    code, _, err = run("whoami", "--org", org, "--app", "shop", "--stage", "prod", "--dashboard", str(file))
    assert code == 0, err
    entering = [request for request in sts.requests if request.get("Action") == "AssumeRole"][-1]
    assert entering["SourceIdentity"] == "moto"  # the caller's own identity, as a per_key profile asks


def test_dry_run_prints_the_diff_and_deploys_and_writes_nothing(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--app", "shop", "--stage", "prod", "--deploy", "--dry-run"))
    assert (code, err) == (0, "")
    added = [line[1:] for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert f"[orgs.{org}.apps.shop.stages.prod]" in added
    assert f'role_arn = "arn:aws:iam::{ACCOUNT}:role/{named(org)}"' in added
    assert not [line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert (sts.calls["CreateStack"], sts.calls["AssumeRole"]) == (0, 0)
    assert digest(file) == before
    assert not (file.parent / "dashboard.toml.bak").exists()


def test_dry_run_prints_no_existing_external_id(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    neighbour = f'[orgs.{org}.deployment_profiles.next]\nrole_arn = "arn:aws:iam::{ACCOUNT}:role/n"\n'
    file.write_text(COMMENTED + neighbour + 'external_id = "sls-neighbour00"\n')
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    existing = file.read_text().split('external_id = "')[2].split('"')[0]
    code, out, err = run(*link_args(org, file, "--app", "shop", "--stage", "prod", "--deploy", "--dry-run"))
    assert code == 0, err
    assert existing not in out + err
    assert "sls-neighbour00" not in out + err
    assert '-external_id = "…"' in out.splitlines()  # the current one, masked; the new one is a placeholder


def test_per_key_sessions_check_the_role_with_source_identity_and_session_tags(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    code, _, err = run(*link_args(org, file, "--per-key-sessions", "--deploy"))
    assert code == 0, err
    (check,) = [request for request in sts.requests if request.get("Action") == "AssumeRole"]
    assert check["SourceIdentity"] == "moto"  # the caller's, by the SDK's rule
    tags = {check[f"Tags.member.{n}.Key"]: check[f"Tags.member.{n}.Value"] for n in range(1, 5)}
    assert tags == {"sls-org": org, "sls-app": "-", "sls-stage": "-", "sls-key": "link-check"}
    assert "Tags.member.5.Key" not in check


def test_a_symlinked_dashboard_file_is_updated_where_it_lives(
    run: Run, org: str, file: Path, sts: StsProxy, tmp_path: Path
) -> None:
    link = tmp_path / "linked.toml"
    link.symlink_to(file)
    code, _, err = run(*link_args(org, link, "--deploy"))
    assert code == 0, err
    assert link.is_symlink()
    assert f"[orgs.{org}.deployment_profiles.prod]" in file.read_text()
    assert (file.parent / "dashboard.toml.bak").read_text() == COMMENTED


def test_a_first_link_makes_the_default_file_and_its_private_directory(
    run: Run, org: str, aws_env: Path, sts: StsProxy
) -> None:
    directory = aws_env / ".config" / "sls-access"
    assert not directory.parent.exists()  # a fresh XDG_CONFIG_HOME
    code, _, err = run("link", "--org", org, "--profile", "prod", "--account", ACCOUNT, "--deploy")
    assert code == 0, err
    assert f"[orgs.{org}.deployment_profiles.prod]" in (directory / "dashboard.toml").read_text()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_file_edited_during_the_deploy_is_kept_and_the_error_says_aws_changed(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    edited = COMMENTED + "# saved by an editor meanwhile\n"

    def editor(action: str) -> tuple[int, bytes] | None:
        # Stub of a race, not of AWS: an editor saves the file while the new role is checked.
        if action == "AssumeRole":
            file.write_text(edited)
        return None

    sts.fault = editor
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (1, "")
    line = error_line(err)
    assert line.startswith(f"sls-access: error: {file.resolve()}: the dashboard file changed while linking")
    assert (
        f"stack {named(org)} WAS deployed: role arn:aws:iam::{ACCOUNT}:role/{named(org)} "
        "now takes a new external ID" in line
    )
    assert line.endswith(
        f"sls-access link --org {org} --profile prod --account {ACCOUNT} --dashboard {file.resolve()} --deploy"
    )
    assert file.read_text() == edited


def test_a_dashboard_file_that_is_not_utf8_is_one_error_line(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    file.write_bytes(b"# caf\xe9\n")
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (2, "")
    assert error_line(err) == f"sls-access: error: {file.resolve()}: not UTF-8 text (byte 5); nothing was changed"
    assert sts.calls["CreateStack"] == 0


# -- failures leave the file as it was, byte for byte ------------------------------------


def _stack_xml(action: str, inner: str) -> tuple[int, bytes]:
    return 200, (
        f'<{action}Response xmlns="{CFN_NS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def _event(stack: str, number: int, logical: str, kind: str, status: str, reason: str = "") -> str:
    why = f"<ResourceStatusReason>{reason}</ResourceStatusReason>" if reason else ""
    return (
        f"<member><EventId>e{number}</EventId><StackName>{stack}</StackName><StackId>id-{stack}</StackId>"
        f"<LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType>"
        f"<Timestamp>2026-01-01T00:00:0{number}Z</Timestamp><ResourceStatus>{status}</ResourceStatus>{why}"
        "</member>"
    )


def test_a_stack_that_rolls_back_prints_the_failing_resources_reason(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    stack = named(org)
    created: list[str] = []
    events = [
        _event(stack, 4, stack, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
        _event(
            stack,
            3,
            stack,
            "AWS::CloudFormation::Stack",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [AccessRole].",
        ),
        _event(
            stack,
            2,
            "AccessRole",
            "AWS::IAM::Role",
            "CREATE_FAILED",
            "MaxSessionDuration must be between 3600 and 43200",
        ),
        _event(stack, 1, stack, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
    ]

    def rollback(action: str) -> tuple[int, bytes] | None:
        # Stub: moto creates stacks synchronously and never rolls back; after the real
        # CreateStack, describe the stack as a failed create would leave it.
        if action == "CreateStack":
            created.append(action)
            return None
        if created and action == "DescribeStacks":
            return _stack_xml(
                "DescribeStacks",
                f"<Stacks><member><StackName>{stack}</StackName><StackId>id-{stack}"
                "</StackId><CreationTime>2026-01-01T00:00:00Z</CreationTime>"
                "<StackStatus>ROLLBACK_COMPLETE</StackStatus></member></Stacks>",
            )
        if created and action == "DescribeStackEvents":
            return _stack_xml("DescribeStackEvents", f"<StackEvents>{''.join(events)}</StackEvents>")
        return None

    sts.fault = rollback
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (1, "")
    assert error_line(err) == (
        f"sls-access: error: stack {stack} ended ROLLBACK_COMPLETE: AccessRole "
        "(AWS::IAM::Role) CREATE_FAILED: MaxSessionDuration must be between 3600 and 43200"
    )
    assert [line.split()[3] for line in err.splitlines() if line.startswith("sls-access: stack:")] == [
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_COMPLETE",
    ]
    assert sts.calls["AssumeRole"] == 0
    assert digest(file) == before


def test_access_denied_by_cloudformation_leaves_the_file_unchanged(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    def denied(action: str) -> tuple[int, bytes] | None:
        # Stub: moto enforces no IAM policy, so it never refuses CreateStack.
        if action != "CreateStack":
            return None
        return 403, (
            f'<ErrorResponse xmlns="{CFN_NS}"><Error><Type>Sender</Type><Code>AccessDenied</Code>'
            "<Message>User: arn:aws:iam::123456789012:user/moto is not authorized to perform: "
            "cloudformation:CreateStack</Message></Error><RequestId>1</RequestId></ErrorResponse>"
        ).encode()

    sts.fault = denied
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (1, "")
    assert error_line(err) == (
        f"sls-access: error: CloudFormation create_stack of stack {named(org)}: "
        "AWS said AccessDenied: User: arn:aws:iam::123456789012:user/moto is not "
        "authorized to perform: cloudformation:CreateStack"
    )
    assert digest(file) == before


def test_a_role_name_taken_already_fails_the_stack_and_leaves_the_file_unchanged(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    boto3.client("iam").create_role(RoleName=named(org), AssumeRolePolicyDocument="{}")
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (1, "")
    assert error_line(err).startswith(
        f"sls-access: error: CloudFormation create_stack of stack {named(org)}: AWS said EntityAlreadyExists: "
    )
    assert digest(file) == before


def test_an_existing_profile_with_another_role_is_refused_before_any_change(
    run: Run, file: Path, sts: StsProxy
) -> None:
    before = digest(file)
    code, out, err = run(
        "link", "--org", "acme", "--profile", "sandbox", "--account", ACCOUNT, "--dashboard", str(file), "--deploy"
    )
    assert (code, out) == (2, "")
    assert error_line(err) == (
        f"sls-access: error: {file}: orgs.acme.deployment_profiles.sandbox: deployment "
        "profile 'sandbox' exists with another role (arn:aws:iam::222222222222:role/sandbox); "
        "pass --replace to replace it"
    )
    assert sts.calls["CreateStack"] == 0
    assert digest(file) == before


def test_a_read_only_dashboard_file_is_refused_before_any_change(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    file.chmod(0o444)
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (2, "")
    assert error_line(err) == (
        f"sls-access: error: {file}: the dashboard file is read-only: nothing was changed "
        "(make it writable, or use --dashboard FILE)"
    )
    assert sum(sts.calls.values()) == 0
    assert digest(file) == before


def test_credentials_of_another_account_are_refused_before_deploying(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    before = digest(file)
    code, out, err = run(
        "link", "--org", org, "--profile", "prod", "--account", "210987654321", "--dashboard", str(file), "--deploy"
    )
    assert (code, out) == (1, "")
    assert error_line(err).startswith(
        f"sls-access: error: your credentials are in account {ACCOUNT}, not 210987654321: "
    )
    assert sts.calls["CreateStack"] == 0
    assert digest(file) == before


def test_without_tomlkit_link_says_which_extra_to_install(
    run: Run, org: str, file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tomlkit", None)  # as if not installed: find_spec() says None
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (2, "")
    assert err == (
        "sls-access: error: editing the dashboard file needs tomlkit: "
        "pip install '/path/to/sls-access[link]' (the path of your sls-access checkout)\n"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--account", "12345"], "--account '12345' is not an AWS account id (12 digits)"),
        (["--duration", "60"], "--duration 60 is outside 900..43200"),
        (["--app", "shop"], "--app and --stage go together"),
        (["--trust", "arn:aws:iam::123456789012:group/admins"], "is not an IAM user, role or root ARN"),
        (["--policy", "AdministratorAccess"], "is not an IAM managed policy ARN"),
    ],
)
def test_bad_flags_are_usage_errors(
    run: Run, org: str, file: Path, sts: StsProxy, flags: list[str], message: str
) -> None:
    code, out, err = run(*link_args(org, file, "--deploy"), *flags)
    assert (code, out) == (2, "")
    assert message in error_line(err)
    assert sum(sts.calls.values()) == 0


# -- unlink ---------------------------------------------------------------------------------


def test_unlink_is_refused_while_links_use_the_profile_and_lists_them(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    assert run(*link_args(org, file, "--app", "shop", "--stage", "prod", "--deploy"))[0] == 0
    before = digest(file)
    code, out, err = run("unlink", "--org", org, "--profile", "prod", "--dashboard", str(file), "--delete-stack")
    assert (code, out) == (2, "")
    assert f"'prod' is still linked from orgs.{org}.apps.shop.stages.prod; " in error_line(err)
    assert sts.calls["DeleteStack"] == 0
    assert digest(file) == before


def test_unlink_delete_stack_removes_the_stack_the_role_and_the_profile(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    code, out, err = run("unlink", "--org", org, "--profile", "prod", "--dashboard", str(file), "--delete-stack")
    assert code == 0, err
    assert file.read_text().rstrip() == COMMENTED.rstrip()  # a blank line link added may stay
    assert out.splitlines()[0] == f"deleted stack {named(org)}"
    with pytest.raises(boto3.client("iam").exceptions.NoSuchEntityException):
        boto3.client("iam").get_role(RoleName=named(org))


def test_a_file_edited_while_the_stack_is_deleted_is_kept_and_the_error_says_so(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    edited = file.read_text() + "# saved by an editor meanwhile\n"

    def editor(action: str) -> tuple[int, bytes] | None:
        # Stub of a race, not of AWS: an editor saves the file while the stack is deleted.
        if action == "DeleteStack":
            file.write_text(edited)
        return None

    sts.fault = editor
    code, _, err = run("unlink", "--org", org, "--profile", "prod", "--dashboard", str(file), "--delete-stack")
    assert code == 1
    line = error_line(err)
    assert "the stack WAS deleted, with its role, and deployment profile 'prod' still names it" in line
    assert line.endswith(f"sls-access unlink --org {org} --profile prod --dashboard {file.resolve()}")
    assert file.read_text() == edited


def test_a_stack_still_in_progress_after_the_timeout_is_an_error(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    stack = named(org)
    created: list[str] = []

    def stuck(action: str) -> tuple[int, bytes] | None:
        # Stub: moto's stacks are complete as soon as they are created.
        if action == "CreateStack":
            created.append(action)
        if created and action == "DescribeStacks":
            return _stack_xml(
                "DescribeStacks",
                f"<Stacks><member><StackName>{stack}</StackName><StackId>id-{stack}"
                "</StackId><CreationTime>2026-01-01T00:00:00Z</CreationTime>"
                "<StackStatus>CREATE_IN_PROGRESS</StackStatus></member></Stacks>",
            )
        return None

    sts.fault = stuck
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--deploy", "--timeout", "0"))
    assert (code, out) == (1, "")
    assert error_line(err).startswith(f"sls-access: error: stack {stack} is still CREATE_IN_PROGRESS after 0 s; ")
    assert digest(file) == before


def test_a_role_whose_keys_are_in_another_account_is_refused(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    assumed: list[str] = []
    other = f"arn:aws:sts::999999999999:assumed-role/{named(org)}/s"

    def elsewhere(action: str) -> tuple[int, bytes] | None:
        # Stub: no real STS answers a role's keys with another account's identity.
        if action == "AssumeRole":
            assumed.append(action)
        if assumed and action == "GetCallerIdentity":
            return 200, (
                '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                f"<GetCallerIdentityResult><Arn>{other}</Arn><UserId>AROA:s</UserId>"
                "<Account>999999999999</Account></GetCallerIdentityResult>"
                "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
                "</GetCallerIdentityResponse>"
            ).encode()
        return None

    sts.fault = elsewhere
    before = digest(file)
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert (code, out) == (1, "")
    assert error_line(err) == (
        f"sls-access: error: STS says the new role's keys are in account 999999999999 "
        f"({other}), not in {ACCOUNT}: refused, the dashboard file is unchanged"
    )
    assert digest(file) == before


@pytest.mark.parametrize("command", ["link", "unlink"])
def test_the_cli_reference_documents_every_flag(command: str) -> None:
    import argparse  # noqa: PLC0415

    from sls_access.cli import build_parser  # noqa: PLC0415

    reference = (Path(__file__).parent.parent / "docs" / "reference" / "cli.md").read_text()
    assert f"### `{command}`" in reference
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = [
        flag
        for action in subparsers.choices[command]._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help", "--debug")
    ]
    assert [flag for flag in flags if f"{flag}" not in reference.split(f"### `{command}`")[1]] == []


def test_a_trusted_project_file_stays_trusted_with_the_links_change(run: Run, org: str, sts: StsProxy) -> None:
    project = Path.cwd() / "sls-access.toml"
    project.write_text(COMMENTED)
    assert run("trust")[0] == 0
    code, out, _ = run(
        "link", "--org", org, "--profile", "prod", "--account", ACCOUNT, "--app", "shop", "--stage", "prod", "--deploy"
    )
    assert code == 0
    assert out.splitlines()[-1].startswith(f"trusted the new content of {project.resolve()}")
    code, out, _ = run("whoami", "--org", org, "--app", "shop", "--stage", "prod")
    assert code == 0
    assert f"assumed-role/{named(org)}/" in out


def test_an_untrusted_project_file_is_edited_but_stays_untrusted(run: Run, org: str, sts: StsProxy) -> None:
    project = Path.cwd() / "sls-access.toml"
    project.write_text(COMMENTED)
    code, out, _ = run(
        "link", "--org", org, "--profile", "prod", "--account", ACCOUNT, "--app", "shop", "--stage", "prod", "--deploy"
    )
    assert code == 0
    assert not [line for line in out.splitlines() if line.startswith("trusted")]
    code, _, err = run("whoami", "--org", org, "--app", "shop", "--stage", "prod")
    assert code == 2
    assert "is not trusted" in err


def test_unlink_deletes_the_stack_in_the_profiles_region(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    assert run(*link_args(org, file, "--region", "eu-west-1", "--deploy"))[0] == 0
    code, out, err = run("unlink", "--org", org, "--profile", "prod", "--dashboard", str(file), "--delete-stack")
    assert code == 0, err
    assert f"deleting stack {named(org)} (eu-west-1)" in err
    assert out.splitlines()[0] == f"deleted stack {named(org)}"


# Names unique per (org, profile), and stacks that belong to another pair (issue 23, item 2).


def external_id_of(file: Path, org: str, profile: str) -> str:
    profiles = parse_dashboard_file(file.read_bytes(), str(file)).orgs[org].profiles
    external_id = profiles[profile].external_id
    assert external_id is not None
    return external_id


def role_external_id(name: str) -> str:
    role = boto3.client("iam").get_role(RoleName=name)["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    return str(statement["Condition"]["StringEquals"]["sts:ExternalId"])


def stack_tags(name: str) -> dict[str, str]:
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    return {tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])}


def test_pairs_whose_former_names_collide_get_their_own_stack_and_role(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    # acme/prod-eu and acme-prod/eu were both sls-access-acme-prod-eu: the second deploy
    # updated the first org's stack (new trust, new external id).
    first, second = (org, "prod-eu"), (f"{org}-prod", "eu")
    for pair_org, profile in (first, second):
        code, _, err = run(
            "link", "--org", pair_org, "--profile", profile, "--account", ACCOUNT, "--dashboard", str(file), "--deploy"
        )
        assert code == 0, err
    assert stack_name(*first) != stack_name(*second)
    assert role_name(*first) != role_name(*second)
    for pair_org, profile in (first, second):
        assert role_external_id(role_name(pair_org, profile)) == external_id_of(file, pair_org, profile)
        assert stack_tags(stack_name(pair_org, profile)) == {
            "sls-access:org": pair_org,
            "sls-access:deployment-profile": profile,
        }


def test_link_refuses_a_stack_whose_tags_name_another_org(run: Run, org: str, file: Path, sts: StsProxy) -> None:
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    before = role_external_id(named(org))
    other = f"{org}x"
    code, _, err = run(
        "link",
        "--org",
        other,
        "--profile",
        "prod",
        "--account",
        ACCOUNT,
        "--dashboard",
        str(file),
        "--stack-name",
        named(org),
        "--deploy",
    )
    assert code == 1
    assert error_line(err) == (
        f"sls-access: error: stack {named(org)} belongs to org '{org}', deployment profile "
        f"'prod' (its sls-access tags), not org '{other}', deployment profile 'prod': "
        "refused, nothing was changed"
    )
    assert role_external_id(named(org)) == before
    assert f"[orgs.{other}." not in file.read_text()


def test_unlink_refuses_to_delete_a_stack_whose_tags_name_another_profile(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    assert run(*link_args(org, file, "--deploy"))[0] == 0
    code, _, err = run(
        "link", "--org", org, "--profile", "staging", "--account", ACCOUNT, "--dashboard", str(file), "--deploy"
    )
    assert code == 0, err
    before = file.read_text()
    code, _, err = run(
        "unlink",
        "--org",
        org,
        "--profile",
        "staging",
        "--dashboard",
        str(file),
        "--delete-stack",
        "--stack-name",
        named(org),
    )
    assert code == 1
    assert f"stack {named(org)} belongs to org '{org}', deployment profile 'prod'" in error_line(err)
    assert stack_tags(named(org))["sls-access:deployment-profile"] == "prod"  # still there
    assert file.read_text() == before


def deploy_former_stack(org: str, profile: str) -> str:
    """Create the stack an earlier sls-access made: the former names, this pair's tags; return its role ARN."""
    spec = RoleSpec(
        org=org, profile=profile, account_id=ACCOUNT, trust=(CALLER,), external_id="sls-former-0001", legacy_name=True
    )
    boto3.client("cloudformation").create_stack(
        StackName=legacy_stack_name(org, profile),
        TemplateBody=to_yaml(template(spec)),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Tags=[{"Key": "sls-access:org", "Value": org}, {"Key": "sls-access:deployment-profile", "Value": profile}],
    )
    return spec.role_arn


def test_a_stack_made_under_the_former_name_is_updated_in_place_for_its_own_pair(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    role_arn = deploy_former_stack(org, "prod")
    code, out, err = run(*link_args(org, file, "--deploy"))
    assert code == 0, err
    assert f"deploying stack {legacy_stack_name(org, 'prod')} in" in err
    assert "UPDATE_COMPLETE" in err
    assert out.splitlines()[0] == f"deployment profile 'prod' of org '{org}' -> {role_arn}"  # the same role
    # moto updates the stack's template but not the role's trust policy: the template is what link sent.
    body = yaml.safe_load(
        boto3.client("cloudformation").get_template(StackName=legacy_stack_name(org, "prod"))["TemplateBody"]
    )
    properties = body["Resources"]["AccessRole"]["Properties"]
    assert f"arn:aws:iam::{ACCOUNT}:role/{properties['RoleName']}" == role_arn
    (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == external_id_of(file, org, "prod")
    with pytest.raises(botocore.exceptions.ClientError, match="does not exist"):  # no second stack
        boto3.client("cloudformation").describe_stacks(StackName=stack_name(org, "prod"))


def test_another_pairs_stack_under_the_colliding_former_name_is_left_alone(
    run: Run, org: str, file: Path, sts: StsProxy
) -> None:
    deploy_former_stack(f"{org}-prod", "eu")  # sls-access-ORG-prod-eu, as acme/prod-eu's would be
    assert legacy_stack_name(f"{org}-prod", "eu") == legacy_stack_name(org, "prod-eu")
    code, _, err = run(
        "link", "--org", org, "--profile", "prod-eu", "--account", ACCOUNT, "--dashboard", str(file), "--deploy"
    )
    assert code == 0, err
    assert f"deploying stack {stack_name(org, 'prod-eu')} in" in err
    assert role_external_id(legacy_stack_name(org, "prod-eu")) == "sls-former-0001"  # untouched
    code, out, err = run("unlink", "--org", org, "--profile", "prod-eu", "--dashboard", str(file), "--delete-stack")
    assert code == 0, err
    assert out.splitlines()[0] == f"deleted stack {stack_name(org, 'prod-eu')}"
    assert stack_tags(legacy_stack_name(org, "prod-eu"))["sls-access:org"] == f"{org}-prod"
