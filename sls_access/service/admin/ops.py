"""The admin operations the JSON API and the web UI share, over the service's :class:`Store`.

The store validates every edit as the dashboard file's parser does (a refusal names the
field), and refuses edits of profiles and links when a dashboard file is their source of
truth (``managed_by_file``). Then the same edit is made on the file's TOML text (tomlkit,
comments kept), checked with the file's parser, and answered ``409 managed_by_file`` with
the table to commit — the file itself is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit

from sls_access._target import Target
from sls_access._values import name_problem
from sls_access.dashboard.file import TargetError, parse_dashboard_file
from sls_access.dashboard.model import DeploymentProfile, LinkLevel
from sls_access.errors import ConfigError
from sls_access.service.admin import AdminError
from sls_access.service.admin.records import Records
from sls_access.service.keys import AccessKey
from sls_access.service.store.base import (
    PROFILE_FIELDS,
    ConflictError,
    ManagedByFileError,
    NotFoundError,
    Role,
    Store,
)

if TYPE_CHECKING:
    from sls_access.service.store.snapshot import StateView

__all__ = ["PROFILE_FIELDS", "Admin", "check_name", "key_json", "profile_json", "toml_of"]

MAX_AUDIT = 1000
_VIA = {
    LinkLevel.STAGE_REGION: "via its stage + region link",
    LinkLevel.STAGE: "via its stage link",
    LinkLevel.APP: "via the app link",
    LinkLevel.ORG: "via the org default",
}


def profile_json(profile: DeploymentProfile) -> dict[str, Any]:
    """Return *profile* with the dashboard file's fields (absent ones left out)."""
    values: dict[str, Any] = {
        "role_arn": profile.role_arn,
        "external_id": profile.external_id,
        "account_id": profile.account_id,
        "region": profile.region,
        "duration_seconds": profile.duration_seconds,
        "sessions": profile.sessions.value,
    }
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


class _Toml(Exception):
    """Carries the TOML to commit on a ``409 managed_by_file`` (its ``__cause__``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__("toml")


def toml_of(error: AdminError) -> str | None:
    """Return the TOML to commit that a ``managed_by_file`` refusal carries, if any."""
    cause = error.__cause__
    return cause.text if isinstance(cause, _Toml) else None


def _refused(exc: ConfigError) -> AdminError:
    """Return the admin answer to a store's refusal."""
    if isinstance(exc, NotFoundError):
        return AdminError(404, "not_found", str(exc).split(" (", 1)[0])
    if isinstance(exc, ConflictError):
        return AdminError(409, "in_use" if exc.key == "name" and "linked" in str(exc) else "conflict", _plain(exc))
    field = exc.key or "(body)"
    return AdminError(400, "invalid", f"{field}: {_plain(exc)}", field=field)


def _plain(exc: ConfigError) -> str:
    """Return the message of *exc* without the path and key its ``str`` adds."""
    message = str(exc.args[0]) if exc.args else str(exc)
    return message.removeprefix(f"{exc.key}: ") if exc.key else message


def _table(parent: Any, name: str) -> Any:  # noqa: ANN401 - tomlkit's containers
    if name not in parent:
        parent[name] = tomlkit.table(is_super_table=True)
    return parent[name]


def _snippet(doc: Any, path: list[str]) -> str:  # noqa: ANN401 - tomlkit's containers
    """Return the TOML of the table at *path* of *doc* alone, under its full header."""
    node: Any = doc
    for name in path:
        node = node.get(name) if node is not None else None
    out: Any = tomlkit.document()
    cursor = out
    for name in path[:-1]:
        cursor = _table(cursor, name)
    if node is None:
        return f"# remove the table [{'.'.join(path)}]\n"
    cursor[path[-1]] = node
    return tomlkit.dumps(out)


