"""The admin API: JSON routes under ``/v1/admin/orgs/{org}/``, for admin keys of that org.

See ``docs/reference/http-api.md``. ``Authorization: Bearer <admin key>``; a deploy key
is ``403 forbidden`` on every route. Errors are the service's JSON ``{"code", "message"}``
(with ``field`` for a refused value, and ``toml`` for a ``409 managed_by_file`` edit).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable, MutableMapping
from typing import Any

from sls_access.service._throttle import Throttle
from sls_access.service.admin import AdminError
from sls_access.service.admin.connect import Connector
from sls_access.service.admin.http import (
    Answer,
    Receive,
    authenticate,
    error_answer,
    json_answer,
    query,
    read_body,
)
from sls_access.service.admin.ops import Admin, check_name, key_json, profile_json

__all__ = ["PREFIX", "AdminApi"]

PREFIX = "/v1/admin/orgs/"
_Route = Callable[[str, list[str], str, object], Callable[[], Answer]]
"""(org, the path's parts after the org, the raw query, the JSON body) -> the blocking call that answers."""


def _json(raw: bytes) -> object:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AdminError(400, "bad_request", "the body is not JSON") from None


class AdminApi:
    """The routes; see the module docstring."""

    def __init__(self, admin: Admin, connector: Connector, throttle: Throttle) -> None:
        self.admin = admin
        self.connector = connector
        self.throttle = throttle

    async def handle(
        self, scope: MutableMapping[str, Any], receive: Receive, raw_path: str, key: str | None, audit: dict[str, Any]
    ) -> Answer:
        """Answer one request under :data:`PREFIX`."""
        try:
            return await self._route(scope, receive, raw_path, key, audit)
        except AdminError as exc:
            return error_answer(exc)

    async def _route(
        self, scope: MutableMapping[str, Any], receive: Receive, raw_path: str, key: str | None, audit: dict[str, Any]
    ) -> Answer:
        try:
            parts = [urllib.parse.unquote(part, errors="strict") for part in raw_path[len(PREFIX) :].split("/")]
        except UnicodeDecodeError:
            raise AdminError(400, "bad_request", "the path is not UTF-8") from None
        org = check_name(parts[0], "org")
        audit["org"] = org
        method = str(scope.get("method", ""))
        raw_query = scope.get("query_string", b"").decode("latin-1")
        record = await authenticate(self.admin, self.throttle, audit["client"], key, org)
        audit.update(key=record.name, key_id=record.id)
        body = _json(await read_body(receive)) if method in {"POST", "PUT"} else None
        rest = parts[1:]
        shape = tuple("*" if index % 2 and len(rest) > 1 else part for index, part in enumerate(rest))
        route = self._routes().get((shape, method))
        if route is None:
            raise AdminError(404, "not_found", "no such admin route (or not with this method)")
        call = route(org, rest, raw_query, body)
        return await asyncio.to_thread(call)

    def _routes(self) -> dict[tuple[tuple[str, ...], str], _Route]:
        def done(action: Callable[[], object]) -> Callable[[], Answer]:
            def run() -> Answer:
                action()
                return json_answer(204, None)

            return run

        admin, connector = self.admin, self.connector
        return {
            (("keys",), "GET"): lambda org, _r, _q, _b: (
                lambda: json_answer(200, {"keys": [key_json(k) for k in admin.keys(org)]})
            ),
            (("keys",), "POST"): lambda org, _r, _q, body: lambda: self._create_key(org, body),
            (("keys", "*"), "DELETE"): lambda org, rest, _q, _b: done(lambda: admin.revoke_key(org, rest[1])),
            (("deployment-profiles",), "GET"): lambda org, _r, _q, _b: (
                lambda: json_answer(
                    200, {"deployment_profiles": {name: profile_json(p) for name, p in admin.profiles(org).items()}}
                )
            ),
            (("deployment-profiles", "*"), "GET"): lambda org, rest, _q, _b: (
                lambda: json_answer(200, {"name": rest[1], **profile_json(admin.profile(org, rest[1]))})
            ),
            (("deployment-profiles", "*"), "PUT"): lambda org, rest, _q, body: (
                lambda: json_answer(200, {"name": rest[1], **profile_json(admin.put_profile(org, rest[1], body))})
            ),
            (("deployment-profiles", "*"), "DELETE"): lambda org, rest, _q, _b: done(
                lambda: admin.delete_profile(org, rest[1])
            ),
            (("deployment-profiles", "*", "connect"), "POST"): lambda org, rest, _q, body: (
                lambda: json_answer(200, connector.start(org, rest[1], body))
            ),
            (("deployment-profiles", "*", "connect"), "GET"): lambda org, rest, _q, _b: (
                lambda: json_answer(200, connector.poll(org, rest[1]))
            ),
            (("links",), "GET"): lambda org, _r, _q, _b: lambda: json_answer(200, admin.links(org)),
            (("link",), "PUT"): lambda org, _r, raw, body: self._link(org, "PUT", raw, body),
            (("link",), "DELETE"): lambda org, _r, raw, body: self._link(org, "DELETE", raw, body),
            (("audit",), "GET"): lambda org, _r, raw, _b: self._audit(org, raw),
        }

    def _create_key(self, org: str, body: object) -> Answer:
        values = body if isinstance(body, dict) else {}
        record, key = self.admin.create_key(org, values.get("name"), values.get("role", "deploy"))
        return json_answer(201, {**key_json(record), "key": key})

    def _link(self, org: str, method: str, raw_query: str, body: object) -> Callable[[], Answer]:
        params = query(raw_query, ("app", "stage", "region"))
        app, stage, region = (params.get(name) or None for name in ("app", "stage", "region"))
        if method == "PUT":

            def put() -> Answer:
                self.admin.put_link(org, app, stage, region, body)
                return json_answer(200, self.admin.links(org))

            return put

        def delete() -> Answer:
            self.admin.delete_link(org, app, stage, region)
            return json_answer(204, None)

        return delete

    def _audit(self, org: str, raw_query: str) -> Callable[[], Answer]:
        params = query(raw_query, ("app", "stage", "key", "outcome", "limit"))
        raw_limit = params.get("limit", "100")
        if not raw_limit.isdigit():
            raise AdminError(400, "invalid", "limit: a positive integer", field="limit")
        filters = {name: params.get(name) or None for name in ("app", "stage", "key", "outcome")}
        return lambda: json_answer(200, {"events": self.admin.audit(org, limit=int(raw_limit), **filters)})
