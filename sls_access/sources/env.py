"""The ``env`` source: ``AWS_<STAGE>_*`` variables, then the plain ``AWS_*`` ones."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime

import attrs

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._source import Skip
from sls_access._target import Target, env_prefix
from sls_access.errors import ConfigError
from sls_access.plugin import hookimpl

__all__ = ["EnvSource", "sls_access_sources"]


def _expiration(var: str) -> datetime | None:
    value = os.environ.get(var)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not an ISO 8601 time", key=var) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{value!r} has no timezone (add Z or +00:00)", key=var)
    return parsed


@attrs.define
class EnvSource:
    """Static keys from the environment; the stage's own variables win over plain ones.

    A key id without its secret (or the other way round) is a
    :class:`~sls_access.ConfigError`, never a silent mix of stage and plain variables.
    """

    name: str = "env"

    def load(self, target: Target) -> Credentials:
        """Return the first complete set of keys; raise :class:`Skip` when none is set."""
        stage_prefix = env_prefix(target.stage)
        for prefix in (stage_prefix, "AWS_"):
            key_id = os.environ.get(prefix + "ACCESS_KEY_ID")
            secret = os.environ.get(prefix + "SECRET_ACCESS_KEY")
            token = os.environ.get(prefix + "SESSION_TOKEN")
            if key_id and secret:
                return Credentials(
                    access_key_id=key_id,
                    secret_access_key=secret,
                    session_token=token or None,
                    expiration=_expiration(prefix + "CREDENTIAL_EXPIRATION"),
                    source=self.name,
                )
            if key_id or secret or (token and prefix == stage_prefix):
                present = prefix + ("ACCESS_KEY_ID" if key_id else "SECRET_ACCESS_KEY" if secret else "SESSION_TOKEN")
                missing = prefix + ("SECRET_ACCESS_KEY" if key_id else "ACCESS_KEY_ID")
                raise ConfigError(f"{present} is set but {missing} is not; set both or neither", key=missing)
        raise Skip(f"neither {stage_prefix}ACCESS_KEY_ID nor AWS_ACCESS_KEY_ID is set")

    def plan(self, target: Target) -> str:
        """Say what :meth:`load` would give: it reads only the environment, so it is the same check."""
        return f"would use keys {self.load(target).key_hint} from the environment"


@hookimpl
def sls_access_sources(options: Options) -> Iterable[EnvSource]:
    """Add the env source."""
    return [EnvSource()]
