"""The dashboard service's admin side, as one piece the app dispatches to: the admin API and the web UI.

:class:`Site` answers ``/v1/admin/…`` (:mod:`sls_access.service.admin.api`) and, unless
``serve --no-ui``, ``/ui/…`` (:mod:`sls_access.service.ui`). It is built per worker by
:func:`site_from_env` from what ``serve`` put in the environment (:func:`site_environment`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sls_access.service.admin import AdminError
from sls_access.service.admin.api import PREFIX, AdminApi
from sls_access.service.admin.connect import Connector, VendingIdentity
from sls_access.service.admin.http import Answer, Receive, error_answer
from sls_access.service.admin.ops import Admin
from sls_access.service.admin.records import StateRecords
from sls_access.service.keys import presented_key
from sls_access.service.store.base import StateUnavailableError

if TYPE_CHECKING:
    from sls_access.service.app import App
    from sls_access.service.ui import Ui

log = logging.getLogger("sls_access.service")

__all__ = ["DEFAULT_SESSION", "Site", "site_environment", "site_from_env"]

DEFAULT_SESSION = timedelta(hours=8)
_UI, _BUCKET, _SESSION = "SLS_ACCESS_UI", "SLS_ACCESS_TEMPLATE_BUCKET", "SLS_ACCESS_SESSION_HOURS"


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    try:
        return presented_key([value for name, value in headers if name == b"authorization"])
    except ValueError as exc:
        raise AdminError(400, "bad_request", str(exc)) from None


class Site:
    """The admin API and (optionally) the web UI."""

    def __init__(self, api: AdminApi, ui: Ui | None) -> None:
        self.api = api
        self.ui = ui

    def handles(self, raw_path: str) -> bool:
        """Return whether *raw_path* is the admin side's."""
        if raw_path.startswith(PREFIX):
            return True
        return self.ui is not None and (raw_path == "/ui" or raw_path.startswith("/ui/"))

    async def handle(
        self, scope: MutableMapping[str, Any], receive: Receive, raw_path: str, audit: dict[str, Any]
    ) -> Answer:
        """Answer one request (errors as the service's JSON errors, or the UI's pages)."""
        try:
            if raw_path.startswith(PREFIX):
                return await self.api.handle(scope, receive, raw_path, _bearer(scope.get("headers", [])), audit)
            assert self.ui is not None  # noqa: S101 - handles() said so
            return await self.ui.handle(scope, receive, raw_path, audit)
        except AdminError as exc:
            return error_answer(exc)
        except StateUnavailableError as exc:  # the worker's copy is too old: fail closed, as vending does
            return error_answer(AdminError(503, "state_unavailable", str(exc)))
        except Exception:  # answer 500 without a traceback; the log keeps it
            log.exception("unexpected error serving %s", raw_path[:256])
            return error_answer(AdminError(500, "internal_error", "internal error"))


def site_environment(*, ui: bool, template_bucket: str | None, session_hours: float | None) -> dict[str, str]:
    """Return the environment ``serve`` hands its workers for :func:`site_from_env`."""
    return {
        _UI: "1" if ui else "0",
        _BUCKET: template_bucket or "",
        _SESSION: "" if session_hours is None else repr(session_hours),
    }


def site_from_env(app: App) -> Site:
    """Return the :class:`Site` for *app*, configured from the environment ``serve`` set."""
    from sls_access._options import utc_now  # noqa: PLC0415

    store = app.state.store
    # In the state: every worker and replica on it shares the UI sessions and pending connects.
    admin = Admin(store, StateRecords(store, clock=utc_now), view=app.state)

    bucket = os.environ.get(_BUCKET) or None
    connector = Connector(admin, VendingIdentity(app.vendor), clock=utc_now, template_bucket=bucket)
    api = AdminApi(admin, connector, app.throttle)
    ui = None
    if os.environ.get(_UI, "1") != "0":
        from sls_access.service.ui import Ui  # noqa: PLC0415 - jinja2

        hours = os.environ.get(_SESSION) or ""
        ui = Ui(admin, connector, app.throttle, session=timedelta(hours=float(hours)) if hours else DEFAULT_SESSION)
    return Site(api, ui)
