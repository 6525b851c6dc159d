"""Who owns a project dashboard file: another user's file is never used, as git refuses another's repository.

A project file (``sls-access.toml`` in the current directory or a parent) chooses the
role the user's own keys enter. In a directory other users can write to (``/tmp``, a
shared checkout), one of them can plant such a file above the user's work, or replace
the user's own. As git does since CVE-2022-24765 (``safe.directory``), a project file is
not used when it, the file a symlink of that name points to, or a directory between the
current directory and it (each included) is owned by another user. Files and directories
owned by root are fine for everyone: root can change anything anyway. ``sls-access trust``
refuses such a file too, naming its owner.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

from sls_access.errors import ConfigError

__all__ = ["check_project_owner", "owner_problem"]

_ROOT = 0


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _checked(candidate: Path, start: Path | None) -> Iterator[tuple[Path, bool]]:
    """Yield each path whose owner counts, and whether to follow it if it is a symlink."""
    yield candidate, False  # the entry itself (a symlink's own owner)
    yield candidate, True  # what it points to
    if start is not None and (candidate.parent == start or candidate.parent in start.parents):
        for directory in (start, *start.parents):
            yield directory, True
            if directory == candidate.parent:
                break
    else:
        yield candidate.parent, True
    try:
        resolved = candidate.resolve(strict=True)
    except OSError:
        return
    if resolved != candidate:
        yield resolved.parent, True


def owner_problem(candidate: Path, start: Path | None = None, *, uid: int | None = None) -> str | None:
    """Return why the project file *candidate* may not be used because of who owns it, or None.

    :param start: the directory the search for *candidate* started from: every directory
        from it up to *candidate*'s is checked (without it, only *candidate*'s own).
    :param uid: the user it is for (default: this process's effective user).
    """
    me = os.geteuid() if uid is None else uid
    for path, follow in _checked(candidate, start):
        try:
            owner = (path.stat() if follow else path.lstat()).st_uid
        except OSError:
            continue  # a missing target or an unreadable entry: the read that follows reports it
        if owner not in (me, _ROOT):
            what = "the project dashboard file" if path == candidate else f"the directory {path}"
            if path == candidate and follow:
                what = "the file the project dashboard file points to"
            return (
                f"{what} is owned by {_user(owner)}, not by you: a project dashboard file another user "
                "owns or could replace is never used (it would choose the role your keys enter); "
                "remove it, or name your dashboard with --dashboard / SLS_ACCESS_DASHBOARD"
            )
    return None


def check_project_owner(candidate: Path, start: Path | None = None) -> None:
    """Raise :class:`~sls_access.ConfigError` (naming *candidate*) when :func:`owner_problem` finds one."""
    problem = owner_problem(candidate, start)
    if problem is not None:
        raise ConfigError(problem, path=str(candidate))
