"""What the admin API and the web UI share on the HTTP side: the answer type, bodies, queries, keys."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs

from sls_access.service._throttle import Throttle, count_shared
from sls_access.service.admin import AdminError
from sls_access.service.admin.ops import Admin, toml_of
from sls_access.service.keys import MAX_KEY, AccessKey, key_id

__all__ = ["MAX_BODY", "Answer", "authenticate", "json_answer", "query", "read_body"]

MAX_BODY = 64 << 10
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_JSON_HEADERS = (
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    # An error quotes the path's org (any printable text, "<" included), on the web UI's
    # origin: never to be sniffed as a page, nor framed or run as one.
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


@attrs.frozen
class Answer:
    """An HTTP answer: status, the audit outcome, headers (content type included) and body.

    The body and headers are left out of ``repr``: a new key's answer carries the key, a
    sign-in's the session cookie.
    """

    status: int
    outcome: str
    headers: list[tuple[bytes, bytes]] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)


def json_answer(status: int, value: object, outcome: str = "admin") -> Answer:
    """Return *value* as a JSON answer (no body for 204)."""
    body = b"" if status == 204 else json.dumps(value).encode()
    return Answer(status, outcome, list(_JSON_HEADERS), body)


def error_answer(error: AdminError) -> Answer:
    """Return *error* as the service's JSON error (``code``, ``message``, and ``field`` when one is at fault)."""
    body: dict[str, Any] = {"code": error.code, "message": str(error), "error": error.code}
    if error.field is not None:
        body["field"] = error.field
    toml = toml_of(error)
    if toml is not None:
        body["toml"] = toml
    return json_answer(error.status, body, error.code)


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """Return the request's body; more than *limit* bytes is ``413 too_large``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise AdminError(413, "too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def query(raw: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """Return the query's parameters (each at most once, only *allowed* ones); else ``400 bad_request``."""
    try:
        pairs = urllib.parse.parse_qsl(
            raw, keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=16, errors="strict"
        )
    except (ValueError, UnicodeDecodeError):
        raise AdminError(400, "bad_request", "malformed query string") from None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed or name in found:
            raise AdminError(400, "bad_request", f"query parameters: {', '.join(allowed)}, each at most once")
        found[name] = value
    return found


async def authenticate(admin: Admin, throttle: Throttle, client: str, key: str | None, org: str | None) -> AccessKey:
    """Return the admin key of *org* (any org when None) that *key* is; else 401 (throttled) or 403."""
    record = None
    if key is not None and len(key) <= MAX_KEY:
        record = await asyncio.to_thread(admin.authenticate, key)
    if record is None:
        presented = key_id(key) if key is not None else None
        subjects = [f"addr:{client}"] + ([f"key:{presented}"] if presented else [])
        # Counted in the state, as the vending path does: guesses at an admin key are not spread
        # over workers and replicas.
        penalty = throttle.failed(subjects, seen=await count_shared(admin.record_failure, subjects, throttle.window))
        if penalty.refused:
            raise AdminError(429, "throttled", "too many failed authentications; try again later")
        if penalty.hold:
            try:
                await asyncio.sleep(penalty.hold)
            finally:
                throttle.release(subjects)
        raise AdminError(401, "unauthorized", "missing access key" if key is None else "unknown or revoked access key")
    if record.role != "admin":
        raise AdminError(403, "forbidden", "a deploy key cannot use the admin API or the web UI: use an admin key")
    if org is not None and record.org != org:
        raise AdminError(403, "forbidden", "this access key belongs to another org")
    return record
