"""Where the dashboard comes from: one answer, the same for the library, the CLI and ``explain``.

In order, the first that is set wins:

1. the ``dashboard`` option (``--dashboard``, ``SLS_ACCESS_DASHBOARD``): a file that must
   exist, or a service URL;
2. a **project file**, ``sls-access.toml`` in the current directory or the nearest parent
   that has one (as git finds ``.git``), used only once trusted (``sls-access trust``,
   :mod:`sls_access.dashboard.trust`) and only when no other user owns it or a directory
   on the way to it (:mod:`sls_access.dashboard.owner`): an untrusted, changed or foreign
   one is a :class:`~sls_access.ConfigError`, never skipped; the file stored by
   ``sls-access login`` needs no trust (it is the user's choice wherever it is found);
3. the user's own setting, stored by ``sls-access login`` (:mod:`sls_access.dashboard.login`):
   a file that must still exist, or a service URL;
4. ``$XDG_CONFIG_HOME/sls-access/dashboard.toml`` (default ``~/.config``), when it exists.

None of these: :func:`locate_dashboard` returns None and the dashboard source is skipped,
with :func:`nothing_found` as the reason. Fail closed: every file that is there but
cannot be read, checked or trusted is an error, never a reason to look further.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from sls_access._options import Options
from sls_access._userfiles import config_dir, expand_user
from sls_access.dashboard.login import stored_dashboard
from sls_access.dashboard.owner import check_project_owner
from sls_access.dashboard.trust import PROJECT_FILE, check_trusted
from sls_access.errors import ConfigError

if TYPE_CHECKING:
    from sls_access.dashboard.file import DashboardFile

__all__ = [
    "DashboardKind",
    "DashboardLocation",
    "FoundBy",
    "default_file",
    "find_project_file",
    "locate_dashboard",
    "nothing_found",
]

DEFAULT_FILE = "dashboard.toml"


class DashboardKind(enum.StrEnum):
    """A local dashboard file, or a dashboard service."""

    FILE = "file"
    SERVICE = "service"


class FoundBy(enum.StrEnum):
    """How the dashboard was found (see the module docstring for the order)."""

    OPTION = "option"
    PROJECT = "project"
    LOGIN = "login"
    DEFAULT = "default"


_HOW = {
    FoundBy.OPTION: "the dashboard option / --dashboard / SLS_ACCESS_DASHBOARD",
    FoundBy.PROJECT: "trusted project file",
    FoundBy.LOGIN: "stored by 'sls-access login'",
    FoundBy.DEFAULT: "the default location",
}


@attrs.frozen(kw_only=True)
class DashboardLocation:
    """The dashboard in use: a file path (absolute) or a service URL, and how it was found.

    :ivar content: for a project file, the bytes whose trust was checked; :meth:`load`
        parses those bytes, not a second read of the file.
    """

    kind: DashboardKind
    location: str
    found_by: FoundBy
    content: bytes | None = attrs.field(default=None, repr=False, eq=False)

    def __str__(self) -> str:
        return f"{self.location} ({_HOW[self.found_by]})"

    def load(self) -> DashboardFile:
        """Return the parsed dashboard file (a :class:`~sls_access.ConfigError` for a service)."""
        if self.kind is not DashboardKind.FILE:
            raise ConfigError("a dashboard service is not a file", key="dashboard")
        # The parser loads with the first dashboard file, not with this module: a process
        # with no dashboard never needs it (nor tomllib and difflib).
        from sls_access.dashboard.file import load_dashboard_file, parse_dashboard_file  # noqa: PLC0415

        if self.content is not None:
            return parse_dashboard_file(self.content, self.location)
        return load_dashboard_file(Path(self.location))

    def to_json(self) -> dict[str, str]:
        """Return the JSON form ``explain --json`` prints."""
        return {"kind": str(self.kind), "location": self.location, "found_by": str(self.found_by)}


def default_file(environ: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_CONFIG_HOME/sls-access/dashboard.toml``, looked at last."""
    return config_dir(environ) / DEFAULT_FILE


def _cwd(cwd: str | os.PathLike[str] | None) -> Path:
    if cwd is not None:
        return Path(os.path.abspath(cwd))
    try:
        return Path(os.getcwd())  # the real directory: symlinks resolved by the kernel
    except OSError as exc:
        raise ConfigError(
            f"cannot look for a project dashboard file: the current directory is gone ({exc.strerror})", key="dashboard"
        ) from None


def find_project_file(cwd: str | os.PathLike[str] | None = None, *, check_owner: bool = True) -> Path | None:
    """Return ``sls-access.toml`` in *cwd* (default: the current directory) or its nearest parent.

    Any entry of that name counts, even a broken link or a directory (the read then
    fails); a directory whose entries cannot be checked is a :class:`~sls_access.ConfigError`.
    So is a file that another user owns or could replace (:mod:`sls_access.dashboard.owner`),
    unless *check_owner* is false (``trust --revoke``: forgetting trust is always safe).
    """
    start = _cwd(cwd)
    for directory in (start, *start.parents):
        candidate = directory / PROJECT_FILE
        try:
            candidate.lstat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ConfigError(
                f"cannot check for a project dashboard file: {exc.strerror}", path=str(candidate)
            ) from None
        if check_owner:
            check_project_owner(candidate, start)
        return candidate
    return None


