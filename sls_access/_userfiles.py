"""The user's own sls-access files: where they live (XDG directories) and how they are kept.

``$XDG_CONFIG_HOME/sls-access/`` (default ``~/.config/sls-access/``) holds what the user
chose (``sls-access login``, the default dashboard file); ``$XDG_STATE_HOME/sls-access/``
(default ``~/.local/state/sls-access/``) holds what sls-access records for them (trusted
project files). A relative ``XDG_*`` value is ignored, as the XDG spec says. Each
function takes the environment to read (default ``os.environ``), its ``HOME`` too: the
agent finds a caller's files as the caller would.

Files sls-access writes here are replaced atomically (a temporary file in the same
directory, then ``os.replace``), are 0600 and live in a 0700 directory. Files it reads
here decide which AWS account keys come from, so one that another user could have
written (not owned by this user, or writable by group or others) is refused, not read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from sls_access._atomic import replace_file
from sls_access.errors import ConfigError

__all__ = ["config_dir", "expand_user", "read_private", "remove", "state_dir", "write_private"]

APP_DIR = "sls-access"


def expand_user(path: str, environ: Mapping[str, str] | None = None) -> str:
    """Return *path* with a leading ``~`` replaced by the home of *environ* (default ``os.environ``).

    As :func:`os.path.expanduser`, but with the ``HOME`` of the environment given: the
    agent expands a caller's ``~`` with the caller's ``HOME``, not its own. Without
    ``HOME``, the home of this process's user (the password database); ``~user`` is
    that user's home.
    """
    if environ is None or not path.startswith("~"):
        return os.path.expanduser(path)
    end = path.find("/", 1)
    if end < 0:
        end = len(path)
    if end > 1:  # ~user: the same for every caller
        return os.path.expanduser(path)
    home = environ.get("HOME")
    if home is None:
        import pwd  # noqa: PLC0415 - only for an environment without HOME

        home = pwd.getpwuid(os.getuid()).pw_dir
    return (home.rstrip("/") + path[end:]) or "/"


def _xdg(environ: Mapping[str, str] | None, variable: str, default: str) -> Path:
    env = os.environ if environ is None else environ
    value = env.get(variable) or ""
    base = Path(value) if os.path.isabs(value) else Path(expand_user(default, env))
    return base / APP_DIR


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_CONFIG_HOME/sls-access`` (default ``~/.config/sls-access``)."""
    return _xdg(environ, "XDG_CONFIG_HOME", "~/.config")


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_STATE_HOME/sls-access`` (default ``~/.local/state/sls-access``)."""
    return _xdg(environ, "XDG_STATE_HOME", "~/.local/state")


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace *path* with *data* atomically, with file mode *mode*, in a 0700 directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.name == APP_DIR:
        path.parent.chmod(0o700)  # ours alone, also when an older version or umask made it wider
    replace_file(path, data, mode=mode, keep_owner=False)


def read_private(path: Path, *, secret: bool = False, limit: int = 1 << 20) -> bytes | None:
    """Return the bytes of *path*, or None when it does not exist.

    Refused with :class:`~sls_access.ConfigError` (never skipped): a file that cannot be
    read, that is owned by another user, writable by group or others, or — for a
    *secret* — readable by them.
    """
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=where) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("is not a regular file", path=where)
        if info.st_uid != os.geteuid():
            raise ConfigError("is owned by another user; sls-access reads only its user's own files here", path=where)
        loose = info.st_mode & (0o077 if secret else 0o022)
        if loose:
            who = "readable or writable" if secret else "writable"
            raise ConfigError(
                f"is {who} by group or others (mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {where}",
                path=where,
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"is larger than {limit} bytes", path=where)
    return data


def remove(path: Path) -> bool:
    """Remove *path*; return whether it existed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
