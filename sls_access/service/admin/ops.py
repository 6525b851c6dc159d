"""The admin operations the JSON API and the web UI share: validated edits, links as resolved.

Every edit of a profile or a link is made on the dashboard file's TOML text (tomlkit:
comments and layout kept) and checked with the file's own strict parser before anything
is written, so the admin side refuses exactly what the file would: a refused value is
``400 invalid`` naming the field. With a dashboard file under review
(``managed_by_file``), the edit is validated the same way and answered ``409
managed_by_file`` with the TOML to commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import tomlkit

from sls_access._target import Target
from sls_access._values import name_problem
from sls_access.dashboard.edit import links_using
from sls_access.dashboard.file import TargetError, parse_dashboard_file
from sls_access.dashboard.model import DeploymentProfile, LinkLevel
from sls_access.errors import ConfigError
from sls_access.service.admin import AdminError
from sls_access.service.admin.backend import ROLES, Backend
from sls_access.service.keys import AccessKey

__all__ = ["PROFILE_FIELDS", "Admin", "LinkRow", "key_json", "profile_json"]

PROFILE_FIELDS = ("role_arn", "external_id", "account_id", "region", "duration_seconds", "sessions")
MAX_AUDIT = 1000
_VIA = {LinkLevel.STAGE_REGION: "via its stage + region link", LinkLevel.STAGE: "via its stage link",
        LinkLevel.APP: "via the app link", LinkLevel.ORG: "via the org default"}

LinkRow = dict[str, Any]


def profile_json(profile: DeploymentProfile) -> dict[str, Any]:
    """Return *profile* with the dashboard file's fields (absent ones left out)."""
    values: dict[str, Any] = {"role_arn": profile.role_arn, "external_id": profile.external_id,
                              "account_id": profile.account_id, "region": profile.region,
                              "duration_seconds": profile.duration_seconds, "sessions": profile.sessions.value}
    return {key: value for key, value in values.items() if value is not None}


def key_json(key: AccessKey) -> dict[str, Any]:
    """Return *key* as the API lists it (no hash, no key)."""
    return dict(key.to_public_json())


def check_name(value: object, field: str) -> str:
    """Return *value* when it is a valid org/app/stage/profile name, else raise ``400 invalid``."""
    problem = name_problem(value)
    if problem is not None or not isinstance(value, str):
        raise AdminError(400, "invalid", f"{field}: {problem or 'must be a string'}", field=field)
    return value


def _table(parent: Any, name: str) -> Any:  # noqa: ANN401 - tomlkit's containers
    if name not in parent:
        parent[name] = tomlkit.table(is_super_table=True)
    return parent[name]


def _field(key: str | None, prefix: str) -> str:
    if not key:
        return "(file)"
    return key.removeprefix(prefix + ".") if key.startswith(prefix + ".") else key


def _snippet(doc: Any, path: list[str]) -> str:  # noqa: ANN401 - tomlkit's containers
    """Return the TOML of the table at *path* of *doc* alone, under its full header."""
    node: Any = doc
    for name in path:
        node = node.get(name) if node is not None else None
    out: Any = tomlkit.document()
    cursor = out
    for name in path[:-1]:
        cursor = _table(cursor, name)
    if node is not None:
        cursor[path[-1]] = node
    return tomlkit.dumps(out)


