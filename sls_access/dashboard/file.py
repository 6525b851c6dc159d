"""The local dashboard file: read it, parse it strictly, look up a target's link.

Where it is found is :mod:`sls_access.dashboard.locate`'s concern.

The format is described in ``docs/reference/dashboard-file.md``. Every problem is a
:class:`~sls_access.ConfigError` naming the file and the dotted key.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from sls_access._target import Target
from sls_access.dashboard.model import DeploymentProfile, Link, LinkLevel
from sls_access.errors import ConfigError

__all__ = ["MAX_BYTES", "DashboardFile", "load_dashboard_file", "parse_dashboard_file", "read_dashboard_bytes"]

MAX_BYTES = 1 << 20
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_NAME = re.compile(r"^[^\s/]+$")

_ORG_KEYS = ("deployment_profile", "deployment_profiles", "apps")
_PROFILE_KEYS = ("role_arn", "external_id", "duration_seconds", "region")
_APP_KEYS = ("deployment_profile", "stages")
_STAGE_KEYS = ("deployment_profile", "regions")
_REGION_KEYS = ("deployment_profile",)


@attrs.frozen(kw_only=True)
class _Stage:
    profile: str | None
    regions: Mapping[str, str]


@attrs.frozen(kw_only=True)
class _App:
    profile: str | None
    stages: Mapping[str, _Stage]


@attrs.frozen(kw_only=True)
class _Org:
    profile: str | None
    profiles: Mapping[str, DeploymentProfile]
    apps: Mapping[str, _App]


@attrs.frozen(kw_only=True)
class DashboardFile:
    """A parsed, validated dashboard file."""

    path: str
    orgs: Mapping[str, _Org]

    def link(self, target: Target) -> Link | None:
        """Return the most specific link for *target*, or None when the org has none.

        stage + region > stage > app > org default. Raises ``KeyError`` when the org is
        not in the file at all.
        """
        org = self.orgs[target.org]
        base = f"orgs.{target.org}"
        app = org.apps.get(target.app)
        if app is not None:
            stage = app.stages.get(target.stage)
            if stage is not None:
                stage_key = f"{base}.apps.{target.app}.stages.{target.stage}"
                if target.region is not None and target.region in stage.regions:
                    return Link(profile=org.profiles[stage.regions[target.region]],
                                level=LinkLevel.STAGE_REGION,
                                key=f"{stage_key}.regions.{target.region}")
                if stage.profile is not None:
                    return Link(profile=org.profiles[stage.profile], level=LinkLevel.STAGE, key=stage_key)
            if app.profile is not None:
                return Link(profile=org.profiles[app.profile], level=LinkLevel.APP,
                            key=f"{base}.apps.{target.app}")
        if org.profile is not None:
            return Link(profile=org.profiles[org.profile], level=LinkLevel.ORG, key=base)
        return None

    def targets(self) -> list[tuple[Target, Link]]:
        """Return every target with a link of its own (stage, or stage + region), in file order.

        A stage with only region links yields only its region targets; app and org
        defaults yield none (they have no stage to name).
        """
        found: list[tuple[Target, Link]] = []
        for org_name, org in self.orgs.items():
            for app_name, app in org.apps.items():
                for stage_name, stage in app.stages.items():
                    regions: list[str | None] = [None] if stage.profile is not None else []
                    for region in [*regions, *stage.regions]:
                        target = Target(org=org_name, app=app_name, stage=stage_name, region=region)
                        link = self.link(target)
                        if link is not None:  # pragma: no branch - the stage or region link itself
                            found.append((target, link))
        return found


def read_dashboard_bytes(path: Path) -> bytes:
    """Return the bytes of the dashboard file at *path* (at most :data:`MAX_BYTES`).

    Read once: a caller that checks the bytes (a project file's trust) parses the same
    bytes with :func:`parse_dashboard_file`.
    """
    where = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the dashboard file: {exc.strerror}", path=where) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"the dashboard file is larger than {MAX_BYTES} bytes", path=where)
    return raw


def parse_dashboard_file(raw: bytes, path: str) -> DashboardFile:
    """Validate *raw*, the bytes of the dashboard file at *path* (named in errors)."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays/inline tables
        raise ConfigError("not valid TOML: nested too deeply", path=path) from None
    return _Parser(path).file(data)


def load_dashboard_file(path: Path) -> DashboardFile:
    """Read and validate the dashboard file at *path*."""
    return parse_dashboard_file(read_dashboard_bytes(path), str(path))


@attrs.define
class _Parser:
    path: str

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=key)

    def table(self, value: object, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key or "(top level)", f"must be a table, not {_kind(value)}")
        for name in value:
            if name not in allowed:
                # A slip of case is the likeliest mistake; then the closest spelling.
                near = [k for k in allowed if k.lower() == name.lower()] or difflib.get_close_matches(
                    name, allowed, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(allowed)}"
                raise self.fail(f"{key}.{name}" if key else name, f"unknown key{hint}")
        return value

    def names(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {_kind(value)}")
        for name in value:
            if not _NAME.match(name):
                raise self.fail(f"{key}.{name}", "names must be non-empty, without whitespace or '/'")
        return value

    def string(self, value: object, key: str, pattern: re.Pattern[str], what: str, *, echo: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_kind(value)}")
        if not pattern.match(value):
            shown = f"{value[:80]!r}" if echo else "the value"  # an external ID is kept out of output
            raise self.fail(key, f"{shown} is not {what}")
        return value

    def ref(self, value: object, key: str, profiles: Mapping[str, DeploymentProfile]) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_kind(value)}")
        if value not in profiles:
            defined = ", ".join(sorted(profiles)) or "none"
            raise self.fail(key, f"deployment profile {value!r} is not defined (defined: {defined})")
        return value

    def file(self, data: dict[str, Any]) -> DashboardFile:
        self.table(data, "", ("orgs",))
        orgs = self.names(data.get("orgs", {}), "orgs")
        return DashboardFile(path=self.path, orgs={name: self.org(body, f"orgs.{name}")
                                                   for name, body in orgs.items()})

    def org(self, value: object, key: str) -> _Org:
        body = self.table(value, key, _ORG_KEYS)
        profiles_key = f"{key}.deployment_profiles"
        profiles = {name: self.profile(name, spec, f"{profiles_key}.{name}")
                    for name, spec in self.names(body.get("deployment_profiles", {}), profiles_key).items()}
        default = body.get("deployment_profile")
        apps_key = f"{key}.apps"
        return _Org(
            profile=None if default is None else self.ref(default, f"{key}.deployment_profile", profiles),
            profiles=profiles,
            apps={name: self.app(spec, f"{apps_key}.{name}", profiles)
                  for name, spec in self.names(body.get("apps", {}), apps_key).items()},
        )

    def profile(self, name: str, value: object, key: str) -> DeploymentProfile:
        body = self.table(value, key, _PROFILE_KEYS)
        if "role_arn" not in body:
            raise self.fail(f"{key}.role_arn", "is required")
        duration = body.get("duration_seconds", 3600)
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise self.fail(f"{key}.duration_seconds", f"must be an integer, not {_kind(duration)}")
        if not 900 <= duration <= 43200:
            raise self.fail(f"{key}.duration_seconds", f"{duration} is outside 900..43200")
        external_id = body.get("external_id")
        region = body.get("region")
        return DeploymentProfile(
            name=name,
            role_arn=self.string(body["role_arn"], f"{key}.role_arn", _ROLE_ARN,
                                 "an IAM role ARN like arn:aws:iam::123456789012:role/name"),
            external_id=None if external_id is None else self.string(
                external_id, f"{key}.external_id", _EXTERNAL_ID, "2-1224 characters of [\\w+=,.@:/-]", echo=False),
            duration_seconds=duration,
            region=None if region is None else self.string(region, f"{key}.region", _REGION,
                                                           "an AWS region like eu-west-1"),
        )

    def app(self, value: object, key: str, profiles: Mapping[str, DeploymentProfile]) -> _App:
        body = self.table(value, key, _APP_KEYS)
        default = body.get("deployment_profile")
        stages_key = f"{key}.stages"
        return _App(
            profile=None if default is None else self.ref(default, f"{key}.deployment_profile", profiles),
            stages={name: self.stage(spec, f"{stages_key}.{name}", profiles)
                    for name, spec in self.names(body.get("stages", {}), stages_key).items()},
        )

    def stage(self, value: object, key: str, profiles: Mapping[str, DeploymentProfile]) -> _Stage:
        body = self.table(value, key, _STAGE_KEYS)
        default = body.get("deployment_profile")
        regions: dict[str, str] = {}
        regions_key = f"{key}.regions"
        for region, spec in self.names(body.get("regions", {}), regions_key).items():
            region_key = f"{regions_key}.{region}"
            self.string(region, region_key, _REGION, "an AWS region like eu-west-1")
            region_body = self.table(spec, region_key, _REGION_KEYS)
            if "deployment_profile" not in region_body:
                raise self.fail(f"{region_key}.deployment_profile", "is required")
            regions[region] = self.ref(region_body["deployment_profile"],
                                       f"{region_key}.deployment_profile", profiles)
        return _Stage(
            profile=None if default is None else self.ref(default, f"{key}.deployment_profile", profiles),
            regions=regions,
        )


def _kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a float"}.get(type(value), type(value).__name__)
