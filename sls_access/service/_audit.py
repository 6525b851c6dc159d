"""The audit log: one JSON line per request on the ``sls_access.audit`` logger, no secret.

Fields: ``time``, ``client``, ``method``, ``path`` (without the query, cut at 256
characters), ``status``, ``outcome``, ``org``, ``app``, ``stage``, ``region``, ``key``
(the access key's name), ``key_id`` (its public id), ``role`` (the role ARN vended or
tried), ``aws_key_id`` (the temporary AWS access key id vended, ``ASIA…``: what CloudTrail
records as the event's ``accessKeyId``), ``session`` (the role session's name) and
``source_identity`` (its ``SourceIdentity``, None for a shared session), and ``ms``. Never
a key, a secret key or a session token: the Authorization header is not read into the
record at all, and an AWS access key id is not a secret.

The line is ``json.dumps`` of the fields, logged as one record; whatever handlers are
attached get it. ``sls-access serve`` attaches :class:`AuditHandler` (stdout, message
only), which has written the line when :meth:`Audit.emit` returns: before the answer is
written.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import os
import select
import time
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOGGER", "Audit", "AuditHandler", "LineFormatter", "lean_records"]

LOGGER = "sls_access.audit"
_log = logging.getLogger(LOGGER)
_encode = json.JSONEncoder(check_circular=False).encode
"""``json.dumps`` of a record's fields (flat: no cycle to look for)."""


_second: tuple[int, str] = (0, "")
"""The last whole second stamped, and its text up to the seconds."""


def stamp(now_ns: int | None = None) -> str:
    """Return *now_ns* (nanoseconds since the epoch; default: now) as the audit line's ``time``.

    Exactly what ``datetime.now(UTC).isoformat(timespec="milliseconds")`` returns at that
    instant: ``datetime.now`` reads the same clock in nanoseconds and cuts them to the
    microsecond, ``isoformat`` cuts those to the millisecond. The date and time of day are
    formatted once a second, not per request.
    """
    global _second  # noqa: PLW0603 - one tuple, replaced whole: threads see an old or a new one
    whole, rest = divmod(time.time_ns() if now_ns is None else now_ns, 1_000_000_000)
    second, text = _second
    if second != whole or not text:
        text = datetime.fromtimestamp(whole, UTC).isoformat(timespec="seconds").removesuffix("+00:00")
        _second = (whole, text)
    return f"{text}.{rest // 1_000_000:03d}+00:00"


def _writes_as_utf8(stream: TextIO) -> bool:
    """Whether *stream* writes a line as its UTF-8 bytes, its newline as one byte (as a direct write does)."""
    encoding = getattr(stream, "encoding", None)
    try:
        name = codecs.lookup(encoding).name if isinstance(encoding, str) else None
    except LookupError:
        return False
    return name == "utf-8" and os.linesep == "\n"


def _write_all(fd: int, data: bytes) -> None:
    """Write all of *data* to *fd*, waiting while a non-blocking *fd* is full.

    The line is never dropped or cut, and it is out before the answer (the audit contract),
    even when whoever shares the pipe (a log shipper) made it non-blocking.
    """
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


def lean_records() -> None:
    """Stop :class:`logging.LogRecord` looking up the thread's and the process's names, for a server process.

    Neither the audit line nor ``serve``'s stderr format shows them, and each lookup costs
    about a third of a microsecond a record (the logging HOWTO's "Optimization" section).
    Called by the worker factory (:func:`~sls_access.service.app.from_env`), not on import.
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class LineFormatter(logging.Formatter):
    """The message alone (the audit line), with any exception's text on the lines after it.

    What ``logging.Formatter("%(message)s")`` writes, without its per-record look for
    ``%(asctime)`` in the format.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's message; a record with exception or stack information as the base class does."""
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        return record.getMessage()


def _descriptor(stream: TextIO) -> int | None:
    """Return *stream*'s file descriptor when a line may go to it directly (UTF-8), else None."""
    if not _writes_as_utf8(stream):
        return None
    try:
        return stream.fileno()
    except (AttributeError, OSError):  # no descriptor (io.UnsupportedOperation is an OSError)
        return None


class AuditHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes each line whole and at once, even to a full non-blocking pipe.

    A line goes, formatted, to the stream's file descriptor in one ``write`` (what the
    stream held is flushed first), and a full non-blocking descriptor is waited for
    rather than the line dropped, as :class:`logging.StreamHandler` would on its
    ``BlockingIOError``. A stream without a descriptor, or with another encoding than
    UTF-8, gets the line through itself, flushed. ``serve``'s logging setup
    (:func:`~sls_access.service.run.log_config`) attaches it to stdout.
    """

    _checked: tuple[object, int | None] = (None, None)
    """The stream last checked, and its descriptor when it writes as UTF-8 (else None)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write *record*'s line (see the class docstring); report a failure as :class:`logging.StreamHandler` does."""
        try:
            line = self.format(record) + self.terminator
            stream = self.stream
            checked, fd = self._checked
            if checked is not stream:
                fd = _descriptor(stream)
                # A plain text file keeps its descriptor for life (closed, it refuses the flush
                # below first); any other stream may reopen its file: asked again for each line.
                self._checked = (stream, fd) if type(stream) is io.TextIOWrapper else (None, None)
            if fd is None:
                stream.write(line)
                self.flush()
                return
            stream.flush()  # what it holds goes first
            _write_all(fd, line.encode())
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - reported by the handler, as logging does
            self.handleError(record)


class Audit:
    """The audit record of one request, filled in as the request is handled."""

    __slots__ = ("fields",)

    def __init__(self, client: str, method: str, path: str) -> None:
        self.fields: dict[str, Any] = {
            "time": None,
            "client": client,
            "method": method[:16],
            "path": path[:256],
            "status": None,
            "outcome": None,
            "org": None,
            "app": None,
            "stage": None,
            "region": None,
            "key": None,
            "key_id": None,
            "role": None,
            "aws_key_id": None,
            "session": None,
            "source_identity": None,
            "ms": None,
        }

    def emit(self, status: int, outcome: str, ms: float) -> None:
        """Log the line (at INFO; failures of the server itself at WARNING)."""
        level = logging.WARNING if status >= 500 else logging.INFO
        if not _log.isEnabledFor(level):
            return
        fields = self.fields
        fields["time"] = stamp()
        fields["status"] = status
        fields["outcome"] = outcome
        fields["ms"] = round(ms, 2)
        # Logger.handle, not Logger.log: the same record and handlers, without the caller-frame lookup
        # (findCaller), which would only name this line.
        _log.handle(_log.makeRecord(LOGGER, level, __file__, 0, _encode(fields), (), None))
