"""Running the service on uvicorn: workers, logging (the audit log on stdout), limits.

The one way to launch the service: uvicorn run any other way (``uvicorn --factory``)
would have neither the audit log at INFO, nor the proxy trust given here, nor the
header and connection limits of :mod:`sls_access.service._protocol`.

Used by ``sls-access serve``. Workers are separate processes (uvicorn's supervisor) that
share the listening socket; each builds the app from the environment
(:func:`~sls_access.service.app.from_env`), so each has its own cache: expect one STS call
per link per credential lifetime *per worker*.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
from pathlib import Path
from typing import Any

from sls_access.errors import ConfigError, SlsAccessError
from sls_access.service._audit import LOGGER as AUDIT_LOGGER
from sls_access.service.app import create_app
from sls_access.service.keys import default_keys_path

__all__ = ["BACKLOG", "DEFAULT_MAX_CONNECTIONS", "PortInUseError", "log_config", "serve"]

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 1000
"""Open connections per worker (``--max-connections``), lowered to what the descriptor limit fits."""
MIN_CONNECTIONS = 64
"""The fewest connections per worker the default is lowered to; below it ``serve`` refuses to start."""
BACKLOG = 256
"""The listen backlog; also how many connections one wake-up may accept at once."""
_SPARE_DESCRIPTORS = 64
"""Descriptors a worker needs besides its connections: STS, the files, logging."""


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


def _ensure_descriptors(max_connections: int | None) -> int:
    """Raise the soft descriptor limit so that the connections (and an accept burst) fit; return the limit.

    Past the descriptor limit, accepting fails and clients are refused at random; the
    connection limit only holds if every connection it allows gets a descriptor. An
    explicit *max_connections* that cannot fit is a :class:`~sls_access.ConfigError`; the
    default (None: :data:`DEFAULT_MAX_CONNECTIONS`) is lowered to what fits, with a warning.
    """
    wanted = DEFAULT_MAX_CONNECTIONS if max_connections is None else max_connections
    overhead = BACKLOG + _SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted + overhead:
        return wanted
    if hard != resource.RLIM_INFINITY and hard < wanted + overhead:
        fits = hard - overhead
        if max_connections is not None or fits < MIN_CONNECTIONS:
            raise ConfigError(f"--max-connections {wanted} needs {wanted + overhead} file descriptors per worker, "
                              f"but the limit is {hard} (ulimit -n): lower --max-connections or raise the limit")
        log.warning("the file descriptor limit (ulimit -n %d) fits %d connections per worker, not %d: "
                    "serving with --max-connections %d", hard, fits, wanted, fits)
        wanted = fits
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted + overhead, hard))
    return wanted


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
          forwarded_allow_ips: str | None = None, http: str = "auto",
          max_connections: int | None = None, ui: bool = True, edit_dashboard: bool = False,
          template_bucket: str | None = None, session_hours: float | None = None) -> None:
    """Serve *dashboard* until interrupted.

    :param ui: serve the web UI at ``/ui/`` (the admin API is served either way).
    :param edit_dashboard: let the admin API and the UI write profiles and links to the
        dashboard file; without it the file is under review and edits are ``409 managed_by_file``.
    :param template_bucket: ``s3://BUCKET[/PREFIX]`` where "Connect AWS" uploads templates
        for the console's quick-create link.
    :param session_hours: how long a web UI session lasts (default 8).

    :param forwarded_allow_ips: addresses of the TLS terminators whose
        ``X-Forwarded-For`` is trusted (the client address the throttle and the audit log
        use); None trusts none.
    :raises ~sls_access.ConfigError: the dashboard file or the key file is missing, cannot
        be read or is invalid.
    :raises PortInUseError: *host*:*port* cannot be bound.
    :param http: uvicorn's HTTP implementation: ``auto`` (httptools when installed), ``h11``
        or ``httptools``; either runs with the header deadline and size cap of
        :mod:`sls_access.service._protocol`.
    :param max_connections: open connections per worker; past it, the connection that has
        waited longest for its request's headers is closed. None: :data:`DEFAULT_MAX_CONNECTIONS`,
        or fewer when the file descriptor limit cannot be raised that far (with a warning).
    """
    try:
        import uvicorn  # noqa: PLC0415 - the "server" extra
    except ImportError:
        raise ConfigError("the server needs its extra: pip install 'sls-access[server]'") from None
    path = Path(dashboard).expanduser().resolve()
    keys_path = default_keys_path(path) if keys is None else Path(keys).expanduser().resolve()
    create_app(path, keys=keys_path).vendor.close()  # fail now, in one line, on a bad dashboard or key file
    _check_key_file(keys_path, path)
    _check_port(host, port)
    from sls_access.service import _protocol  # noqa: PLC0415 - imports uvicorn

    _protocol.check(http)
    max_connections = _ensure_descriptors(max_connections)
    os.environ["SLS_ACCESS_DASHBOARD"] = str(path)
    os.environ["SLS_ACCESS_MAX_CONNECTIONS"] = str(max_connections)  # bounds the throttle's held answers
    if keys is not None:
        os.environ["SLS_ACCESS_KEYS"] = str(keys_path)
    else:
        os.environ.pop("SLS_ACCESS_KEYS", None)
    from sls_access.service.site import site_environment  # noqa: PLC0415

    os.environ.update(site_environment(ui=ui, edit_dashboard=edit_dashboard, template_bucket=template_bucket,
                                       session_hours=session_hours))
    uvicorn.run(
        "sls_access.service.app:from_env",
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
        http=_protocol.protocol_path(http),
        # Read by the guard as "at most max_connections open"; uvicorn answers 503 past it.
        limit_concurrency=max_connections + 1,
        backlog=BACKLOG,
        timeout_keep_alive=15,
        h11_max_incomplete_event_size=_protocol.MAX_HEADER_BYTES,
    )