class Admin:
    """The operations, for one *backend*."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- keys
    def create_key(self, org: str, name: object, role: object) -> tuple[AccessKey, str]:
        """Create a key; a bad name or role is ``400 invalid``, a taken name ``409 conflict``."""
        if role not in ROLES:
            raise AdminError(400, "invalid", "role: must be 'deploy' or 'admin'", field="role")
        if not isinstance(name, str):
            raise AdminError(400, "invalid", "name: must be a string", field="name")
        try:
            return self.backend.create_key(org, name, role)
        except ConfigError as exc:
            status, code = (409, "conflict") if "already" in str(exc) else (400, "invalid")
            raise AdminError(status, code, str(exc).split(" (", 1)[0], field="name") from None

    def revoke_key(self, org: str, name: str) -> AccessKey:
        """Revoke the key *name*; ``404 not_found`` when there is none."""
        found = self.backend.revoke_key(org, name)
        if found is None:
            raise AdminError(404, "not_found", f"org {org!r} has no key named {name!r}")
        return found

    # -- profiles
    def profiles(self, org: str) -> dict[str, DeploymentProfile]:
        """Return *org*'s deployment profiles by name."""
        body = self.backend.dashboard().orgs.get(org)
        return {} if body is None else dict(body.profiles)

    def profile(self, org: str, name: str) -> DeploymentProfile:
        """Return the profile; ``404 not_found`` when there is none."""
        found = self.profiles(org).get(name)
        if found is None:
            raise AdminError(404, "not_found", f"org {org!r} has no deployment profile {name!r}")
        return found

    def _edit(self, change: Callable[[Any], None], where: list[str], prefix: str) -> None:
        def apply(text: str) -> str:
            doc = tomlkit.parse(text)
            change(doc)
            new = tomlkit.dumps(doc)
            try:
                parse_dashboard_file(new.encode("utf-8"), "the dashboard")
            except ConfigError as exc:
                field = _field(exc.key, prefix)
                raise AdminError(400, "invalid", f"{field}: {str(exc).rsplit(': ', 1)[-1]}", field=field) from None
            if self.backend.managed_by_file:
                raise AdminError(409, "managed_by_file", "profiles and links are managed by the dashboard file: "
                                 "commit this change there") from _Toml(_snippet(doc, where))
            return new

        if self.backend.managed_by_file:
            apply(self.backend.dashboard_text())
        self.backend.edit_dashboard(apply)

    def put_profile(self, org: str, name: str, body: object) -> DeploymentProfile:
        """Create or replace the profile *name* with *body*'s fields."""
        check_name(name, "name")
        if not isinstance(body, Mapping):
            raise AdminError(400, "invalid", "the body must be a JSON object of the profile's fields", field="(body)")
        values = {key: value for key, value in body.items() if value is not None and value != ""}
        unknown = sorted(set(values) - set(PROFILE_FIELDS))
        if unknown:
            raise AdminError(400, "invalid", f"{unknown[0]}: unknown field (fields: {', '.join(PROFILE_FIELDS)})",
                             field=unknown[0])
        prefix = f"orgs.{org}.deployment_profiles.{name}"

        def change(doc: Any) -> None:  # noqa: ANN401
            profiles = _table(_table(_table(doc, "orgs"), org), "deployment_profiles")
            table = tomlkit.table()
            for key in PROFILE_FIELDS:
                if key in values:
                    table[key] = values[key]
            profiles[name] = table

        self._edit(change, ["orgs", org, "deployment_profiles", name], prefix)
        return self.profile(org, name)

    def delete_profile(self, org: str, name: str) -> None:
        """Delete the profile; ``409 in_use`` naming the links that use it."""
        self.profile(org, name)
        users = links_using(self.backend.dashboard_text(), "the dashboard", org, name)
        if users:
            raise AdminError(409, "in_use", f"deployment profile {name!r} is linked from {', '.join(users)}: "
                             "link those to another profile (or remove them) first")

        def change(doc: Any) -> None:  # noqa: ANN401
            del doc["orgs"][org]["deployment_profiles"][name]

        self._edit(change, ["orgs", org, "deployment_profiles"], f"orgs.{org}")

    # -- links
    def links(self, org: str) -> dict[str, Any]:
        """Return *org*'s links, protected stages and the precedence as the resolver applies it."""
        body = self.backend.dashboard().orgs.get(org)
        links: list[LinkRow] = []
        protected: dict[str, list[str]] = {}
        resolution: list[dict[str, Any]] = []
        if body is None:
            return {"links": links, "protected_stages": protected, "resolution": resolution}
        dashboard = self.backend.dashboard()
        if body.profile is not None:
            links.append({"app": None, "stage": None, "region": None, "deployment_profile": body.profile})
        if body.protected:
            protected["*"] = list(body.protected)
        for app_name, app in body.apps.items():
            if app.profile is not None:
                links.append({"app": app_name, "stage": None, "region": None, "deployment_profile": app.profile})
            if app.protected:
                protected[app_name] = list(app.protected)
            for stage_name, stage in app.stages.items():
                if stage.profile is not None:
                    links.append({"app": app_name, "stage": stage_name, "region": None,
                                  "deployment_profile": stage.profile})
                for region, profile in stage.regions.items():
                    links.append({"app": app_name, "stage": stage_name, "region": region,
                                  "deployment_profile": profile})
                for region_name in [None, *stage.regions]:
                    target = Target(org=org, app=app_name, stage=stage_name, region=region_name)
                    resolution.append(_resolved(dashboard.link, target))
            if app.profile is not None:
                resolution.append({"target": f"{org}/{app_name}/(any other stage)",
                                   "deployment_profile": app.profile, "via": _VIA[LinkLevel.APP],
                                   "text": f"{org}/{app_name}/(any other stage) → {app.profile}, "
                                           f"{_VIA[LinkLevel.APP]}"})
        if body.profile is not None:
            resolution.append({"target": f"{org}/(any other app)", "deployment_profile": body.profile,
                               "via": _VIA[LinkLevel.ORG],
                               "text": f"{org}/(any other app) → {body.profile}, {_VIA[LinkLevel.ORG]}"})
        return {"links": links, "protected_stages": protected, "resolution": resolution}

    def _link_path(self, org: str, app: str | None, stage: str | None, region: str | None) -> list[str]:
        if (stage is not None and app is None) or (region is not None and stage is None):
            raise AdminError(400, "invalid", "a stage link needs its app, a region link its stage",
                             field="stage" if region is None else "region")
        path = ["orgs", org]
        if app is not None:
            path += ["apps", check_name(app, "app")]
        if stage is not None:
            path += ["stages", check_name(stage, "stage")]
        if region is not None:
            path += ["regions", check_name(region, "region")]
        return path

    def put_link(self, org: str, app: str | None, stage: str | None, region: str | None, body: object) -> None:
        """Link the target level to ``body["deployment_profile"]``."""
        path = self._link_path(org, app, stage, region)
        profile = body.get("deployment_profile") if isinstance(body, Mapping) else None
        if not isinstance(profile, str) or not profile:
            raise AdminError(400, "invalid", 'deployment_profile: the body is {"deployment_profile": NAME}',
                             field="deployment_profile")

        def change(doc: Any) -> None:  # noqa: ANN401
            node = doc
            for name in path:
                node = _table(node, name)
            node["deployment_profile"] = profile

        self._edit(change, path, ".".join(path))

    def delete_link(self, org: str, app: str | None, stage: str | None, region: str | None) -> None:
        """Remove the link of that level; ``404 not_found`` when there is none."""
        path = self._link_path(org, app, stage, region)
        doc: Any = tomlkit.parse(self.backend.dashboard_text())
        node: Any = doc
        for name in path:
            node = node.get(name) if node is not None else None
        if node is None or "deployment_profile" not in node:
            raise AdminError(404, "not_found", f"no link at {'.'.join(path)}")

        def change(doc: Any) -> None:  # noqa: ANN401
            node = doc
            for name in path:
                node = node[name]
            del node["deployment_profile"]
            if region is not None and not node:
                del doc["orgs"][org]["apps"][app]["stages"][stage]["regions"][region]

        self._edit(change, path, ".".join(path))

    # -- audit
    def audit(self, org: str, *, app: str | None = None, stage: str | None = None, key: str | None = None,
              outcome: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Return *org*'s audit events, newest first, filtered."""
        limit = max(1, min(limit, MAX_AUDIT))
        found = []
        for event in self.backend.events(org, MAX_AUDIT * 10):
            if ((app and event.get("app") != app) or (stage and event.get("stage") != stage)
                    or (key and key not in (event.get("key"), event.get("key_id")))
                    or (outcome and event.get("outcome") != outcome)):
                continue
            found.append(event)
            if len(found) >= limit:
                break
        return found


class _Toml(Exception):
    """Carries the TOML to commit on a ``409 managed_by_file`` (its ``__cause__``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__("toml")


def toml_of(error: AdminError) -> str | None:
    """Return the TOML to commit that a ``managed_by_file`` refusal carries, if any."""
    cause = error.__cause__
    return cause.text if isinstance(cause, _Toml) else None


def _resolved(link: Callable[[Target], Any], target: Target) -> dict[str, Any]:
    name = f"{target.org}/{target.app}/{target.stage}" + (f" ({target.region})" if target.region else "")
    try:
        found = link(target)
    except TargetError as exc:
        return {"target": name, "deployment_profile": None, "via": exc.code, "text": f"{name} → refused: {exc.reason}"}
    if found is None:
        return {"target": name, "deployment_profile": None, "via": None, "text": f"{name} → no link"}
    via = _VIA[found.level]
    return {"target": name, "deployment_profile": found.profile.name, "via": via,
            "text": f"{name} → {found.profile.name}, {via}"}
