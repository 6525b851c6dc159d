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
import math
import os
import resource
import socket
from pathlib import Path
from typing import Any, cast

from sls_access._install import install_hint
from sls_access._sts_client import StsFailure
from sls_access.errors import ConfigError, SlsAccessError
from sls_access.service._audit import LOGGER as AUDIT_LOGGER
from sls_access.service.app import App, create_app
from sls_access.service.keys import default_keys_path
from sls_access.service.store.snapshot import DEFAULT_AUDIT_DAYS, DEFAULT_MAX_STALE
from sls_access.service.store.url import choose_state

__all__ = [
    "BACKLOG",
    "DEFAULT_KEEP_ALIVE_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "BaseCredentialsError",
    "PortInUseError",
    "log_config",
    "serve",
]

log = logging.getLogger(__name__)

DEFAULT_KEEP_ALIVE_TIMEOUT = 15.0
"""Seconds an idle kept-alive connection stays open (``--keep-alive-timeout``)."""
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


class BaseCredentialsError(SlsAccessError):
    """The service's own AWS credentials are missing or refused (STS ``GetCallerIdentity`` failed)."""


def _check_base_credentials(app: App) -> None:
    """Raise :class:`BaseCredentialsError` unless STS ``GetCallerIdentity`` works with the base credentials.

    Each worker checks them again at its startup (and refuses to start without them), but
    uvicorn's supervisor of several workers exits 0 when one fails to start: this check
    gives the one-line reason and the exit code first.
    """
    try:
        app.vendor.prepare()
    except StsFailure as exc:
        raise BaseCredentialsError(
            f"cannot start: the service's base AWS credentials do not work (STS GetCallerIdentity): {exc}"
        ) from None


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


def _check_state(state: str, dashboard: Path | None, max_stale: float) -> None:
    """Raise :class:`~sls_access.ConfigError` unless *state* opens (migrated) and holds an access key.

    A service with no key answers every client 401: like a missing key file, a mistake.
    """
    app = create_app(dashboard, state=state, state_max_stale=max_stale)
    try:
        store = app.state.store
        store.dashboard()
        if not store.list_keys():
            beside = f" (nor a key file at {default_keys_path(dashboard)})" if dashboard is not None else ""
            option = f"--state {store.url} " if state != choose_state(None, dashboard=None, keys=None) else ""
            raise ConfigError(
                f"no access keys in the state {store.url}{beside}: create one first: "
                f"sls-access keys create {option}--org ORG --name NAME"
            )
        _check_base_credentials(app)
    finally:
        app.vendor.close()
        app.state.store.close()