class Admin:
    """The operations, over *store*, with short-lived *records* (UI sessions, connects).

    :param view: the worker's in-memory copy of the state
        (:class:`~sls_access.service.store.snapshot.StateView`): keys presented to the admin
        API and UI are matched there, as vending keys are, so that a flood of made-up keys
        costs no database round trip; without one, the store is asked.
    """

    def __init__(self, store: Store, records: Records, *, view: StateView | None = None) -> None:
        self.store = store
        self.records = records
        self._view = view

    @property
    def managed_by_file(self) -> bool:
        """Whether profiles and links are a dashboard file's (read-only here)."""
        return self.store.managed_by_file is not None

    # -- keys
    def authenticate(self, key: str) -> AccessKey | None:
        """Return the live key *key* is, else None."""
        record = self._view.keys().match(key) if self._view is not None else self.store.match_key(key)
        return record if record is not None and record.revoked is None else None

    def key(self, key_id: str) -> AccessKey | None:
        """Return the key with id *key_id*, revoked or not."""
        return (self._view.keys() if self._view is not None else self.store.keys()).keys.get(key_id)

    def record_failure(self, subjects: list[str], window: float) -> int:
        """Count a failed authentication in the state; return the count before it (see ``Store``)."""
        if self._view is not None:
            return self._view.record_failure(subjects, window)
        return self.store.record_failure(subjects, window=window)

    def keys(self, org: str) -> list[AccessKey]:
        """Return *org*'s live keys, oldest first."""
        return self.store.list_keys(org)

    def create_key(self, org: str, name: object, role: object) -> tuple[AccessKey, str]:
        """Create a key; a bad name or role is ``400 invalid``, a taken name ``409 conflict``."""
        if role not in {r.value for r in Role}:
            raise AdminError(400, "invalid", "role: must be 'deploy' or 'admin'", field="role")
        if not isinstance(name, str):
            raise AdminError(400, "invalid", "name: must be a string", field="name")
        try:
            return self.store.create_key(org, name, role=Role(str(role)))
        except ConfigError as exc:
            if "already has a key" in str(exc) and not isinstance(exc, ConflictError):
                raise AdminError(409, "conflict", _plain(exc).split(" (", 1)[0], field="name") from None
            raise _refused(exc) from None

    def revoke_key(self, org: str, name: str) -> AccessKey:
        """Revoke the key *name*; ``404 not_found`` when there is none."""
        try:
            return self.store.revoke_key(org, name)
        except ConfigError as exc:
            if isinstance(exc, NotFoundError) or "has no key" in str(exc):
                raise AdminError(404, "not_found", f"org {org!r} has no key named {name!r}") from None
            raise _refused(exc) from None

    # -- profiles
    def profiles(self, org: str) -> dict[str, DeploymentProfile]:
        """Return *org*'s deployment profiles by name."""
        return {profile.name: profile for profile in self.store.profiles(org)}

    def profile(self, org: str, name: str) -> DeploymentProfile:
        """Return the profile; ``404 not_found`` when there is none."""
        found = self.profiles(org).get(name)
        if found is None:
            raise AdminError(404, "not_found", f"org {org!r} has no deployment profile {name!r}")
        return found

    def _edit(
        self, store_edit: Callable[[], object], file_edit: Callable[[Any], None], where: list[str], prefix: str
    ) -> None:
        """Make the edit in the store; with a dashboard file, answer the TOML to commit instead."""
        try:
            store_edit()
        except ManagedByFileError:
            pass
        except ConfigError as exc:
            raise _refused(exc) from None
        else:
            return
        path = Path(str(self.store.managed_by_file))
        doc = tomlkit.parse(path.read_text("utf-8"))
        file_edit(doc)
        try:
            parse_dashboard_file(tomlkit.dumps(doc).encode("utf-8"), str(path))
        except ConfigError as exc:
            key = exc.key or ""
            field = key.removeprefix(prefix + ".") if key.startswith(prefix + ".") else key or "(file)"
            raise AdminError(400, "invalid", f"{field}: {_plain(exc)}", field=field) from None
        raise AdminError(
            409,
            "managed_by_file",
            f"profiles and links are managed by the dashboard file {path}: commit this change there",
        ) from _Toml(_snippet(doc, where))

    def put_profile(self, org: str, name: str, body: object) -> DeploymentProfile:
        """Create or replace the profile *name* with *body*'s fields."""
        check_name(name, "name")
        if not isinstance(body, Mapping):
            raise AdminError(400, "invalid", "the body must be a JSON object of the profile's fields", field="(body)")
        values = {key: value for key, value in body.items() if value is not None and value != ""}

        def in_file(doc: Any) -> None:  # noqa: ANN401
            table = tomlkit.table()
            for key, value in values.items():
                table[key] = value
            _table(_table(_table(doc, "orgs"), org), "deployment_profiles")[name] = table

        self._edit(
            lambda: self.store.put_profile(org, name, values),
            in_file,
            ["orgs", org, "deployment_profiles", name],
            f"orgs.{org}.deployment_profiles.{name}",
        )
        return self.profile(org, name)

    def delete_profile(self, org: str, name: str) -> None:
        """Delete the profile; ``409 in_use`` naming the links that use it."""
        self.profile(org, name)
        users = [link for link in self.store.links(org) if link.deployment_profile == name]
        if users:
            where = ", ".join(_link_name(org, link.app, link.stage, link.region) for link in users)
            raise AdminError(
                409,
                "in_use",
                f"deployment profile {name!r} is linked from {where}: link those to "
                "another profile (or remove them) first",
            )

        def in_file(doc: Any) -> None:  # noqa: ANN401
            del doc["orgs"][org]["deployment_profiles"][name]

        self._edit(
            lambda: self.store.delete_profile(org, name),
            in_file,
            ["orgs", org, "deployment_profiles", name],
            f"orgs.{org}",
        )

    # -- links
    def links(self, org: str) -> dict[str, Any]:
        """Return *org*'s links, protected stages and the precedence as the resolver applies it."""
        records = self.store.links(org)
        links = [
            {"app": r.app, "stage": r.stage, "region": r.region, "deployment_profile": r.deployment_profile}
            for r in records
        ]
        protected: dict[str, list[str]] = {}
        org_protected = self.store.protected_stages(org)
        if org_protected:
            protected["*"] = list(org_protected)
        apps = list(dict.fromkeys(r.app for r in records if r.app is not None))
        for app in apps:
            stages = self.store.protected_stages(org, app=app)
            if stages:
                protected[app] = list(stages)
        dashboard = self.store.dashboard()
        resolution = [
            _resolved(dashboard.link, Target(org=org, app=r.app, stage=r.stage, region=r.region))
            for r in records
            if r.app is not None and r.stage is not None
        ]
        # Then the defaults, app level before org level, as the resolver falls back to them.
        for level, other in ((LinkLevel.APP, "(any other stage)"), (LinkLevel.ORG, "(any other app)")):
            for r in records:
                if r.level is level:
                    target = f"{org}/{r.app}/{other}" if level is LinkLevel.APP else f"{org}/{other}"
                    resolution.append(
                        {
                            "target": target,
                            "via": _VIA[level],
                            "deployment_profile": r.deployment_profile,
                            "text": f"{target} → {r.deployment_profile}, {_VIA[level]}",
                        }
                    )
        return {"links": links, "protected_stages": protected, "resolution": resolution}

    @staticmethod
    def _path(org: str, app: str | None, stage: str | None, region: str | None) -> list[str]:
        if (stage is not None and app is None) or (region is not None and stage is None):
            field = "region" if region is not None and stage is None else "app"
            raise AdminError(400, "invalid", "a stage link needs its app, a region link its stage", field=field)
        path = ["orgs", org]
        for kind, name in (("apps", app), ("stages", stage), ("regions", region)):
            if name is not None:
                path += [kind, check_name(name, kind[:-1])]
        return path

    def put_link(self, org: str, app: str | None, stage: str | None, region: str | None, body: object) -> None:
        """Link the target level to ``body["deployment_profile"]``."""
        path = self._path(org, app, stage, region)
        profile = body.get("deployment_profile") if isinstance(body, Mapping) else None
        if not isinstance(profile, str) or not profile:
            raise AdminError(
                400,
                "invalid",
                'deployment_profile: the body is {"deployment_profile": NAME}',
                field="deployment_profile",
            )

        def in_file(doc: Any) -> None:  # noqa: ANN401
            node = doc
            for name in path:
                node = _table(node, name)
            node["deployment_profile"] = profile

        self._edit(
            lambda: self.store.put_link(org, profile, app=app, stage=stage, region=region),
            in_file,
            path,
            ".".join(path),
        )

    def delete_link(self, org: str, app: str | None, stage: str | None, region: str | None) -> None:
        """Remove the link of that level; ``404 not_found`` when there is none."""
        path = self._path(org, app, stage, region)
        if not any((r.app, r.stage, r.region) == (app, stage, region) for r in self.store.links(org)):
            raise AdminError(404, "not_found", f"no link at {'.'.join(path)}")

        def in_file(doc: Any) -> None:  # noqa: ANN401
            node = doc
            for name in path:
                node = node[name]
            del node["deployment_profile"]

        self._edit(
            lambda: self.store.delete_link(org, app=app, stage=stage, region=region), in_file, path, ".".join(path)
        )

    def set_protected(self, org: str, app: str | None, stages: list[str]) -> None:
        """Replace the protected stages of *org* (or of its *app*): only their own link serves them."""
        if app is not None:
            check_name(app, "app")
        for stage in stages:
            check_name(stage, "protected_stages")
        path = ["orgs", org] + (["apps", app] if app is not None else [])

        def in_file(doc: Any) -> None:  # noqa: ANN401
            node = doc
            for name in path:
                node = _table(node, name)
            if stages:
                node["protected_stages"] = stages
            elif "protected_stages" in node:
                del node["protected_stages"]

        self._edit(lambda: self.store.set_protected_stages(org, stages, app=app), in_file, path, ".".join(path))

    # -- audit
    def audit(
        self,
        org: str,
        *,
        app: str | None = None,
        stage: str | None = None,
        key: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Return *org*'s audit events, newest first, filtered."""
        events = self.store.audit(
            org, app=app, stage=stage, key=key, outcome=outcome, limit=max(1, min(limit, MAX_AUDIT))
        )
        return [event.to_json() for event in events]


def _link_name(org: str, app: str | None, stage: str | None, region: str | None) -> str:
    parts = (
        [f"orgs.{org}"]
        + ([f"apps.{app}"] if app else [])
        + ([f"stages.{stage}"] if stage else [])
        + ([f"regions.{region}"] if region else [])
    )
    return ".".join(parts)


def _resolved(link: Callable[[Target], Any], target: Target) -> dict[str, Any]:
    name = f"{target.org}/{target.app}/{target.stage}" + (f" ({target.region})" if target.region else "")
    try:
        found = link(target)
    except TargetError as exc:
        return {"target": name, "deployment_profile": None, "via": exc.code, "text": f"{name} → refused: {exc.reason}"}
    if found is None:
        return {"target": name, "deployment_profile": None, "via": None, "text": f"{name} → no link"}
    via = _VIA[found.level]
    return {
        "target": name,
        "deployment_profile": found.profile.name,
        "via": via,
        "text": f"{name} → {found.profile.name}, {via}",
    }
