"""``sls-access aws-config``: the dashboard file's targets as profiles in the AWS config file.

Every (org, app, stage) with a stage link of its own in the local dashboard file becomes
``[profile ORG-APP-STAGE]``, and every stage + region link ``[profile ORG-APP-STAGE-REGION]``,
with a ``credential_process`` that runs this very ``sls-access`` with ``--require-role``
(the profile gives the access role or fails, never other keys) and the deployment
profile's ``region``.

The file is edited as text, so the user's comments and layout stay as they are. A block
is ours only when the marker line is directly above its ``[profile …]`` header; only
those are ever rewritten or removed. A profile of the user's with a name this command
would write is an error (exit 2) and nothing is written: the command never takes over a
block it did not write. Blocks written for the same dashboard file (within ``--org``,
``--app`` and ``--prefix``) whose link is gone are removed. The write is atomic (a
temporary file in the same directory, then ``os.replace``); a new file is 0600, an
existing one keeps its mode.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from sls_access._options import Options
from sls_access._target import Target
from sls_access._userfiles import write_private
from sls_access.cli._common import EXIT_USAGE, CliError, Subcommands
from sls_access.dashboard.locate import DashboardKind, FoundBy, locate_dashboard
from sls_access.dashboard.model import Link

__all__ = ["MARKER", "add_parser", "config_path", "handle", "profile_name"]

MARKER = "# managed by sls-access aws-config"
_PROFILE_HEADER = re.compile(r"\[\s*profile\s+(?P<name>[^\s\]]+)\s*\]\s*(?:[#;].*)?")
# What a profile name may hold here: safe in an INI header, a shell word and a file name.
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_.@+:=,-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def add_parser(subparsers: Subcommands) -> None:
    """Register ``aws-config``."""
    parser = subparsers.add_parser(
        "aws-config",
        help="write the dashboard file's targets into the AWS config file as profiles",
        description="Write a [profile ORG-APP-STAGE] (and ORG-APP-STAGE-REGION) block for every stage "
        "(and stage + region) link of the local dashboard file into the AWS config file "
        "(AWS_CONFIG_FILE, default ~/.aws/config). Each runs 'sls-access credential-process "
        "... --require-role'. Only blocks marked '" + MARKER + "' are ever changed; a profile "
        "of yours with the same name is an error and nothing is written.",
    )
    parser.add_argument(
        "--dashboard",
        metavar="FILE",
        help="the local dashboard file (SLS_ACCESS_DASHBOARD; default: the one stored by "
        "'sls-access login', else $XDG_CONFIG_HOME/sls-access/dashboard.toml)",
    )
    parser.add_argument("--org", help="only this org's targets")
    parser.add_argument("--app", help="only this app's targets")
    parser.add_argument("--prefix", default="", help="put PREFIX before every profile name, e.g. 'sls-'")
    parser.add_argument(
        "--base-profile",
        metavar="NAME",
        help="the profiles' credential-process takes its base credentials from this AWS profile",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the change as a unified diff; write nothing")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    parser.set_defaults(handler=handle)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the AWS config file: ``AWS_CONFIG_FILE``, else ``~/.aws/config``."""
    env = os.environ if environ is None else environ
    return Path(env.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()


def profile_name(target: Target, prefix: str = "") -> str:
    """Return the profile name of *target*: ``PREFIX`` + ``ORG-APP-STAGE[-REGION]``."""
    parts = [target.org, target.app, target.stage, *([target.region] if target.region else [])]
    return prefix + "-".join(parts)


def _executable() -> str:
    """Return the absolute path of the ``sls-access`` console script this program runs from."""
    beside = Path(sys.executable).parent / "sls-access"
    if beside.is_file():
        return os.path.abspath(beside)
    found = shutil.which("sls-access")
    if found is None:
        raise CliError(
            "cannot find the sls-access executable (beside this Python or on PATH) for the profiles' credential_process"
        )
    return os.path.abspath(found)


@attrs.frozen(kw_only=True)
class _Block:
    """One of our blocks in the file: lines ``start`` (the marker) to ``end`` (exclusive)."""

    name: str
    start: int
    end: int
    argv: tuple[str, ...]


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(("#", ";"))


def _parse(lines: Sequence[str]) -> tuple[list[_Block], set[str]]:
    """Return our blocks and the names of the other ``[profile …]`` sections of *lines*."""
    headers = [i for i, line in enumerate(lines) if line.startswith("[")]
    ours: list[_Block] = []
    theirs: set[str] = set()
    for n, start in enumerate(headers):
        match = _PROFILE_HEADER.fullmatch(lines[start].rstrip("\r\n"))
        if match is None:
            continue
        if start == 0 or lines[start - 1].strip() != MARKER:
            theirs.add(match["name"])
            continue
        # The block runs to the next section, less the comments and blank lines just above
        # that section: those belong to what follows (the next block's marker among them).
        end = headers[n + 1] if n + 1 < len(headers) else len(lines)
        while end > start + 1 and _is_blank_or_comment(lines[end - 1]):
            end -= 1
        argv: tuple[str, ...] = ()
        for line in lines[start + 1 : end]:
            key, _, value = line.partition("=")
            if key.strip() == "credential_process":
                try:
                    argv = tuple(shlex.split(value))
                except ValueError:
                    argv = ()
        ours.append(_Block(name=match["name"], start=start - 1, end=end, argv=argv))
    return ours, theirs


def _flag(argv: Sequence[str], flag: str) -> str | None:
    """Return the value after *flag* in *argv*, or None."""
    for i, arg in enumerate(argv[:-1]):
        if arg == flag:
            return argv[i + 1]
    return None


@attrs.frozen(kw_only=True)
class _Plan:
    """What this run manages: the blocks it wants, and which of our other blocks are its to remove."""

    dashboard: str
    org: str | None
    app: str | None
    prefix: str
    wanted: dict[str, list[str]]

    def owns(self, block: _Block) -> bool:
        """Whether *block* was written by a run like this one (same dashboard, filters and prefix)."""
        org, app, stage = (_flag(block.argv, f"--{key}") for key in ("org", "app", "stage"))
        if _flag(block.argv, "--dashboard") != self.dashboard or org is None or app is None or stage is None:
            return False
        if (self.org is not None and org != self.org) or (self.app is not None and app != self.app):
            return False
        region = _flag(block.argv, "--region")
        return block.name == self.prefix + "-".join([org, app, stage, *([region] if region else [])])


def _render(name: str, argv: Sequence[str], region: str | None) -> list[str]:
    """Return the lines of our block for profile *name*."""
    for arg in argv:
        if _CONTROL.search(arg):
            raise CliError(f"cannot write profile {name}: {arg!r} holds a control character", code=EXIT_USAGE)
    lines = [MARKER, f"[profile {name}]", f"credential_process = {shlex.join(argv)}"]
    if region:
        lines.append(f"region = {region}")
    return [line + "\n" for line in lines]


def _same(a: Sequence[str], b: Sequence[str]) -> bool:
    return [line.rstrip("\r\n") for line in a] == [line.rstrip("\r\n") for line in b]


def _edit(lines: Sequence[str], plan: _Plan) -> tuple[list[str], list[str]]:
    """Return the new lines of the file and one line per change (``added profile X``…).

    Raises :class:`CliError` (exit 2) when one of the user's profiles has a wanted name.
    """
    ours, theirs = _parse(lines)
    taken = sorted(set(plan.wanted) & theirs)
    if taken:
        raise CliError(
            f"the AWS config file already has profile(s) {', '.join(taken)} without the "
            f"'{MARKER}' line; sls-access never changes those: rename or remove them, or "
            "choose other names with --prefix (nothing was written)",
            code=EXIT_USAGE,
        )
    by_start = {block.start: block for block in ours}
    out: list[str] = []
    changes: list[str] = []
    placed: set[str] = set()
    i = 0
    while i < len(lines):
        block = by_start.get(i)
        if block is None:
            out.append(lines[i])
            i += 1
            continue
        i = block.end
        current = lines[block.start : block.end]
        if block.name in plan.wanted and block.name not in placed:
            placed.add(block.name)
            wanted = plan.wanted[block.name]
            out.extend(current if _same(current, wanted) else wanted)
            if not _same(current, wanted):
                changes.append(f"updated profile {block.name}")
        elif block.name in plan.wanted or plan.owns(block):  # a duplicate, or its link is gone
            changes.append(f"removed profile {block.name}")
            if i < len(lines) and not lines[i].strip():
                i += 1  # and the blank line after it
            elif out and not out[-1].strip():
                out.pop()  # or, at the end of the file, the one before it
        else:
            out.extend(current)  # ours, but another dashboard file's or prefix's
    missing = {name: block for name, block in plan.wanted.items() if name not in placed}
    _append(out, missing)
    changes.extend(f"added profile {name}" for name in missing)
    return out, changes


def _append(out: list[str], blocks: Mapping[str, list[str]]) -> None:
    """Add *blocks* at the end of *out*, each after a blank line."""
    for block in blocks.values():
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        if out and out[-1].strip():
            out.append("\n")
        out.extend(block)


def _write(path: Path, text: str, mode: int) -> None:
    """Replace *path* with *text* atomically, with file mode *mode*."""
    write_private(path, text.encode("utf-8"), mode)


def _plan(args: argparse.Namespace) -> _Plan:
    """Read the dashboard file and work out the blocks this run wants."""
    explicit = args.dashboard or os.environ.get("SLS_ACCESS_DASHBOARD") or None
    found = locate_dashboard(Options(dashboard=explicit))
    if found is None:
        raise CliError("no dashboard file: give --dashboard FILE (or set SLS_ACCESS_DASHBOARD)", code=EXIT_USAGE)
    if found.kind is DashboardKind.SERVICE:
        raise CliError(
            "aws-config needs a local dashboard file: a dashboard service does not list its targets", code=EXIT_USAGE
        )
    if found.found_by is FoundBy.PROJECT:
        # The profiles name the file with --dashboard, which is not checked for trust: its later
        # versions would be used unreviewed. The user says so explicitly, or not at all.
        raise CliError(
            f"aws-config writes the dashboard file's path into every profile, where later versions "
            f"of it are used without 'sls-access trust'; to do that for the project file, give "
            f"--dashboard {found.location}",
            code=EXIT_USAGE,
        )
    dashboard = found.load()
    path = found.location
    if args.org is not None and args.org not in dashboard.orgs:
        raise CliError(f"org {args.org!r} is not in the dashboard file {path}", code=EXIT_USAGE)
    targets: list[tuple[Target, Link]] = [
        (target, link)
        for target, link in dashboard.targets()
        if args.org in (None, target.org) and args.app in (None, target.app)
    ]
    if args.app is not None and not any(
        args.app in org.apps for name, org in dashboard.orgs.items() if args.org in (None, name)
    ):
        raise CliError(f"app {args.app!r} is not in the dashboard file {path}", code=EXIT_USAGE)
    if args.prefix and not _PROFILE_NAME.fullmatch(args.prefix):
        raise CliError(f"--prefix {args.prefix!r} may hold only letters, digits and _.@+:=,-", code=EXIT_USAGE)
    executable = _executable()
    wanted: dict[str, list[str]] = {}
    for target, link in targets:
        name = profile_name(target, args.prefix)
        if not _PROFILE_NAME.fullmatch(name):
            raise CliError(
                f"cannot name a profile {name!r} for {target}: names may hold only letters, digits and _.@+:=,-",
                code=EXIT_USAGE,
            )
        if name in wanted:
            raise CliError(f"two targets of the dashboard file would both be profile {name}", code=EXIT_USAGE)
        if name == args.base_profile:
            raise CliError(
                f"--base-profile {name} is one of the profiles aws-config writes: its "
                "credential_process would call itself",
                code=EXIT_USAGE,
            )
        argv = [
            executable,
            "credential-process",
            "--org",
            target.org,
            "--app",
            target.app,
            "--stage",
            target.stage,
            *(["--region", target.region] if target.region else []),
            "--dashboard",
            path,
            *(["--base-profile", args.base_profile] if args.base_profile else []),
            "--require-role",
        ]
        wanted[name] = _render(name, argv, target.region or link.profile.region)
    return _Plan(dashboard=path, org=args.org, app=args.app, prefix=args.prefix, wanted=wanted)


def handle(args: argparse.Namespace) -> int:
    """Bring the AWS config file's sls-access profiles in line with the dashboard file."""
    plan = _plan(args)
    path = Path(os.path.realpath(config_path()))  # a symlinked config (dotfiles) is edited where it lives
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the AWS config file {path}: {exc}", code=EXIT_USAGE) from None
    lines = old.splitlines(keepends=True)
    new_lines, changes = _edit(lines, plan)
    new = "".join(new_lines)
    if new == old:
        sys.stdout.write(f"{path} is up to date ({len(plan.wanted)} sls-access profiles)\n")
        return 0
    if args.dry_run:
        sys.stdout.writelines(difflib.unified_diff(lines, new_lines, fromfile=str(path), tofile=f"{path} (new)"))
        return 0
    mode = (path.stat().st_mode & 0o7777) if path.exists() else 0o600
    _write(path, new, mode)
    sys.stdout.writelines(f"{change}\n" for change in changes)
    sys.stdout.write(f"wrote {path}\n")
    return 0
