"""Resolver options: keyword arguments merged over their environment variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypedDict, Unpack

import attrs

from sls_access._public import publish
from sls_access.errors import ConfigError

if TYPE_CHECKING:
    import botocore.config

__all__ = ["ENV_VARS", "Clock", "OptionArgs", "Options", "utc_now"]

ENV_VARS = (
    "SLS_ACCESS_DASHBOARD",
    "SERVERLESS_ACCESS_KEY",
    "SLS_ACCESS_USE_LOCAL_CREDENTIALS",
    "SLS_ACCESS_REQUIRE_ROLE",
    "SLS_ACCESS_SOURCES",
    "SLS_ACCESS_DISABLE_PLUGINS",
)
"""Every environment variable :meth:`Options.from_env` reads."""

Clock = Callable[[], datetime]


class OptionArgs(TypedDict, total=False):
    """The keyword options every entry point takes (see :class:`Options`)."""

    dashboard: str | os.PathLike[str] | None
    access_key: str | None
    use_local_credentials: bool | str | None
    require_role: bool | str | None
    profile: str | None
    sources: str | Iterable[str] | None
    disable_plugins: str | Iterable[str] | None
    clock: Clock | None
    sts_config: botocore.config.Config | None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def utc_now() -> datetime:
    """Return the current time, timezone-aware, in UTC (the default clock)."""
    return datetime.now(UTC)


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{value!r} is not a boolean (use true or false)", key=name)


def _names(name: str, value: object) -> tuple[str, ...]:
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ConfigError(f"{value!r} is not a list of names", key=name)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{item!r} is not a name", key=name)
        if item.strip():
            out.append(item.strip())
    return tuple(out)


@attrs.frozen(kw_only=True)
class Options:
    """The settings of a :class:`~sls_access.Resolver`, as plugins receive them.

    Build with :meth:`from_env`: each keyword wins over its environment variable.
    The dashboard access key is left out of ``repr``.

    :ivar require_role: when no access role applies, fail with
        :class:`~sls_access.NoCredentialsError`; ``env`` and ``profile`` are never consulted.
    :ivar clock: returns the current aware datetime (tests inject one).
    :ivar sts_config: the botocore client configuration of every STS client this
        resolver's plugins make (default: 3 attempts, 5 s connect, 10 s read; tests
        shorten it). Not read from the environment.
    """

    dashboard: str | None = None
    access_key: str | None = attrs.field(default=None, repr=False)
    use_local_credentials: bool = False
    require_role: bool = False
    profile: str | None = None
    sources: tuple[str, ...] | None = None
    disable_plugins: frozenset[str] = frozenset()
    clock: Clock = utc_now
    sts_config: botocore.config.Config | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Unpack[OptionArgs]) -> Options:
        """Merge keyword *options* over ``SLS_ACCESS_*``/``SERVERLESS_ACCESS_KEY`` variables.

        Unknown keywords and malformed values raise :class:`~sls_access.ConfigError`.
        """
        env = os.environ if environ is None else environ
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")

        given: Mapping[str, object] = options

        def pick(name: str, var: str | None) -> object:
            value = given.get(name)
            if value is None and var is not None:
                value = env.get(var) or None
            return value

        dashboard = pick("dashboard", "SLS_ACCESS_DASHBOARD")
        access_key = pick("access_key", "SERVERLESS_ACCESS_KEY")
        profile = pick("profile", None)
        for name, value in (("dashboard", dashboard), ("access_key", access_key), ("profile", profile)):
            if value is not None and not isinstance(value, str | os.PathLike):
                raise ConfigError(f"must be a string, not {type(value).__name__}", key=name)
        use_local = pick("use_local_credentials", "SLS_ACCESS_USE_LOCAL_CREDENTIALS")
        require_role = pick("require_role", "SLS_ACCESS_REQUIRE_ROLE")
        sources = pick("sources", "SLS_ACCESS_SOURCES")
        disable = pick("disable_plugins", "SLS_ACCESS_DISABLE_PLUGINS")
        clock = options.get("clock") or utc_now
        if not callable(clock):
            raise ConfigError("must be a callable returning an aware datetime", key="clock")
        return cls(
            dashboard=None if dashboard is None else os.fspath(dashboard),  # type: ignore[call-overload]
            access_key=access_key,  # type: ignore[arg-type]
            use_local_credentials=False if use_local is None else _flag("use_local_credentials", use_local),
            require_role=False if require_role is None else _flag("require_role", require_role),
            profile=profile,  # type: ignore[arg-type]
            sources=None if sources is None else _names("sources", sources) or None,
            disable_plugins=frozenset(() if disable is None else _names("disable_plugins", disable)),
            clock=clock,
            sts_config=options.get("sts_config"),
        )


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
