"""``sls-access link`` and ``unlink``: the dashboard's "connect AWS" flow, in one command.

``link`` builds the access role's CloudFormation template (:mod:`sls_access.link.template`);
``--template`` prints it, ``--deploy`` creates or updates the stack with the caller's own
credentials (botocore's default chain) showing its events, enters the new role for real
(``AssumeRole`` with the external ID, then ``GetCallerIdentity`` must name the role in
``--account``) and only then writes the deployment profile, and with ``--app/--stage`` the
link, into the dashboard file (:mod:`sls_access.dashboard.edit`). ``--dry-run`` prints the
file's diff and changes nothing. Every failure before the write leaves the file as it was.

``unlink`` removes a deployment profile that no link uses, and with ``--delete-stack``
its stack first. Progress goes to stderr; the result to stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import attrs
import botocore.exceptions
import botocore.session

from sls_access._install import install_hint
from sls_access._options import Options
from sls_access._role_session import key_session_tags
from sls_access._sts_client import client_config
from sls_access._target import Target
from sls_access._values import ACCOUNT_ID, caller_principal, region_problem, source_identity_of_arn
from sls_access.cli._common import EXIT_USAGE, CliError, Subcommands, UsageError
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import ConfigError
from sls_access.link import LinkError
from sls_access.link.template import (
    MAX_DURATION,
    MIN_DURATION,
    RoleSpec,
    new_external_id,
    template,
    to_yaml,
)

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

    from sls_access.link.stack import StackEvent

__all__ = ["add_parser", "handle_link", "handle_unlink"]

DEFAULT_TIMEOUT = 900
FALLBACK_REGION = "us-east-1"
DRY_RUN_EXTERNAL_ID = "sls-generated-when-deployed"
_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:aws|[0-9]{12}):policy/[\w+=,.@/-]{1,512}", re.ASCII)
INSTALL_HINT = install_hint("link")
CHECK_KEY_NAME = "link-check"
"""The access key name in the session tags of ``link --per-key-sessions``'s check of the role."""


def _dashboard_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dashboard",
        metavar="FILE",
        help="the local dashboard file to edit (SLS_ACCESS_DASHBOARD; default: the project "
        "sls-access.toml, else the file stored by login, else the default file)",
    )
    parser.add_argument(
        "--stack-name",
        metavar="NAME",
        help="the CloudFormation stack (default sls-access-ORG-PROFILE-HASH, or a stack of "
        "this org and profile under the former name sls-access-ORG-PROFILE)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the stack (default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")


def add_parser(subparsers: Subcommands) -> None:
    """Register ``link`` and ``unlink``."""
    link = subparsers.add_parser(
        "link",
        help="create an access role through CloudFormation, check it, write the deployment profile",
        description="Link an AWS account: a CloudFormation stack creates the access role (trusting the "
        "--trust principals, default your own identity, with a fresh external ID); --template "
        "prints it, --deploy deploys it with your credentials, enters the role for real, and only "
        "then writes the deployment profile (and with --app/--stage the link) into the dashboard "
        "file, keeping its comments, with a FILE.bak backup.",
    )
    link.add_argument("--org", required=True, help="the dashboard org")
    link.add_argument("--profile", required=True, metavar="NAME", help="the deployment profile to create")
    link.add_argument("--account", required=True, metavar="ACCOUNT_ID", help="the AWS account of the role")
    link.add_argument("--app", help="link this app's --stage to the profile")
    link.add_argument("--stage", help="the stage to link (with --app)")
    link.add_argument("--region", help="the profile's default region, and with --app/--stage a stage + region link")
    link.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="PRINCIPAL_ARN",
        help="a principal that may enter the role (repeatable; default: your own identity)",
    )
    link.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="POLICY_ARN",
        help="a managed policy to attach (repeatable; default: the documented deploy policy)",
    )
    link.add_argument(
        "--duration",
        type=int,
        default=3600,
        metavar="SECONDS",
        help=f"the profile's duration_seconds, {MIN_DURATION}..{MAX_DURATION} (default 3600)",
    )
    link.add_argument(
        "--per-key-sessions",
        action="store_true",
        help='write sessions = "per_key" and let the role take SourceIdentity and session tags',
    )
    link.add_argument(
        "--replace", action="store_true", help="replace a profile with another role, or a link to another profile"
    )
    mode = link.add_mutually_exclusive_group(required=True)
    mode.add_argument("--template", action="store_true", help="print the CloudFormation template (YAML) only")
    mode.add_argument("--deploy", action="store_true", help="deploy the stack, check the role, write the file")
    link.add_argument("--dry-run", action="store_true", help="with --deploy: print the file's diff, change nothing")
    _dashboard_flag(link)
    link.set_defaults(handler=handle_link)

    unlink = subparsers.add_parser(
        "unlink",
        help="remove a deployment profile no link uses (and its stack)",
        description="Remove the deployment profile from the dashboard file (refused while links use it: "
        "they are listed); with --delete-stack, delete its CloudFormation stack first.",
    )
    unlink.add_argument("--org", required=True, help="the dashboard org")
    unlink.add_argument("--profile", required=True, metavar="NAME", help="the deployment profile to remove")
    unlink.add_argument("--delete-stack", action="store_true", help="delete the profile's stack (and role) first")
    unlink.add_argument("--region", help="the stack's region (default: the profile's region, else botocore's)")
    _dashboard_flag(unlink)
    unlink.set_defaults(handler=handle_unlink)


