"""The HTTP dashboard backend: a dashboard service (``sls-access serve``) vends the keys.

Selected by a ``dashboard`` option that is a URL: ``https://`` for any host, plain
``http://`` only for a loopback host (127.0.0.0/8, ``::1``, ``localhost``), with the
access key from ``access_key`` / ``SERVERLESS_ACCESS_KEY``. Fail closed: only the
service's explicit no-link answer (404 with a JSON object whose ``code`` is ``"no_link"``)
lets the chain go on; any other 404 (a proxy's page, a wrong base path), a refusal
(401/403), a server error, a timeout, a redirect or an unreachable service is a
:class:`~sls_access.DashboardError`.
Each request is bounded: ``timeout`` seconds per socket operation and ``deadline``
seconds in all, headers included (the request runs on a thread that is waited for at
most ``deadline`` seconds; at most 16 run at once). Redirects are never followed (they would carry the key elsewhere).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import IO, TypeGuard

import attrs

from sls_access._credentials import Credentials
from sls_access._deadline import BoundedCalls, DeadlinePassed, TooManyCalls
from sls_access._source import Skip
from sls_access._target import Target
from sls_access._values import ROLE_ARN
from sls_access.errors import ConfigError, DashboardError

__all__ = ["DashboardService", "base_url", "is_service_url"]

MAX_BODY = 64 * 1024
MAX_DETAIL = 200  # characters of a service's code or message quoted in an error
MAX_CALLS = 16  # requests one client may have running at once, stuck ones included
NO_LINK = "no_link"  # the code of the service's one no-link answer
USER_AGENT = "sls-access"


def is_service_url(location: str | None) -> TypeGuard[str]:
    """Return True when the ``dashboard`` option names a service rather than a file."""
    return location is not None and location.lower().startswith(("https://", "http://"))


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is then an HTTPError, and the key goes nowhere else


def _opener(url: str) -> urllib.request.OpenerDirector:
    """Return an opener that never follows redirects.

    https:// goes through the proxy the environment names now, if any (CONNECT keeps TLS
    end to end); a loopback http:// service never does, so that the key does not go to a
    proxy in the clear.
    """
    if url.startswith("http:"):
        return urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(_NoRedirect)


def base_url(url: str) -> str:
    """Return the service's base URL (no trailing ``/``); a URL it may not be is a ConfigError."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    # First, and without echoing the URL: it may carry a key (user:key@host, ?key=...).
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            "the dashboard URL must not carry credentials, a query or a fragment; "
            "the access key comes from access_key / SERVERLESS_ACCESS_KEY",
            key="dashboard",
        )
    if scheme not in {"https", "http"} or not host:
        raise ConfigError(f"{url!r} is not an https:// URL", key="dashboard")
    if scheme == "http" and not _loopback(host):
        raise ConfigError(
            "plain http:// is allowed only for a loopback host (127.0.0.1, ::1, localhost); use https://",
            key="dashboard",
        )
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _role_arn(value: object) -> str | None:
    """Return the answer's ``RoleArn`` (shown by ``explain``): a role ARN, or None when absent."""
    if value is None:
        return None
    if isinstance(value, str) and ROLE_ARN.match(value):
        return value
    raise ValueError("RoleArn is not a role ARN")


def _clean(value: object) -> str:
    """Return *value* fit to quote in an error: a string, printable, one line, short."""
    if not isinstance(value, str):
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(text.split())[:MAX_DETAIL]


