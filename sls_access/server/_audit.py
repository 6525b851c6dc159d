"""The audit log: one JSON line per request on the ``sls_access.audit`` logger, no secret.

Fields: ``time``, ``client``, ``method``, ``path`` (without the query, cut at 256
characters), ``status``, ``outcome``, ``org``, ``app``, ``stage``, ``region``, ``key``
(the access key's name), ``key_id`` (its public id), ``role`` (the role ARN vended or
tried), ``aws_key_id`` (the temporary AWS access key id vended, ``ASIA…``: what CloudTrail
records as the event's ``accessKeyId``), ``session`` (the role session's name) and
``source_identity`` (its ``SourceIdentity``, None for a shared session) and ``ms``. Never
a key, a secret key or a session token: the Authorization header is not read into the
record at all, and an AWS access key id is not a secret.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["LOGGER", "Audit"]

LOGGER = "sls_access.audit"
_log = logging.getLogger(LOGGER)


class Audit:
    """The audit record of one request, filled in as the request is handled."""

    __slots__ = ("fields",)

    def __init__(self, client: str, method: str, path: str) -> None:
        self.fields: dict[str, Any] = {
            "time": None, "client": client, "method": method[:16], "path": path[:256], "status": None,
            "outcome": None, "org": None, "app": None, "stage": None, "region": None,
            "key": None, "key_id": None, "role": None, "aws_key_id": None, "session": None,
            "source_identity": None, "ms": None,
        }

    def emit(self, status: int, outcome: str, ms: float) -> None:
        """Write the line (at INFO; failures of the server itself at WARNING)."""
        if not _log.isEnabledFor(logging.WARNING if status >= 500 else logging.INFO):
            return
        self.fields.update(time=datetime.now(UTC).isoformat(timespec="milliseconds"), status=status,
                           outcome=outcome, ms=round(ms, 2))
        _log.log(logging.WARNING if status >= 500 else logging.INFO, json.dumps(self.fields))