def _require_tomlkit() -> None:
    if importlib.util.find_spec("tomlkit") is None:
        raise CliError(f"editing the dashboard file needs tomlkit: {INSTALL_HINT}", code=EXIT_USAGE)


def _progress(line: str) -> None:
    sys.stderr.write(f"sls-access: {line}\n")
    sys.stderr.flush()


def _event(event: StackEvent) -> None:
    _progress(f"stack: {event}")


def _dashboard_path(args: argparse.Namespace) -> tuple[Path, bool]:
    """Return the dashboard file to edit (symlinks resolved), and whether it is the project file."""
    from sls_access.dashboard.http import is_service_url  # noqa: PLC0415 - loaded when linking
    from sls_access.dashboard.locate import default_file, find_project_file  # noqa: PLC0415
    from sls_access.dashboard.login import stored_dashboard  # noqa: PLC0415

    named = args.dashboard or os.environ.get("SLS_ACCESS_DASHBOARD") or None
    if named is None:
        project = find_project_file()
        if project is not None:
            return project.resolve(), True
        named = stored_dashboard()
    if named is not None and is_service_url(named):
        raise ConfigError(
            "link edits a local dashboard file; a dashboard service's file is edited on its host (--dashboard FILE)",
            key="dashboard",
        )
    # Resolved: a symlinked file is edited where it lives (os.replace would replace the link).
    return (Path(named).expanduser() if named is not None else default_file()).resolve(), False


def _trusted(path: Path, project: bool, content: bytes | None) -> bool:
    """Return whether *content* is the trusted content of the project file *path*."""
    from sls_access.dashboard.trust import check_trusted  # noqa: PLC0415

    if not project or content is None:
        return False
    try:
        check_trusted(str(path), content)
    except ConfigError:
        return False
    return True


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the dashboard file: {exc.strerror}", path=str(path)) from None


def _checked_args(args: argparse.Namespace) -> Target | None:
    if not ACCOUNT_ID.fullmatch(args.account):
        raise UsageError(f"--account {args.account[:40]!r} is not an AWS account id (12 digits)")
    if not MIN_DURATION <= args.duration <= MAX_DURATION:
        raise UsageError(f"--duration {args.duration} is outside {MIN_DURATION}..{MAX_DURATION}")
    if (args.app is None) != (args.stage is None):
        raise UsageError("--app and --stage go together (the stage to link)")
    if args.region is not None and region_problem(args.region) is not None:
        raise UsageError(f"--region: {region_problem(args.region)}")
    if args.dry_run and not args.deploy:
        raise UsageError("--dry-run goes with --deploy (--template changes nothing anyway)")
    for arn in args.trust:
        if caller_principal(arn) != arn:
            raise UsageError(f"--trust {arn[:100]!r} is not an IAM user, role or root ARN")
    for arn in args.policy:
        if not _POLICY_ARN.fullmatch(arn):
            raise UsageError(f"--policy {arn[:100]!r} is not an IAM managed policy ARN")
    Target(org=args.org, app=args.app or "-", stage=args.stage or "-")  # the name rules (ConfigError)
    if args.app is None:
        return None
    return Target(org=args.org, app=args.app, stage=args.stage, region=args.region)