def _error_body(raw: bytes) -> dict[str, object]:
    """Return a service error body (``{"code", "message"}``); empty unless it is a JSON object."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON (a proxy's page), or nested to no end
        return {}
    return body if isinstance(body, dict) else {}


def _detail(body: dict[str, object]) -> str:
    """Return the cleaned ``code: message`` of an error body; nothing else of it is ever quoted."""
    return ": ".join(part for part in (_clean(body.get("code")), _clean(body.get("message"))) if part)


@attrs.define
class DashboardService:
    """A client of the dashboard service at *url*, authenticated with *access_key*."""

    url: str = attrs.field(converter=base_url)
    access_key: str = attrs.field(repr=False)
    timeout: float = 5.0
    deadline: float = 15.0
    _calls: BoundedCalls = attrs.field(
        factory=lambda: BoundedCalls(MAX_CALLS, "sls-access-dashboard"), init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        if not self.access_key or any(ch in self.access_key for ch in "\r\n"):
            raise ConfigError(
                "a dashboard service needs an access key: set SERVERLESS_ACCESS_KEY "
                "(or the access_key option), or run 'sls-access login --dashboard URL'",
                key="access_key",
            )

    def credentials_url(self, target: Target) -> str:
        """Return the URL of *target*'s credentials."""
        org, app, stage = (urllib.parse.quote(name, safe="") for name in (target.org, target.app, target.stage))
        path = f"{self.url}/v1/orgs/{org}/apps/{app}/stages/{stage}/credentials"
        return path if target.region is None else f"{path}?region={urllib.parse.quote(target.region, safe='')}"

    def credentials(self, target: Target, *, source: str = "dashboard") -> Credentials:
        """Return *target*'s keys from the service.

        :raises Skip: on the service's no-link answer (404, ``code`` ``"no_link"``) only.
        :raises DashboardError: on any other answer but 200 (fail closed).
        """
        url = self.credentials_url(target)
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            headers={
                "Authorization": f"Bearer {self.access_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            status, raw = self._calls.run(lambda: self._fetch(request, url), self.deadline)
        except DeadlinePassed:
            raise DashboardError(f"the dashboard service did not answer within {self.deadline:g} s", url=url) from None
        except TooManyCalls:
            raise DashboardError(
                f"the dashboard service did not answer within {self.deadline:g} s: "
                f"{self._calls.limit} requests are still waiting for it, so no other is "
                "started",
                url=url,
            ) from None
        if status == 200:
            return self._parse(raw, url, target, source)
        body = _error_body(raw)
        if status == 404 and body.get("code") == NO_LINK:
            raise Skip(f"the dashboard service has no link for {target} ({_clean(body.get('message')) or NO_LINK})")
        what = {
            401: "refused the access key",
            403: "refused the access key for this org",
            404: f"answered 404 without its {NO_LINK} code",
            429: "is throttling this client",
            502: "could not assume the access role",
        }.get(status, "failed")
        detail = _detail(body)
        hint = "; is the dashboard URL's base path right?" if status == 404 else ""
        raise DashboardError(
            f"the dashboard service {what} (HTTP {status}" + (f": {detail})" if detail else ")") + hint,
            url=url,
            status=status,
        )
        return self._parse(raw, url, target, source)

    def _fetch(self, request: urllib.request.Request, url: str) -> tuple[int, bytes]:
        started = time.monotonic()
        try:
            response = _opener(self.url).open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, self._read(exc, started, url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, socket.timeout | TimeoutError):
                raise DashboardError(f"the dashboard service at {self.url} timed out", url=url) from None
            raise DashboardError(
                f"the dashboard service at {self.url} is unreachable: {_why(reason)}", url=url
            ) from None
        with response:
            return response.status, self._read(response, started, url)

    def _read(self, response: IO[bytes], started: float, url: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() - started > self.deadline:
                    raise DashboardError(f"the dashboard service did not answer within {self.deadline:g} s", url=url)
                chunk = response.read(8192)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > MAX_BODY:
                    raise DashboardError("the dashboard service sent an oversized answer", url=url)
                chunks.append(chunk)
        except (OSError, ValueError) as exc:
            raise DashboardError(
                f"reading the dashboard service's answer failed: {type(exc).__name__}", url=url
            ) from None

    @staticmethod
    def _parse(raw: bytes, url: str, target: Target, source: str) -> Credentials:
        try:
            body = json.loads(raw)
            expiration = body.get("Expiration")
            region = body.get("Region")
            role_arn = _role_arn(body.get("RoleArn"))
            return Credentials(
                access_key_id=str(body["AccessKeyId"]),
                secret_access_key=str(body["SecretAccessKey"]),
                session_token=None if body.get("Token") is None else str(body["Token"]),
                expiration=None if expiration is None else datetime.fromisoformat(str(expiration)),
                source=source,
                region=target.region or (str(region) if region else None),
                role_arn=role_arn,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DashboardError("the dashboard service sent a malformed credentials answer", url=url) from None


def _why(reason: object) -> str:
    """Say in words why a connection failed: ``connection refused``, not ``ConnectionRefusedError: [Errno 111]…``."""
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the service running, and is the URL's port right?)"
    if isinstance(reason, socket.gaierror):
        return "its host name does not resolve"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    return f"{type(reason).__name__}: {reason}"
