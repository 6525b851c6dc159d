"""Running the service on uvicorn: workers, logging (the audit log on stdout), limits.

Used by ``sls-access serve``. Workers are separate processes (uvicorn's supervisor) that
share the listening socket; each builds the app from the environment
(:func:`~sls_access.server.app.from_env`), so each has its own cache: expect one STS call
per link per credential lifetime *per worker*.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from sls_access.errors import ConfigError, SlsAccessError
from sls_access.server._audit import LOGGER as AUDIT_LOGGER
from sls_access.server.app import create_app
from sls_access.server.keys import default_keys_path

__all__ = ["PortInUseError", "log_config", "serve"]


class PortInUseError(SlsAccessError):
    """The address ``serve`` was told to listen on cannot be bound (taken, or not ours)."""


def _check_key_file(path: Path, dashboard: Path) -> None:
    """Raise :class:`~sls_access.ConfigError` unless the key file *path* exists and can be read.

    The app treats a missing key file as "no keys yet" (``keys create`` may write it
    later), which would answer every client 401; a server started that way is a mistake.
    """
    hint = f"create a key first: sls-access keys create --dashboard {dashboard} --org ORG --name NAME"
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise ConfigError(f"key file not found ({hint})", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the key file: {exc.strerror}", path=str(path)) from None


def _check_port(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` unless *host*:*port* can be bound now, as uvicorn will bind it.

    uvicorn logs a failed bind after the app has started and exits in a way that says
    nothing on its last line; binding once first gives the one-line reason.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def log_config(level: str = "info") -> dict[str, Any]:
    """Return the logging setup: audit lines alone on stdout, everything else on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(message)s"},
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "audit": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            AUDIT_LOGGER: {"handlers": ["audit"], "level": "INFO", "propagate": False},
            "sls_access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def serve(dashboard: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          keys: str | os.PathLike[str] | None = None, log_level: str = "info",
          forwarded_allow_ips: str | None = None, http: str = "auto") -> None:
    """Serve *dashboard* until interrupted.

    :param forwarded_allow_ips: addresses of the TLS terminators whose
        ``X-Forwarded-For`` is trusted (the client address the throttle and the audit log
        use); None trusts none.
    :raises ~sls_access.ConfigError: the dashboard file or the key file is missing, cannot
        be read or is invalid.
    :raises PortInUseError: *host*:*port* cannot be bound.
    :param http: uvicorn's HTTP implementation: ``auto`` (httptools when installed), ``h11``
        or ``httptools``.
    """
    try:
        import uvicorn  # noqa: PLC0415 - the "server" extra
    except ImportError:
        raise ConfigError("the server needs its extra: pip install 'sls-access[server]'") from None
    path = Path(dashboard).expanduser().resolve()
    create_app(path, keys=keys).vendor.close()  # fail now, in one line, on a bad dashboard or key file
    _check_key_file(default_keys_path(path) if keys is None else Path(keys).expanduser(), path)
    _check_port(host, port)
    os.environ["SLS_ACCESS_DASHBOARD"] = str(path)
    if keys is not None:
        os.environ["SLS_ACCESS_KEYS"] = str(Path(keys).expanduser().resolve())
    else:
        os.environ.pop("SLS_ACCESS_KEYS", None)
    uvicorn.run(
        "sls_access.server.app:from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(log_level),
        access_log=False,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        date_header=False,
        http=http,
        timeout_keep_alive=15,
        h11_max_incomplete_event_size=16384,
    )
