"""The ``profile`` source: a named AWS profile, loaded by botocore as the AWS CLI would.

The profile is ``AWS_<STAGE>_PROFILE``, else the ``profile`` option, else
``AWS_PROFILE``, else ``default``. botocore loads it, so static keys, SSO,
``credential_process`` and role profiles all work; only the providers that are not
about profiles (environment, container, instance metadata) are taken out of its chain.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import attrs
import botocore.credentials
import botocore.exceptions
import botocore.session

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._source import Skip
from sls_access._target import Target, env_prefix
from sls_access.errors import ConfigError, SlsAccessError
from sls_access.plugin import hookimpl

__all__ = ["ProfileSource", "sls_access_sources"]

_NOT_PROFILE_PROVIDERS = ("env", "container-role", "iam-role", "ec2-credentials-file", "boto-config")


# Further than this is no expiry at all (keys given without one, or for centuries).
_FOREVER = 200 * 365 * 24 * 3600


def _expiry(creds: botocore.credentials.Credentials) -> datetime | None:
    """Return when refreshable keys expire, to the millisecond and never later; None for keys without an expiry.

    botocore has no public accessor for the expiry. Its public ``refresh_needed(refresh_in=s)``
    says whether fewer than *s* seconds remain, so the time left is found by doubling *s*,
    then halving the interval (about 80 calls of a clock read each, once per resolution).
    """
    if not isinstance(creds, botocore.credentials.RefreshableCredentials):
        return None
    now = datetime.now(UTC)

    def fewer_than(ms: int) -> bool:
        return creds.refresh_needed(refresh_in=ms / 1000)  # type: ignore[arg-type] # botocore compares any number

    if not fewer_than(_FOREVER * 1000):
        return None
    if fewer_than(0):
        return now  # expired already
    # Invariant: at least `low` milliseconds remain, fewer than `high` do.
    low, high = 0, 1
    while not fewer_than(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fewer_than(middle):
            high = middle
        else:
            low = middle
    return now + timedelta(milliseconds=low)


@attrs.define
class ProfileSource:
    """Keys from an AWS profile of the shared config and credentials files."""

    options: Options
    name: str = "profile"

    def pick(self, target: Target) -> tuple[str, str | None]:
        """Return the profile name for *target* and where it came from (None: the default)."""
        stage_var = env_prefix(target.stage) + "PROFILE"
        for name, origin in (
            (os.environ.get(stage_var), stage_var),
            (self.options.profile, "the profile option"),
            (os.environ.get("AWS_PROFILE"), "AWS_PROFILE"),
        ):
            if name:
                return name, origin
        return "default", None

    def _session(self, target: Target) -> tuple[botocore.session.Session, str, str | None]:
        """Return a session of the target's profile, its name and where it came from.

        Reads the AWS config files only. A profile named explicitly that does not exist is a
        :class:`~sls_access.ConfigError`; a missing ``default`` is :class:`Skip`.
        """
        name, origin = self.pick(target)
        session = botocore.session.Session(profile=name)
        try:
            known = session.available_profiles
        except botocore.exceptions.BotoCoreError as exc:
            raise ConfigError(f"cannot read the AWS config files: {exc}", key="profile") from None
        if name not in known:
            if origin is not None:
                raise ConfigError(
                    f"AWS profile {name!r} is not in the AWS config or credentials files",
                    key=origin if origin.isupper() else "profile",
                )
            raise Skip("no AWS profile named 'default' (set AWS_PROFILE or the profile option)")
        return session, name, origin

    def load(self, target: Target) -> Credentials:
        """Return the profile's keys; raise :class:`Skip` when there is no such profile."""
        session, name, _ = self._session(target)
        resolver = session.get_component("credential_provider")
        for method in _NOT_PROFILE_PROVIDERS:
            resolver.remove(method)
        try:
            creds = resolver.load_credentials()
        except botocore.exceptions.BotoCoreError as exc:
            raise SlsAccessError(f"AWS profile {name!r} failed: {type(exc).__name__}: {exc}") from None
        if creds is None:
            raise Skip(f"AWS profile {name!r} has no credentials")
        frozen = creds.get_frozen_credentials()
        return Credentials(
            access_key_id=frozen.access_key,
            secret_access_key=frozen.secret_key,
            session_token=frozen.token,
            expiration=_expiry(creds),
            source=self.name,
            region=session.get_config_variable("region"),
        )

    def plan(self, target: Target) -> str:
        """Say which profile :meth:`load` would use, without loading its keys (SSO, credential_process…)."""
        _, name, origin = self._session(target)
        return f"would use AWS profile {name!r} (from {origin or 'the default'}; its keys are not loaded offline)"


@hookimpl
def sls_access_sources(options: Options) -> Iterable[ProfileSource]:
    """Add the profile source."""
    return [ProfileSource(options)]
