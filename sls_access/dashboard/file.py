"""The local dashboard file: read it, parse it strictly, look up a target's link.

Where it is found is :mod:`sls_access.dashboard.locate`'s concern.

The format is described in ``docs/reference/dashboard-file.md``. Every problem is a
:class:`~sls_access.ConfigError` naming the file and the dotted key. A lookup is strict
too (:class:`TargetError`): a name one slip away from one in the file, and a protected
stage without a link of its own, are refused rather than left to fall through to local keys.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from sls_access._target import Target
from sls_access._values import ACCOUNT_ID, EXTERNAL_ID, REGION, ROLE_ARN, account_of_arn, name_problem, near_name
from sls_access.dashboard.model import DeploymentProfile, Link, LinkLevel, Sessions
from sls_access.errors import ConfigError

__all__ = [
    "MAX_BYTES",
    "PROTECTED_STAGE",
    "UNKNOWN_TARGET",
    "DashboardFile",
    "TargetError",
    "load_dashboard_file",
    "parse_dashboard_data",
    "parse_dashboard_file",
    "read_dashboard_bytes",
]

MAX_BYTES = 1 << 20

_ORG_KEYS = ("deployment_profile", "deployment_profiles", "apps", "protected_stages")
_PROFILE_KEYS = ("role_arn", "external_id", "duration_seconds", "region", "account_id", "sessions")
_APP_KEYS = ("deployment_profile", "stages", "protected_stages")
_STAGE_KEYS = ("deployment_profile", "regions")
_REGION_KEYS = ("deployment_profile",)
UNKNOWN_TARGET = "unknown_target"
PROTECTED_STAGE = "protected_stage"


class TargetError(ConfigError):
    """The dashboard file refuses a target rather than let it fall through to local keys.

    :ivar code: ``"unknown_target"`` (an org, app or stage one slip away from a name in
        the file) or ``"protected_stage"`` (a protected stage without a link of its own);
        the dashboard service answers with it.
    :ivar reason: the message without the file's path (what the service may tell a client).
    """

    def __init__(self, message: str, *, code: str, path: str | None = None, key: str | None = None) -> None:
        self.code = code
        self.reason = message
        super().__init__(message, path=path, key=key)


@attrs.frozen(kw_only=True)
class _Stage:
    profile: str | None
    regions: Mapping[str, str]


@attrs.frozen(kw_only=True)
class _App:
    profile: str | None
    stages: Mapping[str, _Stage]
    protected: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class _Org:
    profile: str | None
    profiles: Mapping[str, DeploymentProfile]
    apps: Mapping[str, _App]
    protected: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class DashboardFile:
    """A parsed, validated dashboard file."""

    path: str
    orgs: Mapping[str, _Org]

    def link(self, target: Target) -> Link | None:
        """Return the most specific link for *target*, or None when none applies.

        stage + region > stage > app > org default. None when the org is not in the file,
        or nothing in it links a deployment profile to the target.

        :raises TargetError: when the org, app or stage is not in the file but one slip
            away from a name that is (:func:`~sls_access._values.near_name`), or when the
            stage is protected and has no link of its own (stage, or stage + region).
        """
        org = self.orgs.get(target.org)
        if org is None:
            self._refuse_slip("org", target.org, self.orgs, "orgs", "the dashboard file")
            return None
        base = f"orgs.{target.org}"
        app = org.apps.get(target.app)
        if app is None:
            self._refuse_slip("app", target.app, org.apps, f"{base}.apps", f"org {target.org!r}")
        app_key = f"{base}.apps.{target.app}"
        stage = None if app is None else app.stages.get(target.stage)
        if stage is not None:
            stage_key = f"{app_key}.stages.{target.stage}"
            if target.region is not None and target.region in stage.regions:
                return Link(
                    profile=org.profiles[stage.regions[target.region]],
                    level=LinkLevel.STAGE_REGION,
                    key=f"{stage_key}.regions.{target.region}",
                )
            if stage.profile is not None:
                return Link(profile=org.profiles[stage.profile], level=LinkLevel.STAGE, key=stage_key)
        app_protected = () if app is None else app.protected
        if stage is None:
            known = [*(() if app is None else app.stages), *app_protected, *org.protected]
            self._refuse_slip("stage", target.stage, known, f"{app_key}.stages", f"app {target.app!r}")
        if target.stage in app_protected or target.stage in org.protected:
            # Never the app or org default, never local keys: only the stage's own link.
            listed = app_key if target.stage in app_protected else base
            region = "" if target.region is None else f" for region {target.region}"
            raise TargetError(
                f"stage {target.stage!r} is protected and has no link of its own{region}: link "
                f"{app_key}.stages.{target.stage} to a deployment profile",
                code=PROTECTED_STAGE,
                path=self.path,
                key=f"{listed}.protected_stages",
            )
        if app is not None and app.profile is not None:
            return Link(profile=org.profiles[app.profile], level=LinkLevel.APP, key=app_key)
        if org.profile is not None:
            return Link(profile=org.profiles[org.profile], level=LinkLevel.ORG, key=base)
        return None

    def refuse_local_keys(self, target: Target) -> None:
        """Raise :class:`TargetError` when *target*'s stage is protected (org or app level).

        ``use_local_credentials`` skips the dashboard, and a ``sources`` order that does
        not start with ``dashboard`` asks other sources first, but never for a protected
        stage: only the stage's own link serves it.
        """
        org = self.orgs.get(target.org)
        if org is None:
            return
        app = org.apps.get(target.app)
        base = f"orgs.{target.org}"
        if app is not None and target.stage in app.protected:
            key = f"{base}.apps.{target.app}.protected_stages"
        elif target.stage in org.protected:
            key = f"{base}.protected_stages"
        else:
            return
        raise TargetError(
            f"stage {target.stage!r} is protected: use_local_credentials "
            "(--use-local-credentials, SLS_ACCESS_USE_LOCAL_CREDENTIALS), or a sources order that "
            "does not start with dashboard, is refused for it; only its own link serves it",
            code=PROTECTED_STAGE,
            path=self.path,
            key=key,
        )

    def _refuse_slip(self, what: str, name: str, known: Iterable[str], key: str, where: str) -> None:
        near = near_name(name, known)
        if near is not None:
            raise TargetError(
                f"{what} {name!r} is not in {where}; did you mean {near!r}? (names match exactly; "
                "refused rather than fall through to local keys)",
                code=UNKNOWN_TARGET,
                path=self.path,
                key=key,
            )

    def to_data(self) -> dict[str, Any]:
        """Return the dashboard as TOML would load the file (:func:`parse_dashboard_data` takes it back).

        Keys with default values are left out (``duration_seconds`` of 3600, ``sessions``
        ``"shared"``), so an export reads like a hand-written file.
        """
        orgs: dict[str, Any] = {}
        for org_name, org in self.orgs.items():
            body: dict[str, Any] = {}
            if org.profile is not None:
                body["deployment_profile"] = org.profile
            if org.protected:
                body["protected_stages"] = list(org.protected)
            body["deployment_profiles"] = {name: _profile_data(profile) for name, profile in org.profiles.items()}
            apps: dict[str, Any] = {}
            for app_name, app in org.apps.items():
                app_body: dict[str, Any] = {}
                if app.profile is not None:
                    app_body["deployment_profile"] = app.profile
                if app.protected:
                    app_body["protected_stages"] = list(app.protected)
                stages: dict[str, Any] = {}
                for stage_name, stage in app.stages.items():
                    stage_body: dict[str, Any] = {}
                    if stage.profile is not None:
                        stage_body["deployment_profile"] = stage.profile
                    if stage.regions:
                        stage_body["regions"] = {
                            region: {"deployment_profile": name} for region, name in stage.regions.items()
                        }
                    stages[stage_name] = stage_body
                if stages:
                    app_body["stages"] = stages
                apps[app_name] = app_body
            if apps:
                body["apps"] = apps
            orgs[org_name] = body
        return {"orgs": orgs}

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


def parse_dashboard_data(data: Mapping[str, Any], path: str) -> DashboardFile:
    """Validate *data*, a dashboard as TOML would load its file (the service's state keeps it so).

    The same checks as :func:`parse_dashboard_file`; *path* says where the data came from in errors.
    """
    return _Parser(path).file(dict(data))


def _profile_data(profile: DeploymentProfile) -> dict[str, Any]:
    body: dict[str, Any] = {"role_arn": profile.role_arn}
    if profile.external_id is not None:
        body["external_id"] = profile.external_id
    if profile.duration_seconds != 3600:
        body["duration_seconds"] = profile.duration_seconds
    if profile.region is not None:
        body["region"] = profile.region
    if profile.account_id is not None:
        body["account_id"] = profile.account_id
    if profile.sessions is not Sessions.SHARED:
        body["sessions"] = profile.sessions.value
    return body


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
                    name, allowed, n=1
                )
                hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(allowed)}"
                raise self.fail(f"{key}.{name}" if key else name, f"unknown key{hint}")
        return value

    def names(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {_kind(value)}")
        for name in value:
            problem = name_problem(name)  # the one rule for org, app and stage names
            if problem is not None:
                raise self.fail(f"{key}.{name}", f"a name {problem.removeprefix(repr(name) + ' ')}")
        return value

    def string(self, value: object, key: str, pattern: re.Pattern[str], what: str, *, echo: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_kind(value)}")
        if not pattern.fullmatch(value):
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
        return DashboardFile(path=self.path, orgs={name: self.org(body, f"orgs.{name}") for name, body in orgs.items()})

    def org(self, value: object, key: str) -> _Org:
        body = self.table(value, key, _ORG_KEYS)
        profiles_key = f"{key}.deployment_profiles"
        profiles = {
            name: self.profile(name, spec, f"{profiles_key}.{name}")
            for name, spec in self.names(body.get("deployment_profiles", {}), profiles_key).items()
        }
        default = body.get("deployment_profile")
        apps_key = f"{key}.apps"
        return _Org(
            profile=None if default is None else self.ref(default, f"{key}.deployment_profile", profiles),
            profiles=profiles,
            apps={
                name: self.app(spec, f"{apps_key}.{name}", profiles)
                for name, spec in self.names(body.get("apps", {}), apps_key).items()
            },
            # Checked per target: an app without the stage's own link refuses only that target.
            protected=self.protected(body.get("protected_stages", []), f"{key}.protected_stages"),
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
        role_arn = self.string(
            body["role_arn"], f"{key}.role_arn", ROLE_ARN, "an IAM role ARN like arn:aws:iam::123456789012:role/name"
        )
        return DeploymentProfile(
            name=name,
            role_arn=role_arn,
            external_id=None
            if external_id is None
            else self.string(
                external_id, f"{key}.external_id", EXTERNAL_ID, "2-1224 characters of [\\w+=,.@:/-]", echo=False
            ),
            duration_seconds=duration,
            region=None
            if region is None
            else self.string(region, f"{key}.region", REGION, "an AWS region like eu-west-1"),
            account_id=self.account_id(body.get("account_id"), key, role_arn),
            sessions=self.sessions(body.get("sessions", Sessions.SHARED.value), f"{key}.sessions"),
        )

    def sessions(self, value: object, key: str) -> Sessions:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_kind(value)}")
        allowed = [mode.value for mode in Sessions]
        if value not in allowed:
            near = difflib.get_close_matches(value.lower().replace("-", "_"), allowed, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"valid values: {', '.join(map(repr, allowed))}"
            raise self.fail(key, f"{value[:80]!r} is not a session mode; {hint}")
        return Sessions(value)

    def account_id(self, value: object, key: str, role_arn: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            raise self.fail(
                f"{key}.account_id", "must be a string of 12 digits (quoted: an account id may start with 0)"
            )
        account = self.string(value, f"{key}.account_id", ACCOUNT_ID, "an AWS account id (12 digits)")
        in_arn = account_of_arn(role_arn)
        if in_arn != account:
            raise self.fail(
                f"{key}.role_arn", f"the role is in account {in_arn}, not in the profile's account_id {account}"
            )
        return account

    def protected(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be an array of stage names, not {_kind(value)}")
        for name in value:
            problem = name_problem(name)
            if problem is not None:
                raise self.fail(key, f"a stage name {problem}")
        if len(set(value)) != len(value):
            raise self.fail(key, "lists a stage twice")
        return tuple(value)

    def app(self, value: object, key: str, profiles: Mapping[str, DeploymentProfile]) -> _App:
        body = self.table(value, key, _APP_KEYS)
        default = body.get("deployment_profile")
        stages_key = f"{key}.stages"
        stages = {
            name: self.stage(spec, f"{stages_key}.{name}", profiles)
            for name, spec in self.names(body.get("stages", {}), stages_key).items()
        }
        protected_key = f"{key}.protected_stages"
        protected = self.protected(body.get("protected_stages", []), protected_key)
        for name in protected:
            stage = stages.get(name)
            if stage is None or (stage.profile is None and not stage.regions):
                raise self.fail(
                    protected_key,
                    f"stage {name!r} is protected but has no link of its own: "
                    f"link {stages_key}.{name} to a deployment profile",
                )
        return _App(
            profile=None if default is None else self.ref(default, f"{key}.deployment_profile", profiles),
            stages=stages,
            protected=protected,
        )

    def stage(self, value: object, key: str, profiles: Mapping[str, DeploymentProfile]) -> _Stage:
        body = self.table(value, key, _STAGE_KEYS)
        default = body.get("deployment_profile")
        regions: dict[str, str] = {}
        regions_key = f"{key}.regions"
        for region, spec in self.names(body.get("regions", {}), regions_key).items():
            region_key = f"{regions_key}.{region}"
            self.string(region, region_key, REGION, "an AWS region like eu-west-1")
            region_body = self.table(spec, region_key, _REGION_KEYS)
            if "deployment_profile" not in region_body:
                raise self.fail(f"{region_key}.deployment_profile", "is required")
            regions[region] = self.ref(region_body["deployment_profile"], f"{region_key}.deployment_profile", profiles)
        return _Stage(
            profile=None if default is None else self.ref(default, f"{key}.deployment_profile", profiles),
            regions=regions,
        )


def _kind(value: object) -> str:
    return {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
    }.get(type(value), type(value).__name__)
