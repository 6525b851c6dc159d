"""Profiles, links and protected stages as rows, and back: a dashboard's data in the state's tables.

One org at a time: an edit reads the org's rows into a dashboard's data
(:meth:`~sls_access.dashboard.file.DashboardFile.to_data` form), changes and validates it
(:mod:`sls_access.service.store._dashboard`), and writes the org's rows anew.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sls_access.service.store import _schema as t
from sls_access.service.store._dashboard import links_in

__all__ = ["org_data", "write_org"]


def org_data(conn: Connection, only: str | None = None) -> dict[str, Any]:
    """Return the profiles, links and protected stages (of org *only*, when given) as a dashboard's data."""

    def where(table: sa.Table, query: sa.Select[Any]) -> sa.Select[Any]:
        return query if only is None else query.where(table.c.org == only)

    data: dict[str, Any] = {}
    orgs = sa.select(t.orgs).order_by(t.orgs.c.name)
    for row in conn.execute(orgs if only is None else orgs.where(t.orgs.c.name == only)):
        data.setdefault(row.name, {})
    for row in conn.execute(where(t.profiles, sa.select(t.profiles)).order_by(t.profiles.c.name)):
        body = {
            field: getattr(row, field)
            for field in ("role_arn", "external_id", "duration_seconds", "region", "account_id", "sessions")
            if getattr(row, field) is not None
        }
        data.setdefault(row.org, {}).setdefault("deployment_profiles", {})[row.name] = body
    for row in conn.execute(
        where(t.links, sa.select(t.links)).order_by(t.links.c.app, t.links.c.stage, t.links.c.region)
    ):
        body = data.setdefault(row.org, {})
        if row.app:
            body = body.setdefault("apps", {}).setdefault(row.app, {})
            if row.stage:
                body = body.setdefault("stages", {}).setdefault(row.stage, {})
                if row.region:
                    body = body.setdefault("regions", {}).setdefault(row.region, {})
        body["deployment_profile"] = row.deployment_profile
    for row in conn.execute(
        where(t.protected_stages, sa.select(t.protected_stages)).order_by(t.protected_stages.c.stage)
    ):
        body = data.setdefault(row.org, {})
        if row.app:
            body = body.setdefault("apps", {}).setdefault(row.app, {})
        body.setdefault("protected_stages", []).append(row.stage)
    return {"orgs": data}


def write_org(conn: Connection, org: str, body: Mapping[str, Any]) -> None:
    """Replace *org*'s rows with those of *body*, one org's data (:meth:`DashboardFile.to_data`)."""
    for table in (t.profiles, t.links, t.protected_stages):
        conn.execute(sa.delete(table).where(table.c.org == org))
    conn.execute(sa.delete(t.orgs).where(t.orgs.c.name == org))
    conn.execute(sa.insert(t.orgs).values(name=org))
    profiles = [
        {
            "org": org,
            "name": name,
            "role_arn": spec["role_arn"],
            **{
                field: spec.get(field)
                for field in ("external_id", "duration_seconds", "region", "account_id", "sessions")
            },
        }
        for name, spec in body.get("deployment_profiles", {}).items()
    ]
    link_rows = [
        {
            "org": org,
            "app": link.app or "",
            "stage": link.stage or "",
            "region": link.region or "",
            "deployment_profile": link.deployment_profile,
        }
        for link in links_in(org, body)
    ]
    protected = [{"org": org, "app": "", "stage": stage} for stage in body.get("protected_stages", [])]
    protected += [
        {"org": org, "app": app, "stage": stage}
        for app, app_body in body.get("apps", {}).items()
        for stage in app_body.get("protected_stages", [])
    ]
    for table, rows in ((t.profiles, profiles), (t.links, link_rows), (t.protected_stages, protected)):
        if rows:
            conn.execute(sa.insert(table), rows)
