"""The user's own dashboard setting: what ``sls-access login`` stores, and ``logout`` removes.

``$XDG_CONFIG_HOME/sls-access/config.toml`` (default ``~/.config/...``, mode 0600) holds
one key, written by hand (the value is the only thing that varies)::

    dashboard = "/home/me/acme/dashboard.toml"      # an absolute path, or a service URL

For a dashboard service, the access key is kept beside it in ``access-key`` (0600). It is
a secret: it never reaches a repr, a log record, an error or output, and it is sent only
to the service URL stored with it (a ``dashboard`` option naming another URL does not
get it). ``SERVERLESS_ACCESS_KEY`` and the ``access_key`` option win over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sls_access._userfiles import config_dir, read_private, remove, write_private
from sls_access.errors import ConfigError

__all__ = [
    "ACCESS_KEY_FILE",
    "CONFIG_FILE",
    "access_key_path",
    "config_path",
    "login",
    "logout",
    "stored_access_key",
    "stored_dashboard",
]

CONFIG_FILE = "config.toml"
ACCESS_KEY_FILE = "access-key"
_KEYS = ("dashboard",)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_CONFIG_HOME/sls-access/config.toml``."""
    return config_dir(environ) / CONFIG_FILE


def access_key_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_CONFIG_HOME/sls-access/access-key``."""
    return config_dir(environ) / ACCESS_KEY_FILE


def toml_string(value: str) -> str:
    """Return *value* as a TOML basic string (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in value:
        if ch in {'"', "\\"}:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def stored_dashboard(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the dashboard path or URL stored by ``sls-access login``, or None.

    A config file that cannot be read, is not the user's alone, or holds anything but
    an absolute path or a URL under ``dashboard`` is a :class:`~sls_access.ConfigError`.
    """
    path = config_path(environ)
    raw = read_private(path)
    if raw is None:
        return None
    # Loaded once there is a login to read: a process with none never needs them.
    import tomllib  # noqa: PLC0415

    from sls_access.dashboard.http import is_service_url  # noqa: PLC0415

    where = str(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"not valid TOML ({type(exc).__name__}); run 'sls-access login' again", path=where) from None
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown key; valid keys: {', '.join(_KEYS)}", path=where, key=unknown[0])
    value = data.get("dashboard")
    if value is None:
        return None
    if not isinstance(value, str) or not (is_service_url(value) or os.path.isabs(value)):
        raise ConfigError("must be an absolute path or a dashboard service URL", path=where, key="dashboard")
    return value


def stored_access_key(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the access key stored by ``sls-access login`` for the service at *url*, or None.

    None unless *url* is the stored dashboard (compared as base URLs): the key goes to
    no other service.
    """
    stored = stored_dashboard(environ)
    if stored is None:
        return None
    from sls_access.dashboard.http import base_url, is_service_url  # noqa: PLC0415 - see stored_dashboard

    if not is_service_url(stored) or base_url(stored) != base_url(url):
        return None
    raw = read_private(access_key_path(environ), secret=True, limit=4096)
    if raw is None:
        return None
    try:
        key = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(
            "the stored access key is not UTF-8 text; run 'sls-access login' again", path=str(access_key_path(environ))
        ) from None
    return key or None


def login(
    location: str | os.PathLike[str], access_key: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """Store *location* (a dashboard file or service URL) as the user's dashboard; return what was stored.

    A file is stored as an absolute path and must exist and parse. A service URL needs
    *access_key*, stored beside it (0600); a file login removes a stored key.
    """
    from sls_access.dashboard.file import load_dashboard_file  # noqa: PLC0415 - see stored_dashboard
    from sls_access.dashboard.http import DashboardService, is_service_url  # noqa: PLC0415

    text = os.fspath(location)
    if is_service_url(text):
        stored = DashboardService(text, access_key or "").url  # checks the URL and the key
    else:
        path = Path(os.path.abspath(Path(text).expanduser()))
        load_dashboard_file(path)  # refuse a missing or broken file now, not at the next deploy
        stored = str(path)
    if not stored.isprintable():  # a path of non-UTF-8 bytes, a newline: not a TOML string to keep
        raise ConfigError(
            "the path holds unprintable characters or bytes that are not UTF-8; move the file", key="dashboard"
        )
    config = config_path(environ)
    write_private(
        config,
        f"# written by 'sls-access login'; remove with 'sls-access logout'\n"
        f"dashboard = {toml_string(stored)}\n".encode(),
    )
    if is_service_url(stored):
        assert access_key is not None  # noqa: S101 - DashboardService refused an empty key above
        write_private(access_key_path(environ), (access_key + "\n").encode())
    else:
        remove(access_key_path(environ))
    return stored


def logout(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Remove the stored dashboard and access key; return the files that were removed."""
    return [path for path in (config_path(environ), access_key_path(environ)) if remove(path)]