def _caller(session: botocore.session.Session, region: str) -> tuple[str, str]:
    """Return the caller's (account, ARN) from STS ``GetCallerIdentity``."""
    from sls_access.link.stack import describe_error  # noqa: PLC0415

    try:
        client = cast("STSClient", session.create_client("sts", region_name=region, config=client_config()))
        identity = client.get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise LinkError(describe_error(exc, "STS GetCallerIdentity (who is linking)")) from None
    return str(identity["Account"]), str(identity["Arn"])


def _session_actions(args: argparse.Namespace, target: Target | None, role_arn: str) -> tuple[str, ...]:
    """Return the trust policy's session actions: what the installed plugins' role sessions use."""
    from sls_access.plugin._plugins import Plugins  # noqa: PLC0415 - plugin discovery only when linking

    if args.per_key_sessions:
        return ("sts:SetSourceIdentity", "sts:TagSession")
    options = Options.from_env()
    probe = target or Target(org=args.org, app="-", stage="-")
    session = Plugins.load(options.disable_plugins).role_session(
        probe, DeploymentProfile(name=args.profile, role_arn=role_arn, account_id=args.account), options
    )
    actions = []
    if session.source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    return tuple(actions)


def handle_link(args: argparse.Namespace) -> int:
    """Print the template, or deploy it, check the role and write the dashboard file.

    A write holds the dashboard file's lock from the read to the write, so that concurrent
    ``link`` runs take turns.
    """
    target = _checked_args(args)
    if not args.deploy:
        return _link(args, target, None, project=False)
    _require_tomlkit()
    from sls_access.dashboard import edit  # noqa: PLC0415 - needs the "link" extra

    path, project = _dashboard_path(args)
    if args.dry_run:
        return _link(args, target, path, project=project)
    edit.check_writable(path)
    with edit.locked(path):
        return _link(args, target, path, project=project)


def _link(args: argparse.Namespace, target: Target | None, path: Path | None, *, project: bool) -> int:
    session = botocore.session.Session()
    region = args.region or session.get_config_variable("region") or FALLBACK_REGION
    previous: bytes | None = None
    trusted = False
    if path is not None:
        previous = _read(path)
        trusted = _trusted(path, project, previous)  # judged on the bytes that are edited
    caller_arn: str | None = None
    if args.trust:
        trust = tuple(dict.fromkeys(args.trust))
    else:
        account, caller_arn = _caller(session, region)
        principal = caller_principal(caller_arn)
        if principal is None:
            raise LinkError(
                f"your identity {caller_arn} cannot be named in a trust policy; name who may enter "
                "the role with --trust PRINCIPAL_ARN"
            )
        trust = (principal,)
    probe_arn = RoleSpec(
        org=args.org, profile=args.profile, account_id=args.account, trust=trust, external_id=DRY_RUN_EXTERNAL_ID
    ).role_arn
    spec = RoleSpec(
        org=args.org,
        profile=args.profile,
        account_id=args.account,
        trust=trust,
        external_id=DRY_RUN_EXTERNAL_ID if args.dry_run else new_external_id(),
        duration_seconds=args.duration,
        session_actions=_session_actions(args, target, probe_arn),
        policies=tuple(dict.fromkeys(args.policy)),
    )
    body = to_yaml(template(spec))
    if args.template:
        sys.stdout.write(body)
        return 0
    assert path is not None  # noqa: S101 - given for --deploy
    from sls_access.dashboard import edit  # noqa: PLC0415

    old_text = "" if previous is None else edit.decode(previous, str(path))
    link = None if target is None else edit.LinkSpec(app=target.app, stage=target.stage, region=target.region)

    def new_text(role_arn: str) -> str:
        profile = edit.ProfileSpec(
            role_arn=role_arn,
            external_id=spec.external_id,
            account_id=args.account,
            duration_seconds=args.duration,
            region=args.region,
            sessions="per_key" if args.per_key_sessions else None,
        )
        return edit.link_profile(
            old_text, str(path), org=args.org, name=args.profile, profile=profile, link=link, replace=args.replace
        )

    # Checked before any AWS change: the conflicts --replace settles, and the file's validity.
    edit.validate(new_text(spec.role_arn), str(path))
    if args.dry_run:
        # External IDs are masked (the current ones are secrets); the placeholder is not one.
        sys.stdout.write(
            edit.diff(old_text, new_text(spec.role_arn), str(path), shown=(DRY_RUN_EXTERNAL_ID,)) or "no change\n"
        )
        return 0
    if args.trust:
        account, caller_arn = _caller(session, region)
    assert caller_arn is not None  # noqa: S101 - asked above in either case
    if account != args.account:
        raise LinkError(
            f"your credentials are in account {account}, not {args.account}: CloudFormation would "
            f"create the role in {account}. Deploy with credentials of {args.account}, or hand "
            "the --template to someone who has them"
        )
    return _deploy(
        args,
        session=session,
        region=region,
        spec=spec,
        body=body,
        path=path,
        previous=previous,
        trusted=trusted,
        new_text=new_text,
        target=target,
        caller_arn=caller_arn,
    )


