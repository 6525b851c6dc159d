"""Profiles and links as data: edits of a dashboard's TOML-shaped dict, checked by the file's parser.

A store that keeps profiles and links itself applies an edit to the dict
(:meth:`~sls_access.dashboard.file.DashboardFile.to_data`), then validates the whole
result with :func:`~sls_access.dashboard.file.parse_dashboard_data`: whatever the
dashboard file's parser refuses, an edit is refused for, with the same message and the
field named (``key``). :func:`to_toml` writes a dashboard file the parser reads back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sls_access._values import name_problem
from sls_access.dashboard.file import DashboardFile, parse_dashboard_data
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import ConfigError
from sls_access.service.store.base import ConflictError, LinkRecord, NotFoundError

__all__ = ["Edits", "links_in", "links_of", "profiles_of", "protected_of", "to_toml"]


MAX_NAME = 128
"""The longest org, app, stage or deployment profile name the state's tables hold."""


def _check(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"must be a string, not {type(value).__name__}", key=what)
    problem = name_problem(value)
    if problem is not None:
        raise ConfigError(f"not a valid {what} name: {problem}", key=what)
    if len(value) > MAX_NAME:  # the state's columns (a database would refuse it as a failure of the state)
        raise ConfigError(f"not a valid {what} name: longer than {MAX_NAME} characters", key=what)
    return value


def _strip(exc: ConfigError, prefix: str) -> ConfigError:
    """Return *exc* without a path, its key relative to *prefix* (the field, for the admin API)."""
    key = exc.key or ""
    message = str(exc)
    if key and message.startswith(f"{key}: "):
        message = message[len(key) + 2 :]
    if prefix and key.startswith(prefix):
        key = key[len(prefix) :]
    return ConfigError(message, key=key or None)


class Edits:
    """One org's edits on a copy of a dashboard's data; :meth:`validated` checks the result."""

    def __init__(self, data: Mapping[str, Any], org: str) -> None:
        self.org = _check(org, "org")
        self.data: dict[str, Any] = copy.deepcopy(dict(data))
        self.body: dict[str, Any] = self.data.setdefault("orgs", {}).setdefault(org, {})

    def validated(self, prefix: str | None = None) -> DashboardFile:
        """Return the edited data parsed; a refusal names the field relative to *prefix* (default: the org)."""
        prefix = f"orgs.{self.org}." if prefix is None else prefix
        try:
            return parse_dashboard_data(self.data, "")
        except ConfigError as exc:
            raise _strip(exc, prefix) from None

    def put_profile(self, name: str, fields: Mapping[str, object]) -> DeploymentProfile:
        """Create or replace the profile *name* from *fields*; return it as parsed."""
        _check(name, "name")
        if not isinstance(fields, Mapping):
            raise ConfigError("must be an object of the deployment profile's fields", key="body")
        body = {field: value for field, value in fields.items() if value is not None}
        self.body.setdefault("deployment_profiles", {})[name] = body
        parsed = self.validated(f"orgs.{self.org}.deployment_profiles.{name}.")
        return parsed.orgs[self.org].profiles[name]

    def delete_profile(self, name: str) -> None:
        """Delete the profile *name*; refused while a link uses it."""
        profiles = self.body.get("deployment_profiles", {})
        if name not in profiles:
            raise NotFoundError(f"org {self.org!r} has no deployment profile {name!r}", key="name")
        del profiles[name]
        parsed_links = [link for link in links_in(self.org, self.body) if link.deployment_profile == name]
        if parsed_links:
            where = ", ".join(_describe(link) for link in parsed_links[:5])
            raise ConflictError(f"deployment profile {name!r} is linked ({where}): unlink it first", key="name")
        self.validated()

    def _level(
        self, app: str | None, stage: str | None, region: str | None, *, create: bool
    ) -> tuple[dict[str, Any], str] | None:
        """Return the table holding the link at that level and its key, or None when it is not there."""
        if region is not None and stage is None:
            raise ConfigError("a region link needs a stage", key="stage")
        if stage is not None and app is None:
            raise ConfigError("a stage link needs an app", key="app")
        if app is None:
            return self.body, "deployment_profile"
        _check(app, "app")
        apps = self.body.setdefault("apps", {}) if create else self.body.get("apps", {})
        app_body = apps.setdefault(app, {}) if create else apps.get(app)
        if app_body is None:
            return None
        if stage is None:
            return app_body, "deployment_profile"
        _check(stage, "stage")
        stages = app_body.setdefault("stages", {}) if create else app_body.get("stages", {})
        stage_body = stages.setdefault(stage, {}) if create else stages.get(stage)
        if stage_body is None:
            return None
        if region is None:
            return stage_body, "deployment_profile"
        _check(region, "region")
        regions = stage_body.setdefault("regions", {}) if create else stage_body.get("regions", {})
        region_body = regions.setdefault(region, {}) if create else regions.get(region)
        return None if region_body is None else (region_body, "deployment_profile")

    def put_link(self, profile: str, *, app: str | None, stage: str | None, region: str | None) -> LinkRecord:
        """Link *profile* at that level."""
        if not isinstance(profile, str):
            raise ConfigError("must be the name of a deployment profile", key="deployment_profile")
        if profile not in self.body.get("deployment_profiles", {}):
            defined = ", ".join(sorted(self.body.get("deployment_profiles", {}))) or "none"
            raise ConfigError(
                f"deployment profile {profile!r} is not defined in org {self.org!r} (defined: {defined})",
                key="deployment_profile",
            )
        found = self._level(app, stage, region, create=True)
        assert found is not None  # noqa: S101 - created
        found[0][found[1]] = profile
        self.validated()
        return LinkRecord(org=self.org, deployment_profile=profile, app=app, stage=stage, region=region)

    def delete_link(self, *, app: str | None, stage: str | None, region: str | None) -> None:
        """Remove the link at that level (and the tables it leaves empty)."""
        found = self._level(app, stage, region, create=False)
        if found is None or found[1] not in found[0]:
            where = _describe(LinkRecord(org=self.org, deployment_profile="", app=app, stage=stage, region=region))
            raise NotFoundError(f"no link at {where}", key="link")
        del found[0][found[1]]
        self._prune(app, stage, region)
        self.validated()

    def _prune(self, app: str | None, stage: str | None, region: str | None) -> None:
        if app is None:
            return
        app_body = self.body["apps"][app]
        if stage is not None:
            stage_body = app_body["stages"][stage]
            if region is not None and not stage_body["regions"][region]:
                del stage_body["regions"][region]
                if not stage_body["regions"]:
                    del stage_body["regions"]
            if not stage_body:
                del app_body["stages"][stage]
                if not app_body["stages"]:
                    del app_body["stages"]
        if not app_body:
            del self.body["apps"][app]

    def set_protected(self, stages: Sequence[str], *, app: str | None) -> None:
        """Replace the protected stages of the org, or of *app*."""
        if isinstance(stages, str) or not isinstance(stages, Sequence):
            raise ConfigError("must be an array of stage names", key="protected_stages")
        if app is None:
            table = self.body
        else:
            _check(app, "app")
            table = self.body.setdefault("apps", {}).setdefault(app, {})
        for stage in stages:
            _check(stage, "protected_stages")
        if stages:
            table["protected_stages"] = list(stages)
        else:
            table.pop("protected_stages", None)
        self.validated()


