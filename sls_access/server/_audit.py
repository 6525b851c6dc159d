"""The audit log: one JSON line per request on the ``sls_access.audit`` logger, no secret.

Fields: ``time``, ``client``, ``method``, ``path`` (without the query, cut at 256
characters), ``status``, ``outcome``, ``org``, ``app``, ``stage``, ``region``, ``key``
(the access key's name), ``key_id`` (its public id), ``role`` (the role ARN vended or
tried), ``aws_key_id`` (the temporary AWS access key id vended, ``ASIA…``: what CloudTrail
records as the event's ``accessKeyId``), ``session`` (the role session's name) and
``source_identity`` (its ``SourceIdentity``, None for a shared session), and ``ms``. Never
a key, a secret key or a session token: the Authorization header is not read into the
record at all, and an AWS access key id is not a secret.

Cheaply, since a line is written per request: the JSON comes from one prepared encoder,
and the record goes to the logger's handlers through ``Logger.handle`` (no caller-frame
lookup). When the logger's only handler is the plain stream handler that ``sls-access
serve`` sets up (message only, no filter), the line is written to its stream directly,
under the handler's lock and flushed, as the handler would write it. Any other setup
(a handler or filter a user adds) gets one ``LogRecord`` per request, as before.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOGGER", "Audit"]

LOGGER = "sls_access.audit"
_log = logging.getLogger(LOGGER)
_encode = json.JSONEncoder().encode  # the same text as json.dumps(fields)


def _plain_stream(logger: logging.Logger) -> logging.StreamHandler[TextIO] | None:
    """Return the handler whose stream a line may be written to directly (None: records are needed)."""
    handlers = logger.handlers
    if len(handlers) != 1 or logger.propagate or logger.filters or logger.disabled:
        return None
    handler = handlers[0]
    if type(handler) is not logging.StreamHandler or handler.filters:
        return None
    formatter = handler.formatter
    if formatter is None or type(formatter) is not logging.Formatter or formatter._fmt != "%(message)s":
        return None
    return handler


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
        level = logging.WARNING if status >= 500 else logging.INFO
        if not _log.isEnabledFor(level):
            return
        fields = self.fields
        fields["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        fields["status"] = status
        fields["outcome"] = outcome
        fields["ms"] = round(ms, 2)
        message = _encode(fields)
        handler = _plain_stream(_log)
        if handler is not None:
            handler.acquire()
            try:
                stream = handler.stream
                stream.write(message + handler.terminator)
                stream.flush()
            except Exception:  # noqa: BLE001 - as StreamHandler.emit: a failed write is reported, not raised
                handler.handleError(_log.makeRecord(LOGGER, level, __file__, 0, message, (), None))
            finally:
                handler.release()
            return
        _log.handle(_log.makeRecord(LOGGER, level, __file__, 0, message, (), None))