def _check_port(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` unless *host*:*port* can be bound now, as uvicorn will bind it.

    uvicorn logs a failed bind after the app has started and exits in a way that says
    nothing on its last line; binding once first gives the one-line reason.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
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
            raise ConfigError(
                f"--max-connections {wanted} needs {wanted + overhead} file descriptors per worker, "
                f"but the limit is {hard} (ulimit -n): lower --max-connections or raise the limit"
            )
        log.warning(
            "the file descriptor limit (ulimit -n %d) fits %d connections per worker, not %d: "
            "serving with --max-connections %d",
            hard,
            fits,
            wanted,
            fits,
        )
        wanted = fits
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted + overhead, hard))
    return wanted


def _set_env(name: str, value: str | None) -> None:
    """Set (or, for None, remove) the variable *name* the workers read (:func:`~sls_access.service.app.from_env`)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def log_config(level: str = "info") -> dict[str, Any]:
    """Return the logging setup: audit lines alone on stdout, everything else on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"()": "sls_access.service._audit.LineFormatter"},
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "audit": {
                "class": "sls_access.service._audit.AuditHandler",
                "formatter": "plain",
                "stream": "ext://sys.stdout",
            },
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            AUDIT_LOGGER: {"handlers": ["audit"], "level": "INFO", "propagate": False},
            "sls_access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def serve(
    dashboard: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    keys: str | os.PathLike[str] | None = None,
    log_level: str = "info",
    forwarded_allow_ips: str | None = None,
    http: str = "auto",
    max_connections: int | None = None,
    header_timeout: float | None = None,
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
    state: str | None = None,
    state_max_stale: float = DEFAULT_MAX_STALE,
    audit_days: float = DEFAULT_AUDIT_DAYS,
    ui: bool = True,
    template_bucket: str | None = None,
    session_hours: float | None = None,
) -> None:
    """Serve the links of *dashboard* (or of the state) until interrupted.

    :param state: the state URL (``--state``); None: the key file beside *dashboard*
        when there is one (the files of earlier releases), else the default SQLite state
        (:func:`~sls_access.service.store.url.choose_state`). With a state and a
        *dashboard*, the file is the source of truth for profiles and links.
    :param state_max_stale: seconds a worker may go without reading the state before its
        vends answer 503 ``state_unavailable``.
    :param audit_days: days the state keeps audit events; each worker deletes older ones at
        start and then hourly (0 keeps them for ever).
    :param ui: serve the web UI at ``/ui/`` (the admin API is served either way).
    :param template_bucket: ``s3://BUCKET[/PREFIX]`` where "Connect AWS" uploads templates
        for the console's quick-create link.
    :param session_hours: how long a web UI session lasts (default 8).

    :param forwarded_allow_ips: addresses of the TLS terminators whose
        ``X-Forwarded-For`` is trusted (the client address the throttle and the audit log
        use); None trusts none.
    :raises ~sls_access.ConfigError: the dashboard file or the key file is missing, cannot
        be read or is invalid.
    :raises PortInUseError: *host*:*port* cannot be bound.
    :raises BaseCredentialsError: the service's own AWS credentials are missing or refused.
    :param http: uvicorn's HTTP implementation: ``auto`` (httptools when installed), ``h11``
        or ``httptools``; either runs with the header deadline and size cap of
        :mod:`sls_access.service._protocol`.
    :param max_connections: open connections per worker; past it, the connection that has
        waited longest for its request's headers is closed. None: :data:`DEFAULT_MAX_CONNECTIONS`,
        or fewer when the file descriptor limit cannot be raised that far (with a warning).
    :param header_timeout: seconds a request's headers may take, from the connection or
        the request's first byte (then 408, or a close when nothing came); None:
        :data:`~sls_access.service._protocol.HEADER_TIMEOUT`.
    :param keep_alive_timeout: seconds an idle kept-alive connection stays open.
    """
    for name, value in (("--header-timeout", header_timeout), ("--keep-alive-timeout", keep_alive_timeout)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number of seconds")
    try:
        import uvicorn  # noqa: PLC0415 - the "server" extra
    except ImportError:
        raise ConfigError(f"the server needs its extra: {install_hint('server')}") from None
    path = None if dashboard is None else Path(dashboard).expanduser().resolve()
    state = choose_state(state, dashboard=path, keys=keys)
    if state is None:
        assert path is not None  # noqa: S101 - choose_state gives files only with a dashboard
        keys_path = default_keys_path(path) if keys is None else Path(keys).expanduser().resolve()
        app = create_app(path, keys=keys_path)  # fail now, in one line, on a bad dashboard or key file
        try:
            _check_key_file(keys_path, path)
            _check_port(host, port)
            _check_base_credentials(app)
        finally:
            app.vendor.close()
    else:
        if keys is not None:
            raise ConfigError(
                "--keys is for a key file without a state: move it in with 'sls-access keys "
                "import FILE' and drop --keys",
                key="keys",
            )
        _check_port(host, port)
        _check_state(state, path, state_max_stale)  # migrates the schema once, before the workers start
    from sls_access.service import _protocol  # noqa: PLC0415 - imports uvicorn

    _protocol.check(http)
    max_connections = _ensure_descriptors(max_connections)
    os.environ["SLS_ACCESS_MAX_CONNECTIONS"] = str(max_connections)  # bounds the throttle's held answers
    _set_env("SLS_ACCESS_DASHBOARD", None if path is None else str(path))
    _set_env("SLS_ACCESS_STATE", state)
    _set_env("SLS_ACCESS_STATE_MAX_STALE", None if state is None else repr(float(state_max_stale)))
    _set_env("SLS_ACCESS_AUDIT_DAYS", None if state is None else repr(float(audit_days)))
    _set_env("SLS_ACCESS_KEYS", str(keys_path) if state is None and keys is not None else None)
    _set_env(_protocol.HEADER_TIMEOUT_VARIABLE, None if header_timeout is None else repr(float(header_timeout)))
    _protocol.header_timeout.cache_clear()  # with one worker, uvicorn serves in this process
    from sls_access.service.site import site_environment  # noqa: PLC0415

    os.environ.update(site_environment(ui=ui, template_bucket=template_bucket, session_hours=session_hours))
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
        # Typed int, but uvicorn hands it to loop.call_later, which takes any number of seconds.
        timeout_keep_alive=cast("int", keep_alive_timeout),
        h11_max_incomplete_event_size=_protocol.MAX_HEADER_BYTES,
    )
