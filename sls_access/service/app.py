"""The dashboard service as a plain ASGI application (no framework).

``create_app(dashboard)`` returns the app; ``from_env()`` is the factory each worker of
``sls-access serve`` calls (:mod:`sls_access.service.run`), which is the one way to run
the service: it sets up the audit log, the proxy trust and the connection limits that a
bare ``uvicorn --factory`` launch would lack. Routes (see ``docs/reference/http-api.md``):

- ``GET /v1/orgs/{org}/apps/{app}/stages/{stage}/credentials[?region=R]`` with
  ``Authorization: <key>`` or ``Authorization: Bearer <key>``: the linked access role's
  keys in the AWS container-credentials format;
- ``GET /healthz``;
- the admin API under ``/v1/admin/orgs/{org}/`` and the web UI under ``/ui/``
  (:class:`~sls_access.service.site.Site`), for admin keys; an admin key vends nothing.

Every error is JSON ``{"code", "message"}``; the one answer that means "no link for this
target" is 404 with ``code = "no_link"`` (an unknown route is 404 ``not_found``), so that
clients can tell it from any other 404. A target the dashboard file refuses is never
``no_link``: a name one slip away from a known one is 400 ``unknown_target``, a protected
stage without its own link 409 ``protected_stage``.

Everything the app knows comes from its state (:mod:`sls_access.service.store`): a SQL
state (SQLite, PostgreSQL) read into a per-worker copy that is refreshed within a second
of any change, or the dashboard file and its key file of earlier releases, re-read as soon
as they change. A worker whose copy of a SQL state is older than ``--state-max-stale``
answers ``503 state_unavailable`` rather than guess. Failed authentications are counted in
the state too, so that every worker and replica shares one throttle; audit events are
stored as rows besides the stdout line.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sls_access._options import utc_now
from sls_access._sts_client import StsFailure
from sls_access._target import Target
from sls_access.dashboard.file import PROTECTED_STAGE, UNKNOWN_TARGET, TargetError
from sls_access.errors import AccessRoleError, ConfigError
from sls_access.service._audit import Audit, lean_records
from sls_access.service._links import LinkMemo
from sls_access.service._throttle import Throttle, count_shared
from sls_access.service._vend import Caller, Vendor
from sls_access.service.keys import MAX_KEY, AccessKey, key_id, presented_key
from sls_access.service.store.base import StateUnavailableError
from sls_access.service.store.files import FileStore
from sls_access.service.store.snapshot import DEFAULT_AUDIT_DAYS, DEFAULT_MAX_STALE, StateView

if TYPE_CHECKING:
    from sls_access.service.site import Site

__all__ = ["App", "create_app", "from_env"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("sls_access.service")

MAX_PATH = 1024
MAX_HEADERS_BYTES = 8192
MAX_HEADERS = 64
_PREFIX = ("", "v1", "orgs")
_REFUSED_STATUS = {UNKNOWN_TARGET: 400, PROTECTED_STAGE: 409}
"""The answers to a target the dashboard file refuses (never 404 ``no_link``)."""
_BASE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]


class _Reject(Exception):
    def __init__(
        self, status: int, outcome: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.outcome = outcome
        self.message = message
        self.headers = headers or []
        super().__init__(message)


def _body(code: str, message: str) -> bytes:
    # "error" repeats "code" for readers of the first form of this API ({"error", "message"});
    # it is deprecated: clients read "code" (AWS SDKs do, for container credentials).
    return json.dumps({"code": code, "message": message, "error": code}).encode()


def _segment(raw: str, what: str) -> str:
    try:
        value = urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise _Reject(400, "bad_request", f"the {what} is not UTF-8") from None
    if value in {".", ".."} or len(value) > 128:
        raise _Reject(400, "bad_request", f"the {what} is not a valid name")
    return value


def _parse_target(raw_path: str, query: str) -> Target:
    parts = raw_path.split("/")
    if (
        len(parts) != 9
        or tuple(parts[:3]) != _PREFIX
        or parts[4] != "apps"
        or parts[6] != "stages"
        or parts[8] != "credentials"
    ):
        raise _Reject(404, "not_found", "no such route")
    region: str | None = None
    if query:
        try:
            pairs = urllib.parse.parse_qsl(
                query, keep_blank_values=True, strict_parsing=True, max_num_fields=4, errors="strict"
            )
        except (ValueError, UnicodeDecodeError):
            raise _Reject(400, "bad_request", "malformed query string") from None
        names = [name for name, _ in pairs]
        if names != ["region"]:
            raise _Reject(400, "bad_request", "the only query parameter is region, given once")
        region = pairs[0][1]
    try:
        return Target(
            org=_segment(parts[3], "org"),
            app=_segment(parts[5], "app"),
            stage=_segment(parts[7], "stage"),
            region=region,
        )
    except ConfigError as exc:
        if exc.key == "region":  # a malformed region, or one botocore does not know
            raise _Reject(400, "bad_region", "the region is not an AWS region botocore knows") from None
        raise _Reject(400, "bad_request", f"invalid {exc.key}") from None


def _authorization(headers: list[tuple[bytes, bytes]]) -> str | None:
    total = 0
    found: list[bytes] = []
    for name, value in headers:
        total += len(name) + len(value)
        if name == b"authorization":
            found.append(value)
        elif (name == b"content-length" and value.strip() not in {b"", b"0"}) or name == b"transfer-encoding":
            # The body is not read, and its framing may be ambiguous (both Content-Length and
            # Transfer-Encoding): the connection is closed after the answer (RFC 9112 section 6.3).
            raise _Reject(413, "too_large", "requests have no body", [(b"connection", b"close")])
    if total > MAX_HEADERS_BYTES or len(headers) > MAX_HEADERS:
        raise _Reject(431, "too_large", "request headers too large")
    try:
        return presented_key(found)
    except ValueError as exc:
        raise _Reject(400, "bad_request", str(exc)) from None


class App:
    """The ASGI application; see the module docstring. Build it with :func:`create_app`."""

    def __init__(
        self, state: StateView, *, clock: Callable[[], datetime] = utc_now, throttle: Throttle | None = None
    ) -> None:
        self.state = state
        self.throttle = throttle or Throttle()
        self.vendor = Vendor(clock=clock)
        self.site: Site | None = None
        """The admin API and web UI, when :func:`from_env` serves them."""
        # Parsed paths: functools' LRU cache is C code, about 2 µs a request less than a
        # cachetools LRUCache. A refused path raises and is not cached.
        self._target = functools.lru_cache(maxsize=4096)(_parse_target)
        self._links = LinkMemo()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # One GetCallerIdentity: the base credentials checked, the STS connection open.
                try:
                    identity = self.vendor.prepare()
                except StsFailure as exc:
                    await send(
                        {
                            "type": "lifespan.startup.failed",
                            "message": f"cannot start: the service's base AWS credentials do not work "
                            f"(STS GetCallerIdentity): {exc}",
                        }
                    )
                    return
                except ConfigError as exc:  # the AWS configuration's region is not one botocore knows
                    await send({"type": "lifespan.startup.failed", "message": f"cannot start: {exc}"})
                    return
                log.info("vending as %s (account %s)", identity.arn, identity.account)
                # And the state read now, not by the first request: a SQL state's copy is
                # then kept fresh by a thread; files are checked with a stat per request.
                self.state.start()
                for read in (self.state.keys, self.state.dashboard):
                    try:
                        read()
                    except (ConfigError, StateUnavailableError) as exc:  # the requests answer 503 for it
                        log.warning("%s", exc)
                # What was loaded so far (botocore, the dashboard) lives as long as the process:
                # keep it out of the garbage collector's scans, which would otherwise add
                # pauses of milliseconds to the latency tail.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.vendor.close()
                await asyncio.get_running_loop().run_in_executor(None, self.state.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        raw = scope.get("raw_path") or scope.get("path", "").encode()
        raw_path = raw.decode("latin-1").partition("?")[0]
        audit = Audit(address, str(scope.get("method", "")), raw_path)
        headers: list[tuple[bytes, bytes]] = []
        site = self.site
        # A path past MAX_PATH is refused (414) by the vending side, whoever's path it would be.
        if site is not None and len(raw_path) <= MAX_PATH and site.handles(raw_path):
            answer = await site.handle(scope, receive, raw_path, audit.fields)
            ms = (time.perf_counter() - started) * 1000
            audit.emit(answer.status, answer.outcome, ms)
            self.state.audit(audit.fields, answer.status, answer.outcome, ms)
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [*answer.headers, (b"content-length", str(len(answer.body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": answer.body})
            return
        try:
            status, outcome, body = await self._handle(scope, receive, raw_path, audit)
        except _Reject as reject:
            status, outcome, body, headers = (
                reject.status,
                reject.outcome,
                _body(reject.outcome, reject.message),
                reject.headers,
            )
        except Exception:  # answer 500 without a traceback; the log keeps it
            log.exception("unexpected error serving %s", raw_path[:256])
            status, outcome, body = 500, "internal_error", _body("internal_error", "internal error")
        ms = (time.perf_counter() - started) * 1000
        audit.emit(status, outcome, ms)  # before the answer leaves
        self.state.audit(audit.fields, status, outcome, ms)  # a row too, written by the state's thread
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_BASE_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive, raw_path: str, audit: Audit) -> tuple[int, str, bytes]:
        if len(raw_path) > MAX_PATH:
            raise _Reject(414, "too_large", "path too long")
        if scope.get("method") != "GET":
            raise _Reject(405, "method_not_allowed", "only GET", [(b"allow", b"GET")])
        key = _authorization(scope.get("headers", []))
        if raw_path == "/healthz":
            if not self.state.fresh:
                raise _Reject(503, "state_unavailable", "the service's state cannot be read")
            return 200, "health", b'{"status":"ok"}'
        query = scope.get("query_string", b"").decode("latin-1")
        target = self._target(raw_path, query)
        audit.fields.update(org=target.org, app=target.app, stage=target.stage, region=target.region)
        record = await self._authenticate(audit, key, receive)
        if record.org != target.org:
            raise _Reject(403, "forbidden", "this access key belongs to another org")
        if record.role != "deploy":
            raise _Reject(403, "forbidden", "an admin key vends no credentials: use a deploy key")
        try:
            link = self._links.link(self.state.dashboard(), target)
        except TargetError as exc:
            # Not no_link: that answer sends the client on to its local keys.
            raise _Reject(_REFUSED_STATUS[exc.code], exc.code, exc.reason) from None
        except StateUnavailableError:
            raise _Reject(503, "state_unavailable", "the service's state cannot be read") from None
        except (ConfigError, OSError) as exc:
            # No traceback: the message names the file and the key at fault.
            log.error("cannot read the dashboard: %s", exc)  # noqa: TRY400
            raise _Reject(503, "dashboard_error", "the dashboard file cannot be read") from None
        if link is None:
            raise _Reject(404, "no_link", f"no deployment profile is linked to {target}")
        audit.fields["role"] = link.profile.role_arn
        try:
            vended = await self.vendor.vend(target, link.profile, Caller(id=record.id, name=record.name))
        except AccessRoleError as exc:
            code = f" ({exc.code})" if exc.code else ""
            raise _Reject(502, "role_error", f"the access role could not be assumed{code}") from None
        audit.fields.update(
            aws_key_id=vended.access_key_id, session=vended.session, source_identity=vended.source_identity
        )
        return 200, "vended", vended.body

    async def _authenticate(self, audit: Audit, key: str | None, receive: Receive) -> AccessKey:
        client = audit.fields["client"]
        try:
            keys = self.state.keys()
        except StateUnavailableError:
            raise _Reject(503, "state_unavailable", "the service's state cannot be read") from None
        except ConfigError as exc:
            log.error("cannot read the key file: %s", exc)  # noqa: TRY400 - no traceback
            raise _Reject(503, "dashboard_error", "the key file cannot be read") from None
        record = keys.match(key) if key is not None and len(key) <= MAX_KEY else None
        if record is not None:  # a revoked key's record is kept: its line names it too
            audit.fields.update(key=record.name, key_id=record.id)
        if record is not None and record.revoked is None:
            self.state.used(record.id)
            return record  # a valid key is never throttled, and clears no failure
        # Counted against the address and the key id tried, before the answer waits, so that
        # concurrent failures queue behind each other: first in the state (every worker's and
        # replica's count), then here.
        presented = key_id(key) if key is not None else None
        subjects = [f"addr:{client}"] + ([f"key:{presented}"] if presented else [])
        penalty = self.throttle.failed(
            subjects, seen=await count_shared(self.state.record_failure, subjects, self.throttle.window)
        )
        if penalty.refused:  # at once: a held answer keeps a handler running, which the server counts
            raise _Reject(
                429,
                "throttled",
                "too many failed authentications; try again later",
                [(b"retry-after", b"60"), (b"connection", b"close")],
            )
        if penalty.hold:
            try:
                await _hold(penalty.hold, receive)
            finally:
                self.throttle.release(subjects)
        message = (
            "missing access key" if key is None else "unknown access key" if record is None else "revoked access key"
        )
        raise _Reject(401, "unauthorized", message, [(b"www-authenticate", b'Bearer realm="sls-access"')])


async def _hold(seconds: float, receive: Receive) -> None:
    """Wait *seconds* before a failing answer, or less when the client hangs up meanwhile.

    A held answer keeps its place among the throttle's held answers, so one whose client
    has gone gives its place back at once. The failure it was held for still counts.
    """

    async def hung_up() -> bool:
        while True:  # the request's body first (a GET has none)
            message = await receive()
            if message["type"] == "http.disconnect":
                return True
            if not message.get("more_body", False):
                break
        last = await receive()  # waits, in a server, until the peer goes
        return bool(last["type"] == "http.disconnect")

    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    watcher = asyncio.ensure_future(hung_up())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
        if watcher in done and not watcher.result():  # a receive that does not wait: hold in full
            await asyncio.sleep(max(0.0, until - loop.time()))
    finally:
        watcher.cancel()


def create_app(
    dashboard: str | os.PathLike[str] | None = None,
    *,
    keys: str | os.PathLike[str] | None = None,
    state: str | None = None,
    state_max_stale: float = DEFAULT_MAX_STALE,
    audit_days: float = DEFAULT_AUDIT_DAYS,
    clock: Callable[[], datetime] = utc_now,
    throttle: Throttle | None = None,
) -> App:
    """Return the ASGI app serving the links of *dashboard* or of *state*.

    :param dashboard: the dashboard file (TOML); read now, so that a bad one raises
        :class:`~sls_access.ConfigError` here, and again whenever it changes. With a
        *state*, the source of truth for profiles and links (None: the state's own).
    :param keys: without a *state*: the key file; default ``<dashboard stem>.keys.json`` beside it.
    :param state: a state URL (``sqlite:///ABS/PATH``, ``postgresql://…``): keys, failure
        counts and audit events live there (and profiles and links, without *dashboard*).
    :param state_max_stale: seconds without a successful read of the state before vends
        answer 503 ``state_unavailable``.
    :param audit_days: days the state keeps audit events (0: for ever).
    :param clock: the current aware datetime (tests inject one).
    :param throttle: the failed-authentication policy (default :class:`Throttle`'s).
    """
    if state is None:
        if dashboard is None:
            raise ConfigError("give the dashboard file or a state URL", key="dashboard")
        files = FileStore(dashboard, keys=keys)
        files.keys()
        return App(StateView(files, direct=True), clock=clock, throttle=throttle)
    from sls_access.service.store.url import open_store  # noqa: PLC0415 - the SQL stack, only for a state

    if dashboard is not None:
        path = Path(dashboard).expanduser()
        if not path.is_file():
            raise ConfigError("dashboard file not found", path=str(path), key="dashboard")
    store = open_store(state, dashboard=dashboard)
    return App(StateView(store, max_stale=state_max_stale, audit_days=audit_days), clock=clock, throttle=throttle)


def from_env() -> App:
    """Return :func:`create_app` for ``SLS_ACCESS_STATE`` or ``SLS_ACCESS_DASHBOARD`` (a file), and ``SLS_ACCESS_KEYS``.

    With ``SLS_ACCESS_STATE`` (a state URL) the dashboard file is optional (profiles and
    links then come from the state), ``SLS_ACCESS_STATE_MAX_STALE`` is
    ``--state-max-stale`` and ``SLS_ACCESS_AUDIT_DAYS`` ``--audit-days``; without it, the
    dashboard file and its key file are the state.

    ``SLS_ACCESS_MAX_CONNECTIONS`` (``serve``'s ``--max-connections``) bounds the failing
    answers the throttle holds at once to a quarter of it.

    The factory ``sls-access serve`` hands its workers (it sets both variables); not a
    launch path of its own.
    """
    lean_records()  # a server process: no thread or process names in its log records
    dashboard = os.environ.get("SLS_ACCESS_DASHBOARD")
    state = os.environ.get("SLS_ACCESS_STATE") or None
    if dashboard and dashboard.startswith(("https://", "http://")):
        raise ConfigError("SLS_ACCESS_DASHBOARD must be a file, not a URL", key="SLS_ACCESS_DASHBOARD")
    if not dashboard and state is None:
        raise ConfigError(
            "set SLS_ACCESS_DASHBOARD to the dashboard file the service serves", key="SLS_ACCESS_DASHBOARD"
        )
    limit = os.environ.get("SLS_ACCESS_MAX_CONNECTIONS", "")
    # Held failing answers keep handlers running, which uvicorn counts against its limit:
    # at most a quarter of it, so that they never crowd out valid keys.
    throttle = Throttle(max_held=max(1, int(limit) // 4)) if limit.isdigit() else None
    if state is not None:
        stale = os.environ.get("SLS_ACCESS_STATE_MAX_STALE", "")
        days = os.environ.get("SLS_ACCESS_AUDIT_DAYS", "")
        try:
            max_stale = float(stale) if stale else DEFAULT_MAX_STALE
        except ValueError:
            raise ConfigError("must be a number of seconds", key="SLS_ACCESS_STATE_MAX_STALE") from None
        try:
            audit_days = float(days) if days else DEFAULT_AUDIT_DAYS
        except ValueError:
            raise ConfigError("must be a number of days", key="SLS_ACCESS_AUDIT_DAYS") from None
        app = create_app(
            dashboard or None, state=state, state_max_stale=max_stale, audit_days=audit_days, throttle=throttle
        )
    else:
        app = create_app(dashboard, keys=os.environ.get("SLS_ACCESS_KEYS") or None, throttle=throttle)
    from sls_access.service.site import site_from_env  # noqa: PLC0415 - jinja2 and tomlkit, for the admin side only

    app.site = site_from_env(app)
    return app