def _rerun(args: argparse.Namespace, path: Path) -> str:
    """Return the ``sls-access link`` command that runs *args* again (on the resolved *path*)."""
    argv = ["sls-access", "link", "--org", args.org, "--profile", args.profile, "--account", args.account]
    for flag, value in (
        ("--app", args.app),
        ("--stage", args.stage),
        ("--region", args.region),
        ("--stack-name", args.stack_name),
    ):
        if value is not None:
            argv += [flag, value]
    for flag, values in (("--trust", args.trust), ("--policy", args.policy)):
        for value in dict.fromkeys(values):
            argv += [flag, value]
    if args.duration != 3600:  # the flag's default
        argv += ["--duration", str(args.duration)]
    argv += ["--per-key-sessions"] * args.per_key_sessions + ["--replace"] * args.replace
    return shlex.join([*argv, "--dashboard", str(path), "--deploy"])


def _deploy(
    args: argparse.Namespace,
    *,
    session: botocore.session.Session,
    region: str,
    spec: RoleSpec,
    body: str,
    path: Path,
    previous: bytes | None,
    trusted: bool,
    new_text: Callable[..., str],
    target: Target | None,
    caller_arn: str,
) -> int:
    from sls_access.dashboard import edit  # noqa: PLC0415
    from sls_access.dashboard.trust import trust  # noqa: PLC0415
    from sls_access.link.stack import find_stack, owner_tags  # noqa: PLC0415
    from sls_access.link.verify import verify_role  # noqa: PLC0415
    from sls_access.plugin._plugins import Plugins  # noqa: PLC0415

    client = session.create_client("cloudformation", region_name=region, config=client_config())
    stack, legacy = find_stack(
        client, args.org, args.profile, name=args.stack_name, on_event=_event, timeout=args.timeout
    )
    name = stack.name
    if legacy:
        # Made before names were unique per (org, profile), and its tags say it is this
        # pair's: updated under its name, keeping its role (and the role's ARN in the file).
        spec = attrs.evolve(spec, legacy_name=True)
        body = to_yaml(template(spec))
    _progress(f"deploying stack {name} in {args.account} ({region})")
    outputs = stack.deploy(body, owner_tags(args.org, args.profile))
    role_arn = outputs.get("RoleArn")
    if role_arn != spec.role_arn:
        raise LinkError(
            f"stack {name} gave role {role_arn or '(no RoleArn output)'}, not {spec.role_arn}: "
            "refused, the dashboard file is unchanged",
            stack_name=name,
        )
    options = Options.from_env()
    probe = target or Target(org=args.org, app="-", stage="-")
    profile = DeploymentProfile(
        name=args.profile,
        role_arn=role_arn,
        account_id=args.account,
        duration_seconds=args.duration,
        external_id=spec.external_id,
    )
    role_session = Plugins.load(options.disable_plugins).role_session(probe, profile, options)
    tags = None
    if args.per_key_sessions:
        # Entered as a per-key session will enter it: the caller's SourceIdentity (the SDK's
        # rule) and the four session tags, so that sts:TagSession is checked as well.
        role_session = attrs.evolve(role_session, source_identity=source_identity_of_arn(caller_arn))
        tags = key_session_tags(probe, CHECK_KEY_NAME)
    verified = verify_role(session, probe, profile, role_session=role_session, region=region, tags=tags)
    _progress(f"checked: AssumeRole with the external ID gives {verified.arn}")
    text = new_text(role_arn)
    edit.validate(text, str(path))
    try:
        backup = edit.write_atomically(path, text, previous=previous)
    except edit.FileChanged:
        # AWS was changed already: say so, and how to get the file in line with it.
        raise LinkError(
            f"{path}: the dashboard file changed while linking (edited meanwhile), so nothing was "
            f"written to it; but stack {name} WAS deployed: role {role_arn} now takes a new "
            f"external ID, and deployment profile {args.profile!r} (if the file has it) no longer "
            f"enters it. Write the profile again: {_rerun(args, path)}",
            stack_name=name,
        ) from None
    lines = [f"deployment profile {args.profile!r} of org {args.org!r} -> {role_arn}"]
    if target is not None:
        lines.append(f"linked {target} to it")
    lines.append(f"wrote {path}" + (f" (previous content in {backup})" if backup else ""))
    if trusted:
        trust(path, content=text.encode("utf-8"))  # what was written, not what the file holds by now
        lines.append(f"trusted the new content of {path} (the old one was trusted; the change is the link's)")
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


