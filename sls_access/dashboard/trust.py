"""Trust in project dashboard files: which ``sls-access.toml`` files the user has reviewed.

A project file (``sls-access.toml`` in the current directory or a parent) decides which
access role the user's own AWS credentials enter, and it arrives with a checkout: it is
used only once the user trusts it, as ``direnv allow`` does. ``sls-access trust`` records
the file's absolute, resolved path and the SHA-256 of its bytes in
``$XDG_STATE_HOME/sls-access/trusted.json`` (default ``~/.local/state/...``)::

    {"version": 1, "files": {"/home/me/acme/sls-access.toml": "<sha256 hex>"}}

A project file that is not recorded, or whose bytes have changed since, is a
:class:`~sls_access.ConfigError` naming it and the command to run. The check
(:func:`trust_problem`) is a pure function of the path, the bytes and the records, so a
long-lived process (the agent) can repeat it per request at the cost of one hash; the
bytes checked are the bytes then parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from sls_access._userfiles import read_private, state_dir, write_private
from sls_access.dashboard.owner import check_project_owner
from sls_access.errors import ConfigError

__all__ = [
    "PROJECT_FILE",
    "TRUST_FILE",
    "check_trusted",
    "digest",
    "load_trusted",
    "revoke",
    "trust",
    "trust_path",
    "trust_problem",
]

PROJECT_FILE = "sls-access.toml"
"""The name of a project dashboard file, looked for in the current directory and its parents."""

TRUST_FILE = "trusted.json"
_VERSION = 1
_SHA256_HEX = frozenset("0123456789abcdef")


def trust_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the file of trust records: ``$XDG_STATE_HOME/sls-access/trusted.json``."""
    return state_dir(environ) / TRUST_FILE


def digest(content: bytes) -> str:
    """Return the SHA-256 of *content*, in hex: what a trust record holds."""
    return hashlib.sha256(content).hexdigest()


def load_trusted(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the trust records (resolved path → SHA-256 hex); none when the file does not exist.

    A state file that cannot be read, is not ours alone, or is malformed is a
    :class:`~sls_access.ConfigError`: no record is guessed.
    """
    path = trust_path(environ)
    raw = read_private(path)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ConfigError(
            "not valid JSON; fix it or remove it and trust your project files again", path=str(path)
        ) from None
    files = data.get("files") if isinstance(data, dict) and data.get("version") == _VERSION else None
    if not isinstance(files, dict) or not all(
        isinstance(name, str)
        and os.path.isabs(name)
        and isinstance(value, str)
        and len(value) == 64
        and set(value) <= _SHA256_HEX
        for name, value in files.items()
    ):
        raise ConfigError(
            f'not a trust file of version {_VERSION} ({{"version": 1, "files": {{path: sha256}}}})', path=str(path)
        )
    return files


def _command(path: str) -> str:
    return f"sls-access trust {shlex.quote(path)}"


def trust_problem(path: str, content: bytes, trusted: Mapping[str, str]) -> str | None:
    """Return why the project file at *path* (resolved) with *content* may not be used, or None.

    Pure: no I/O. *trusted* is :func:`load_trusted`'s answer.
    """
    recorded = trusted.get(path)
    if recorded is None:
        return (
            f"this project dashboard file is not trusted: it decides which AWS account your keys "
            f"enter; review it, then run: {_command(path)}"
        )
    if recorded != digest(content):
        return f"this project dashboard file has changed since you trusted it; review it, then run: {_command(path)}"
    return None


def check_trusted(path: str, content: bytes, environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`~sls_access.ConfigError` unless the project file *path* with *content* is trusted."""
    problem = trust_problem(path, content, load_trusted(environ))
    if problem is not None:
        raise ConfigError(problem, path=path)


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def trust(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *, content: bytes | None = None
) -> tuple[str, str]:
    """Record the project file at *path* as trusted; return its resolved path and SHA-256.

    Only a file named :data:`PROJECT_FILE` that parses as a dashboard file, and that no
    other user owns or could replace (:mod:`sls_access.dashboard.owner`), is trusted: any
    other is refused (:class:`~sls_access.ConfigError`), and the hash recorded is
    that of the very bytes checked. *content*, when given, is those bytes instead of the
    file's: a writer (``link``) trusts what it wrote, so that a change made to the file
    after its write is not trusted with it.
    """
    check_project_owner(Path(os.path.abspath(Path(path).expanduser())))
    resolved = _resolved(path)
    if resolved.name != PROJECT_FILE:
        raise ConfigError(
            f"only project files named {PROJECT_FILE} are looked up (and need trust); use "
            "the dashboard option (--dashboard, SLS_ACCESS_DASHBOARD) or "
            "'sls-access login --dashboard FILE' for a file named otherwise",
            path=str(resolved),
        )
    # The parser loads when a file is trusted, not with this module (which every resolution
    # loads, to look for a project file).
    from sls_access.dashboard.file import parse_dashboard_file, read_dashboard_bytes  # noqa: PLC0415

    if content is None:
        content = read_dashboard_bytes(resolved)
    parse_dashboard_file(content, str(resolved))
    records = load_trusted(environ)
    records[str(resolved)] = digest(content)
    _save(records, environ)
    return str(resolved), records[str(resolved)]


def revoke(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """Forget the trust in the project file at *path*; return its resolved path and whether it was trusted."""
    resolved = str(_resolved(path))
    records = load_trusted(environ)
    if records.pop(resolved, None) is None:
        return resolved, False
    _save(records, environ)
    return resolved, True


def _save(records: Mapping[str, str], environ: Mapping[str, str] | None) -> None:
    body = {"version": _VERSION, "files": dict(sorted(records.items()))}
    write_private(trust_path(environ), (json.dumps(body, indent=2) + "\n").encode())
