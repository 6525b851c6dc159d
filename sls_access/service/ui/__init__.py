"""The web UI at ``/ui/``: server-rendered pages (Jinja2, autoescaped) over the admin operations.

Sign in with an admin access key (a deploy key is refused); then **Profiles** (list,
create, edit, delete, and a profile's **AWS account** tab with **Connect AWS**),
**Links** (the links, protected stages and the precedence as the resolver applies it),
**Keys** (create, shown once, list, revoke) and **Audit** (filters, NDJSON export). Every
form that changes something carries a ``csrf_token`` field; pages are sent with a strict
Content-Security-Policy (no script at all, no framing). The Connect AWS page checks by
itself with a ``<meta http-equiv="refresh">`` every few seconds while the connect is
pending (at most 15 minutes). With a dashboard file under review, profile and link forms
show the TOML to commit instead of writing it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

import attrs
import jinja2

from sls_access.service._throttle import Throttle
from sls_access.service.admin import AdminError
from sls_access.service.admin.connect import Connector
from sls_access.service.admin.http import Answer, Receive, authenticate, query, read_body
from sls_access.service.admin.ops import PROFILE_FIELDS, Admin, key_json, profile_json, toml_of
from sls_access.service.ui.session import CSRF_COOKIE, SESSION_COOKIE, Session, Sessions, cookie, same

__all__ = ["CSP", "Ui"]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_HERE = Path(__file__).parent
_STATIC = {"style.css": "text/css; charset=utf-8"}
_POLL_SECONDS = 3
_AUDIT_FILTERS = ("app", "stage", "key", "outcome")


@attrs.frozen(kw_only=True)
class _Request:
    """One UI request, as the page handlers see it."""

    method: str
    form: dict[str, str]
    query: str
    secure: bool
    cookies: dict[str, str]
    audit: dict[str, Any]
    session: Session | None


class _Redirect(Exception):
    def __init__(self, location: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.location = location
        self.headers = headers or []
        super().__init__(location)


def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                continue
    return {name: morsel.value for name, morsel in jar.items()}


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class Ui:
    """The pages; see the module docstring."""

    def __init__(
        self,
        admin: Admin,
        connector: Connector,
        throttle: Throttle,
        *,
        session: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.admin = admin
        self.connector = connector
        self.throttle = throttle
        self.sessions = Sessions(admin, session, clock)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["q"] = _quote
        self.static = {name: (_HERE / "static" / name).read_bytes() for name in _STATIC}

    # -- plumbing
    def _page(
        self, template: str, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None, **values: object
    ) -> Answer:
        body = self.env.get_template(template).render(**values).encode()
        return Answer(status, "ui", [(b"content-type", b"text/html; charset=utf-8"), *_HEADERS, *(headers or [])], body)

    async def handle(
        self, scope: MutableMapping[str, Any], receive: Receive, raw_path: str, audit: dict[str, Any]
    ) -> Answer:
        """Answer one request under ``/ui``."""
        method = str(scope.get("method", ""))
        headers = scope.get("headers", [])
        secure = scope.get("scheme") == "https"
        if raw_path.startswith("/ui/static/"):
            name = raw_path.removeprefix("/ui/static/")
            if name not in self.static or method != "GET":
                return self._page("error.html", 404, message="no such page", session=None)
            return Answer(200, "ui", [(b"content-type", _STATIC[name].encode()), *_HEADERS], self.static[name])
        cookies = _cookies(headers)
        session = None
        try:
            form = await _form(method, receive)
            session = await asyncio.to_thread(self.sessions.find, cookies)
            if session is not None:
                audit.update(org=session.org, key=session.key_name, key_id=session.key_id)
            request = _Request(
                method=method,
                form=form,
                query=scope.get("query_string", b"").decode("latin-1"),
                secure=secure,
                cookies=cookies,
                audit=audit,
                session=session,
            )
            return await self._route(raw_path, request)
        except _Redirect as redirect:
            return Answer(303, "ui", [(b"location", redirect.location.encode()), *_HEADERS, *redirect.headers], b"")
        except AdminError as exc:
            return self._page("error.html", exc.status, message=str(exc), session=session)

    async def _route(self, raw_path: str, request: _Request) -> Answer:
        path = raw_path.removeprefix("/ui").strip("/")
        session = request.session
        if path in {"", "sign-in"}:
            return await self._sign_in(request)
        if session is None:
            raise _Redirect("/ui/sign-in")
        if request.method == "POST" and not same(session.csrf, request.form.get("csrf_token")):
            return self._page(
                "error.html",
                403,
                session=session,
                message="this form's csrf_token is missing or wrong: reload the page and try again",
            )
        parts = [urllib.parse.unquote(part) for part in path.split("/")]
        pages: dict[str, Callable[[Session, _Request], Answer]] = {
            "sign-out": self._sign_out,
            "profiles": self._profiles,
            "links": self._links,
            "keys": self._keys,
            "audit": self._audit,
            "audit.ndjson": self._audit_export,
        }
        handler = pages.get(parts[0]) if len(parts) == 1 else None
        if parts == ["links", "delete"] and request.method == "POST":
            handler = self._links
            request = attrs.evolve(request, method="DELETE")
        elif parts == ["links", "protected"] and request.method == "POST":
            handler = self._links
            request = attrs.evolve(request, method="PROTECT")
        elif parts[0] == "profiles" and len(parts) in {2, 3}:
            name, tab = parts[1], parts[2] if len(parts) == 3 else "settings"
            handler = lambda session, request: self._profile(session, request, name, tab)  # noqa: E731
        if handler is None:
            return self._page("error.html", 404, message="no such page", session=session)
        return await asyncio.to_thread(handler, session, request)

    # -- sign in and out
    async def _sign_in(self, request: _Request) -> Answer:
        method, form, secure, audit = request.method, request.form, request.secure, request.audit
        if request.session is not None:
            raise _Redirect("/ui/profiles")
        csrf = request.cookies.get(CSRF_COOKIE)
        if method == "POST":
            if not csrf or not same(csrf, form.get("csrf_token")):
                return self._page(
                    "error.html",
                    403,
                    session=None,
                    message="this form's csrf_token is missing or wrong: reload the page and try again",
                )
            try:
                record = await authenticate(
                    self.admin, self.throttle, audit["client"], form.get("key", "").strip() or None, None
                )
            except AdminError as exc:
                return self._page("sign_in.html", exc.status, session=None, csrf_token=csrf, error=str(exc))
            started = await asyncio.to_thread(self.sessions.start, record.org, record.id, record.name)
            audit.update(org=record.org, key=record.name, key_id=record.id)
            max_age = int(self.sessions.lifetime.total_seconds())
            raise _Redirect(
                "/ui/profiles",
                [
                    cookie(SESSION_COOKIE, started.token, secure=secure, max_age=max_age),
                    cookie(CSRF_COOKIE, "", secure=secure, max_age=0),
                ],
            )
        import secrets  # noqa: PLC0415

        csrf = csrf or secrets.token_urlsafe(32)
        return self._page(
            "sign_in.html",
            session=None,
            csrf_token=csrf,
            error=None,
            headers=[cookie(CSRF_COOKIE, csrf, secure=secure, max_age=3600)],
        )

    def _sign_out(self, session: Session, request: _Request) -> Answer:
        if request.method != "POST":
            return self._page("error.html", 405, message="sign out with the button", session=session)
        self.sessions.end(session)
        raise _Redirect("/ui/sign-in", [cookie(SESSION_COOKIE, "", secure=request.secure, max_age=0)])

    # -- pages
    def _common(self, session: Session, **values: Any) -> dict[str, Any]:  # noqa: ANN401
        return {"session": session, "csrf_token": session.csrf, "managed": self.admin.managed_by_file, **values}

    def _edit(self, session: Session, change: Callable[[], object]) -> tuple[str | None, str | None]:
        """Run *change*; return (error, toml to commit)."""
        try:
            change()
        except AdminError as exc:
            toml = toml_of(exc)
            return (None, toml) if toml is not None else (str(exc), None)
        return None, None

    def _profiles(self, session: Session, request: _Request) -> Answer:
        method, form, query_string = request.method, request.form, request.query
        error = toml = None
        connect = query(query_string, ("connect",)).get("connect", "").strip() if method == "GET" else ""
        if connect:
            raise _Redirect(f"/ui/profiles/{_quote(connect)}/aws")
        if method == "POST":
            name = form.get("name", "")
            values = {key: _typed(key, form[key]) for key in PROFILE_FIELDS if form.get(key)}
            error, toml = self._edit(session, lambda: self.admin.put_profile(session.org, name, values))
            if error is None and toml is None:
                raise _Redirect(f"/ui/profiles/{_quote(name)}")
        profiles = {name: profile_json(p) for name, p in sorted(self.admin.profiles(session.org).items())}
        return self._page(
            "profiles.html",
            400 if error else 200,
            **self._common(session, profiles=profiles, error=error, toml=toml, form=form, active="Profiles"),
        )

    def _profile(self, session: Session, request: _Request, name: str, tab: str) -> Answer:
        method, form, org = request.method, request.form, session.org
        error = toml = None
        if tab == "delete" and method == "POST":
            error, toml = self._edit(session, lambda: self.admin.delete_profile(org, name))
            if error is None and toml is None:
                raise _Redirect("/ui/profiles")
            tab = "settings"
        elif tab == "settings" and method == "POST":
            values = {key: _typed(key, form[key]) for key in PROFILE_FIELDS if form.get(key)}
            error, toml = self._edit(session, lambda: self.admin.put_profile(org, name, values))
        elif tab == "aws" and method == "POST":
            try:
                self.connector.start(
                    org,
                    name,
                    {
                        "account_id": form.get("account_id", "").strip(),
                        "region": form.get("region", "").strip() or None,
                    },
                )
            except AdminError as exc:
                error = str(exc)
            else:
                raise _Redirect(f"/ui/profiles/{_quote(name)}/aws")
        elif tab == "template.json":
            pending = self.connector.pending(org, name)
            if pending is None or "template" not in pending:
                raise AdminError(404, "not_found", "no connect started for this profile")
            disposition = f'attachment; filename="{pending["template_file"]}"'.encode()
            return Answer(
                200,
                "ui",
                [(b"content-type", b"application/json"), *_HEADERS, (b"content-disposition", disposition)],
                pending["template"].encode(),
            )
        if tab not in {"settings", "aws"}:
            raise AdminError(404, "not_found", "no such page")
        profile = self.admin.profiles(org).get(name)
        connect = None
        if tab == "aws" and error is None:
            connect = self._poll(org, name)
        values = profile_json(profile) if profile is not None else {}
        if profile is None and tab == "settings" and method == "GET":
            raise AdminError(404, "not_found", f"org {org!r} has no deployment profile {name!r}")
        refresh = connect is not None and connect.get("status") == "pending"
        return self._page(
            "profile.html",
            400 if error else 200,
            **self._common(
                session,
                name=name,
                profile=values,
                exists=profile is not None,
                tab=tab,
                error=error,
                toml=toml,
                connect=connect,
                refresh=refresh,
                poll_seconds=_POLL_SECONDS,
                active="Profiles",
            ),
        )

    def _poll(self, org: str, name: str) -> dict[str, Any] | None:
        if self.connector.pending(org, name) is None:
            return None
        try:
            return self.connector.poll(org, name)
        except AdminError as exc:
            return {"status": "error", "detail": str(exc)}

    def _links(self, session: Session, request: _Request) -> Answer:
        method, form, org = request.method, request.form, session.org
        error = toml = None
        app, stage, region = (form.get(name, "").strip() or None for name in ("app", "stage", "region"))
        if method == "POST":
            error, toml = self._edit(
                session,
                lambda: self.admin.put_link(
                    org, app, stage, region, {"deployment_profile": form.get("deployment_profile", "")}
                ),
            )
        elif method == "DELETE":
            error, toml = self._edit(session, lambda: self.admin.delete_link(org, app, stage, region))
        elif method == "PROTECT":
            stages = [name for name in form.get("stages", "").replace(",", " ").split() if name]
            error, toml = self._edit(session, lambda: self.admin.set_protected(org, app, stages))
        if method != "GET" and error is None and toml is None:
            raise _Redirect("/ui/links")
        return self._page(
            "links.html",
            400 if error else 200,
            **self._common(
                session,
                links=self.admin.links(org),
                error=error,
                toml=toml,
                profiles=sorted(self.admin.profiles(org)),
                form=form,
                active="Links",
            ),
        )

    def _keys(self, session: Session, request: _Request) -> Answer:
        method, form, org = request.method, request.form, session.org
        error = created = None
        if method == "POST" and "key" in form:  # the revoke form names the key in "key"
            try:
                self.admin.revoke_key(org, form["key"])
            except AdminError as exc:
                error = str(exc)
            else:
                raise _Redirect("/ui/keys")
        elif method == "POST":
            try:
                record, key = self.admin.create_key(org, form.get("name", ""), form.get("role", "deploy"))
                created = {**key_json(record), "key": key}
            except AdminError as exc:
                error = str(exc)
        keys = [key_json(k) for k in self.admin.keys(org)]
        return self._page(
            "keys.html",
            400 if error else 200,
            **self._common(session, keys=keys, error=error, created=created, active="Keys"),
        )

    def _filters(self, query_string: str) -> dict[str, str | None]:
        params = query(query_string, _AUDIT_FILTERS)
        return {name: (params.get(name) or "").strip() or None for name in _AUDIT_FILTERS}

    def _audit(self, session: Session, request: _Request) -> Answer:
        query_string = request.query
        filters = self._filters(query_string)
        events = self.admin.audit(session.org, limit=200, **filters)
        export = "/ui/audit.ndjson" + (f"?{query_string}" if query_string else "")
        return self._page(
            "audit.html", **self._common(session, events=events, filters=filters, export=export, active="Audit")
        )

    def _audit_export(self, session: Session, request: _Request) -> Answer:
        events = self.admin.audit(session.org, limit=1000, **self._filters(request.query))
        body = "".join(json.dumps(event) + "\n" for event in events).encode()
        return Answer(
            200,
            "ui",
            [
                (b"content-type", b"application/x-ndjson"),
                *_HEADERS,
                (b"content-disposition", b'attachment; filename="audit.ndjson"'),
            ],
            body,
        )


async def _form(method: str, receive: Receive) -> dict[str, str]:
    """Return a POST's form fields (none for a GET); else ``400``/``405``."""
    if method == "GET":
        return {}
    if method != "POST":
        raise AdminError(405, "method_not_allowed", "only GET and POST")
    raw = await read_body(receive)
    try:
        return query(
            raw.decode("utf-8"),
            (
                "csrf_token",
                "key",
                "name",
                "role",
                "app",
                "stage",
                "region",
                "deployment_profile",
                "stages",
                *PROFILE_FIELDS,
            ),
        )
    except (UnicodeDecodeError, AdminError):
        raise AdminError(400, "bad_request", "the form could not be read") from None


def _typed(key: str, value: str) -> object:
    value = value.strip()
    if key == "duration_seconds":
        return int(value) if value.isdigit() else value
    return value
