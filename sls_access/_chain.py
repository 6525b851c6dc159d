"""The chain: sources in order, the first that applies wins, every try on the trail.

Every source's error passes through one redaction here (:meth:`SlsAccessError.redacted`,
:func:`~sls_access._sts_client.error_text`) before it reaches the trail, a log line or the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from sls_access._credentials import Credentials
from sls_access._resolution import Outcome, Resolution, TrailEntry
from sls_access._source import Skip, Source
from sls_access._sts_client import error_text
from sls_access._target import Target
from sls_access._values import MIN_LIFETIME
from sls_access.errors import ConfigError, SlsAccessError

__all__ = ["BUILTIN_ORDER", "ROLE_SOURCES", "Chain", "order_sources"]

log = logging.getLogger("sls_access")

BUILTIN_ORDER = ("dashboard", "env", "profile")
ROLE_SOURCES = ("dashboard",)
"""The sources that give access-role keys: the only ones ``require_role`` consults."""


def order_sources(sources: Sequence[Source], explicit: Sequence[str] | None) -> tuple[Source, ...]:
    """Return *sources* in chain order.

    By default ``dashboard`` first, then third-party sources in plugin order, then
    ``env`` and ``profile``. *explicit* names the whole chain instead; an unknown name
    is a :class:`~sls_access.ConfigError`.
    """
    by_name: dict[str, Source] = {}
    for source in sources:
        if source.name in by_name:
            raise ConfigError(f"two plugins add a source named {source.name!r}", key="sources")
        by_name[source.name] = source
    if explicit is not None:
        unknown = [name for name in explicit if name not in by_name]
        if unknown:
            raise ConfigError(
                f"unknown source(s) {', '.join(map(repr, unknown))}; available: {', '.join(by_name)}", key="sources"
            )
        if len(set(explicit)) != len(explicit):
            raise ConfigError("a source is named twice", key="sources")
        return tuple(by_name[name] for name in explicit)
    head = [by_name[n] for n in BUILTIN_ORDER[:1] if n in by_name]
    middle = [s for s in sources if s.name not in BUILTIN_ORDER]
    tail = [by_name[n] for n in BUILTIN_ORDER[1:] if n in by_name]
    return (*head, *middle, *tail)


class Chain:
    """Tries sources in order for a target and records the trail.

    :param require_role: consult only :data:`ROLE_SOURCES`; the others are put on the
        trail as not consulted.
    :param guard: called with the target before the first other source when no role
        source comes before it (``sources`` leaves ``dashboard`` out, or puts it later):
        it raises when the target's stage is protected, so that no order of the chain
        serves a protected stage with local keys. Its error is the ``dashboard`` row's.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        clock: Callable[[], datetime],
        *,
        require_role: bool = False,
        guard: Callable[[Target], None] | None = None,
    ) -> None:
        self.sources = tuple(s for s in sources if not require_role or s.name in ROLE_SOURCES)
        self.excluded = tuple(s.name for s in sources if s not in self.sources)
        self._clock = clock
        self._guard = guard
        # Only a chain that starts with another source needs it: a role source first refuses itself.
        self._guard_at = 0 if guard is not None and self.sources and self.sources[0].name not in ROLE_SOURCES else None

    def _guarded(self, index: int, target: Target) -> SlsAccessError | None:
        """Return the guard's refusal when the source at *index* is the one it stands before."""
        if index != self._guard_at or self._guard is None:
            return None
        try:
            self._guard(target)
        except SlsAccessError as exc:
            return exc.redacted()
        return None

    @property
    def names(self) -> tuple[str, ...]:
        """The source names, in chain order."""
        return tuple(source.name for source in self.sources)

    def run(self, target: Target) -> Resolution:  # noqa: PLR0911 - one return per way a step ends
        """Walk the chain for *target*; failures end up in ``Resolution.error``, not raised."""
        trail: list[TrailEntry] = []
        for index, source in enumerate(self.sources):
            refused = self._guarded(index, target)
            if refused is not None:
                return self._failed(target, trail, ROLE_SOURCES[0], refused)
            try:
                found = source.load(target)
            except Skip as skip:
                trail.append(TrailEntry(source=source.name, outcome=Outcome.SKIPPED, reason=skip.reason))
                continue
            except SlsAccessError as exc:
                return self._failed(target, trail, source.name, exc.redacted())
            except Exception as exc:  # noqa: BLE001 - a source's failure is a failure
                # Not chained: its text may quote a response body (botocore's parser errors do).
                error = SlsAccessError(f"source {source.name!r} failed: {error_text(exc)}")
                return self._failed(target, trail, source.name, error)
            if found is None:
                trail.append(
                    TrailEntry(source=source.name, outcome=Outcome.SKIPPED, reason="does not apply to this target")
                )
                continue
            if not isinstance(found, Credentials):
                error = SlsAccessError(
                    f"source {source.name!r} returned {type(found).__name__}, not sls_access.Credentials"
                )
                return self._failed(target, trail, source.name, error)
            expiration = found.expiration
            if expiration is not None and (left := expiration - self._clock()) < MIN_LIFETIME:
                # Never hand out keys expired on arrival, whichever source they came from.
                error = SlsAccessError(
                    f"source {source.name!r} returned keys that expire at "
                    f"{expiration.isoformat(timespec='seconds')}, {int(left.total_seconds())} s "
                    f"from now (less than {int(MIN_LIFETIME.total_seconds())} s: refused)"
                )
                return self._failed(target, trail, source.name, error)
            if found.source is None:
                found = attrs.evolve(found, source=source.name)
            trail.append(TrailEntry(source=source.name, outcome=Outcome.USED, reason=_describe(found)))
            log.debug("%s: credentials from %s (%s)", target, source.name, _describe(found))
            return Resolution(
                target=target,
                credentials=found,
                source=source.name,
                region=target.region or found.region,
                trail=tuple(trail),
                chain=self.names,
            )
        trail.extend(self._not_consulted())
        return Resolution(
            target=target, credentials=None, source=None, region=target.region, trail=tuple(trail), chain=self.names
        )

    def plan(self, target: Target) -> Resolution:
        """Walk the chain as :meth:`run` would, asking each source's ``plan`` instead: no network call.

        A source without ``plan`` (a plugin's) is put on the trail as one that would be
        asked, and the walk goes on. Failures are in ``Resolution.error``, not raised.
        """
        trail: list[TrailEntry] = []
        for index, source in enumerate(self.sources):
            refused = self._guarded(index, target)
            if refused is not None:
                return attrs.evolve(self._failed(target, trail, ROLE_SOURCES[0], refused), offline=True)
            plan = getattr(source, "plan", None)
            if plan is None:
                trail.append(
                    TrailEntry(
                        source=source.name,
                        outcome=Outcome.SKIPPED,
                        reason="would be asked (a plugin source is not called offline)",
                    )
                )
                continue
            try:
                reason = plan(target)
            except Skip as skip:
                trail.append(TrailEntry(source=source.name, outcome=Outcome.SKIPPED, reason=skip.reason))
                continue
            except SlsAccessError as exc:
                failed = self._failed(target, trail, source.name, exc)
                return attrs.evolve(failed, offline=True)
            trail.append(TrailEntry(source=source.name, outcome=Outcome.PLANNED, reason=str(reason)))
            return Resolution(
                target=target,
                credentials=None,
                source=source.name,
                region=target.region,
                trail=tuple(trail),
                chain=self.names,
                offline=True,
            )
        trail.extend(self._not_consulted())
        return Resolution(
            target=target,
            credentials=None,
            source=None,
            region=target.region,
            trail=tuple(trail),
            chain=self.names,
            offline=True,
        )

    def _not_consulted(self) -> list[TrailEntry]:
        return [
            TrailEntry(
                source=name,
                outcome=Outcome.SKIPPED,
                reason="not consulted: require_role is set (only an access role may apply)",
            )
            for name in self.excluded
        ]

    def _failed(self, target: Target, trail: list[TrailEntry], name: str, error: SlsAccessError) -> Resolution:
        trail.append(TrailEntry(source=name, outcome=Outcome.FAILED, reason=str(error)))
        log.debug("%s: source %s failed: %s", target, name, error)
        return Resolution(
            target=target,
            credentials=None,
            source=None,
            region=target.region,
            trail=tuple(trail),
            error=error,
            chain=self.names,
        )


def _describe(creds: Credentials) -> str:
    keys = f"keys {creds.key_hint}"  # like `aws configure list`
    if creds.role_arn is not None:
        keys = f"role {creds.role_arn}" + (f" from {creds.dashboard}" if creds.dashboard else "") + f"; {keys}"
    if creds.expiration is None:
        return f"{keys} without expiry"
    return f"{keys} until {creds.expiration.isoformat(timespec='seconds')}"