def _describe(link: LinkRecord) -> str:
    parts = [f"org {link.org}"]
    parts += [
        f"{what} {value}"
        for what, value in (("app", link.app), ("stage", link.stage), ("region", link.region))
        if value is not None
    ]
    return ", ".join(parts)


def links_in(org: str, body: Mapping[str, Any]) -> list[LinkRecord]:
    """Return the links in *body*, one org's data (:meth:`DashboardFile.to_data`)."""
    found: list[LinkRecord] = []
    if "deployment_profile" in body:
        found.append(LinkRecord(org=org, deployment_profile=body["deployment_profile"]))
    for app, app_body in sorted(body.get("apps", {}).items()):
        if "deployment_profile" in app_body:
            found.append(LinkRecord(org=org, deployment_profile=app_body["deployment_profile"], app=app))
        for stage, stage_body in sorted(app_body.get("stages", {}).items()):
            if "deployment_profile" in stage_body:
                found.append(
                    LinkRecord(org=org, deployment_profile=stage_body["deployment_profile"], app=app, stage=stage)
                )
            for region, region_body in sorted(stage_body.get("regions", {}).items()):
                found.append(
                    LinkRecord(
                        org=org,
                        deployment_profile=region_body["deployment_profile"],
                        app=app,
                        stage=stage,
                        region=region,
                    )
                )
    return found


def links_of(dashboard: DashboardFile, org: str) -> list[LinkRecord]:
    """Return *org*'s links in *dashboard*: org level first, then by app, stage and region."""
    body = dashboard.to_data()["orgs"].get(org)
    return [] if body is None else links_in(org, body)


def profiles_of(dashboard: DashboardFile, org: str) -> list[DeploymentProfile]:
    """Return *org*'s deployment profiles in *dashboard*, by name."""
    found = dashboard.orgs.get(org)
    return [] if found is None else [found.profiles[name] for name in sorted(found.profiles)]


def protected_of(dashboard: DashboardFile, org: str, app: str | None = None) -> tuple[str, ...]:
    """Return the protected stages of *org* (or of its *app*) in *dashboard*."""
    found = dashboard.orgs.get(org)
    if found is None:
        return ()
    if app is None:
        return found.protected
    app_body = found.apps.get(app)
    return () if app_body is None else app_body.protected


def _key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)  # a TOML basic string: always quoted, any name


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _table(lines: list[str], path: list[str], body: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in body.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in body.items() if isinstance(v, Mapping)}
    if scalars or not tables:
        lines.append("")
        lines.append("[" + ".".join(_key(part) for part in path) + "]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for name, sub in tables.items():
        _table(lines, [*path, name], sub)


def to_toml(data: Mapping[str, Any], header: str = "") -> str:
    """Return *data* (:meth:`DashboardFile.to_data`) as a dashboard file's text."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for org, body in data.get("orgs", {}).items():
        _table(lines, ["orgs", org], body)
    return "\n".join(lines).lstrip("\n") + "\n"