def handle_unlink(args: argparse.Namespace) -> int:
    """Remove the deployment profile (refused while links use it); with --delete-stack, its stack first."""
    _require_tomlkit()
    from sls_access.dashboard import edit  # noqa: PLC0415 - needs the "link" extra

    path, project = _dashboard_path(args)
    if not path.exists():
        raise ConfigError("the dashboard file does not exist", path=str(path))
    edit.check_writable(path)
    with edit.locked(path):  # held from the read to the write, as link does
        return _unlink(args, path, project=project)


def _unlink(args: argparse.Namespace, path: Path, *, project: bool) -> int:
    from sls_access.dashboard import edit  # noqa: PLC0415 - needs the "link" extra
    from sls_access.dashboard.file import parse_dashboard_file  # noqa: PLC0415
    from sls_access.dashboard.trust import trust  # noqa: PLC0415
    from sls_access.link.stack import find_stack, owner_tags  # noqa: PLC0415

    previous = _read(path)
    if previous is None:
        raise ConfigError("the dashboard file does not exist", path=str(path))
    trusted = _trusted(path, project, previous)
    text = edit.unlink_profile(edit.decode(previous, str(path)), str(path), org=args.org, name=args.profile)
    edit.validate(text, str(path))
    edit.check_writable(path)
    if args.delete_stack:
        session = botocore.session.Session()
        # link deploys the stack in the profile's region (--region), else botocore's.
        profile_region = parse_dashboard_file(previous, str(path)).orgs[args.org].profiles[args.profile].region
        region = args.region or profile_region or session.get_config_variable("region") or FALLBACK_REGION
        client = session.create_client("cloudformation", region_name=region, config=client_config())
        stack, _ = find_stack(
            client, args.org, args.profile, name=args.stack_name, on_event=_event, timeout=args.timeout
        )
        name = stack.name
        _progress(f"deleting stack {name} ({region})")
        if stack.delete(owner_tags(args.org, args.profile)):
            sys.stdout.write(f"deleted stack {name}\n")
        else:
            sys.stdout.write(f"no stack {name} in {region} (nothing to delete)\n")
    try:
        backup = edit.write_atomically(path, text, previous=previous)
    except edit.FileChanged:
        if not args.delete_stack:
            raise
        raise LinkError(
            f"{path}: the dashboard file changed while unlinking (edited meanwhile), so nothing was "
            f"written to it; but the stack WAS deleted, with its role, and deployment profile "
            f"{args.profile!r} still names it. Remove the profile: sls-access unlink --org "
            f"{shlex.quote(args.org)} --profile {shlex.quote(args.profile)} --dashboard "
            f"{shlex.quote(str(path))}"
        ) from None
    if trusted:
        trust(path, content=text.encode("utf-8"))
    sys.stdout.write(
        f"removed deployment profile {args.profile!r} of org {args.org!r} from {path} (previous content in {backup})\n"
    )
    return 0
