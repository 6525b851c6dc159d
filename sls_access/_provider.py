"""botocore glue: refreshable credentials fed by a resolver, and the credential provider."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import botocore.credentials
import botocore.session

from sls_access._cache import windows
from sls_access._credentials import Credentials

__all__ = ["METHOD", "SlsAccessProvider", "to_botocore"]

METHOD = "sls-access"
# Keys without an expiry are re-read through the resolver about this often by sessions.
STATIC_REFRESH = timedelta(hours=1)


def to_botocore(
    creds: Credentials,
    fetch: Callable[[], Credentials],
    clock: Callable[[], datetime],
) -> botocore.credentials.Credentials:
    """Return botocore credentials for *creds*: refreshable through *fetch* when they expire.

    The advisory and mandatory windows are the resolver cache's (15 and 10 minutes, less
    for short-lived keys), so botocore asks again exactly when the cache has new keys.
    """
    if creds.expiration is None:
        return botocore.credentials.Credentials(
            creds.access_key_id, creds.secret_access_key, creds.session_token, method=METHOD
        )

    def refresh() -> dict[str, Any]:
        fresh = fetch()
        expiry = fresh.expiration or clock() + STATIC_REFRESH
        return {
            "access_key": fresh.access_key_id,
            "secret_key": fresh.secret_access_key,
            "token": fresh.session_token,
            "expiry_time": expiry.isoformat(),  # botocore parses it with dateutil
        }

    advisory, mandatory = windows((creds.expiration - clock()).total_seconds())
    return botocore.credentials.RefreshableCredentials(
        creds.access_key_id,
        creds.secret_access_key,
        creds.session_token,  # type: ignore[arg-type] # botocore takes None: no token
        creds.expiration,
        refresh_using=refresh,
        method=METHOD,
        time_fetcher=clock,
        advisory_timeout=int(advisory),
        mandatory_timeout=int(mandatory),
    )


class SlsAccessProvider(botocore.credentials.CredentialProvider):
    """A botocore credential provider backed by an sls-access resolver.

    ``load()`` returns None when no source of the chain applies (so that botocore's own
    chain goes on) and raises when a source applies but fails (fail closed).
    """

    METHOD = METHOD
    CANONICAL_NAME = "custom-sls-access"

    def __init__(
        self,
        fetch: Callable[[], Credentials | None],
        clock: Callable[[], datetime],
        initial: Credentials | None = None,
    ) -> None:
        super().__init__()
        # Sessions sign with these keys: botocore's DEBUG records of those requests carry
        # the session token, so they are redacted even if no role was ever assumed.
        from sls_access import _redact  # noqa: PLC0415 - its patterns cost import time; needed from here on

        _redact.install()
        self._fetch = fetch
        self._clock = clock
        self._initial = initial

    def _required(self) -> Credentials:
        creds = self._fetch()
        if creds is None:
            from sls_access.errors import SlsAccessError  # noqa: PLC0415 - rare path

            raise SlsAccessError("the credentials that this session was created with no longer apply")
        return creds

    def load(self) -> botocore.credentials.Credentials | None:
        """Return refreshable botocore credentials, or None when no source applies."""
        creds, self._initial = self._initial or self._fetch(), None
        if creds is None:
            return None
        return to_botocore(creds, self._required, self._clock)