# A dashboard access key (``sls_<id>_<secret>``) put where a file name belongs, by mistake.
_ACCESS_KEY = re.compile(r"sls_[0-9a-f]{12}_", re.ASCII)


def _file(
    value: str, found_by: FoundBy, problem: str, cwd: str | os.PathLike[str] | None, environ: Mapping[str, str] | None
) -> DashboardLocation:
    # ``~`` is the HOME of *environ*, and a relative path is relative to *cwd*: the
    # caller's, when the agent resolves for it (not the agent's own HOME and ``/``).
    expanded = expand_user(value, environ)
    path = Path(os.path.abspath(expanded if os.path.isabs(expanded) else os.path.join(_cwd(cwd), expanded)))
    if not path.is_file():
        if _ACCESS_KEY.search(value):  # never echo it: it is a secret, not a file name
            raise ConfigError(
                f"{problem}: the value looks like a dashboard access key, which belongs in "
                "SERVERLESS_ACCESS_KEY (it is not shown)",
                key="dashboard",
            )
        raise ConfigError(problem, path=str(path), key="dashboard")
    return DashboardLocation(kind=DashboardKind.FILE, location=str(path), found_by=found_by)


def _named(
    value: str, found_by: FoundBy, problem: str, cwd: str | os.PathLike[str] | None, environ: Mapping[str, str] | None
) -> DashboardLocation:
    from sls_access.dashboard.http import is_service_url  # noqa: PLC0415 - the client loads when a dashboard is named

    if is_service_url(value):
        return DashboardLocation(kind=DashboardKind.SERVICE, location=value, found_by=found_by)
    return _file(value, found_by, problem, cwd, environ)


def _project(candidate: Path, environ: Mapping[str, str] | None) -> DashboardLocation:
    try:
        resolved = candidate.resolve(strict=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the project dashboard file: {exc.strerror or exc}", path=str(candidate)
        ) from None
    stored = _stored_file(environ)
    if stored is not None and _same_file(stored, resolved):
        # The file the user stored with `sls-access login`: their choice, as it is from any
        # other directory, so the same answer here (not "changed since you trusted it").
        return DashboardLocation(kind=DashboardKind.FILE, location=stored, found_by=FoundBy.LOGIN)
    from sls_access.dashboard.file import read_dashboard_bytes  # noqa: PLC0415 - see DashboardLocation.load

    content = read_dashboard_bytes(resolved)
    check_trusted(str(resolved), content, environ)
    return DashboardLocation(kind=DashboardKind.FILE, location=str(resolved), found_by=FoundBy.PROJECT, content=content)


def _stored_file(environ: Mapping[str, str] | None) -> str | None:
    """Return the dashboard file stored by ``sls-access login`` (absolute), or None (none, or a URL)."""
    stored = stored_dashboard(environ)
    return stored if stored is not None and os.path.isabs(stored) else None


def _same_file(stored: str, resolved: Path) -> bool:
    try:
        return Path(stored).resolve(strict=True) == resolved
    except OSError:
        return False  # gone: the project file is then checked for trust as any other


def locate_dashboard(
    options: Options, cwd: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> DashboardLocation | None:
    """Return the dashboard *options* and the user's files lead to, or None when there is none.

    *cwd* (default: the current directory) is where the project file search starts, and
    what a relative dashboard option is relative to; *environ* (default ``os.environ``)
    gives the XDG directories and the ``HOME`` of ``~``.
    """
    if options.dashboard is not None:
        return _named(options.dashboard, FoundBy.OPTION, "dashboard file not found", cwd, environ)
    candidate = find_project_file(cwd)
    if candidate is not None:
        return _project(candidate, environ)
    stored = stored_dashboard(environ)
    if stored is not None:
        return _named(
            stored,
            FoundBy.LOGIN,
            "the dashboard file stored by 'sls-access login' does not exist; "
            "run 'sls-access login --dashboard FILE_OR_URL' or 'sls-access logout'",
            cwd,
            environ,
        )
    default = default_file(environ)
    if os.path.lexists(default):
        return DashboardLocation(kind=DashboardKind.FILE, location=str(default), found_by=FoundBy.DEFAULT)
    return None


def nothing_found(cwd: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Return the trail's reason when :func:`locate_dashboard` found no dashboard: where it looked."""
    return (
        f"no dashboard (no dashboard option or SLS_ACCESS_DASHBOARD; no {PROJECT_FILE} in {_cwd(cwd)} "
        f"or a parent; no 'sls-access login'; no {default_file(environ)})"
    )
