"""The audit log: one JSON line per request on the ``sls_access.audit`` logger, no secret.

Fields: ``time``, ``client``, ``method``, ``path`` (without the query, cut at 256
characters), ``status``, ``outcome``, ``org``, ``app``, ``stage``, ``region``, ``key``
(the access key's name), ``key_id`` (its public id), ``role`` (the role ARN vended or
tried), ``aws_key_id`` (the temporary AWS access key id vended, ``ASIA…``: what CloudTrail
records as the event's ``accessKeyId``), ``session`` (the role session's name) and
``source_identity`` (its ``SourceIdentity``, None for a shared session), and ``ms``. Never
a key, a secret key or a session token: the Authorization header is not read into the
record at all, and an AWS access key id is not a secret.

Cheaply, since a line is written per request: the JSON comes from one prepared encoder
(the C encoder ``json.dumps`` itself uses, built once instead of per call), and the
fields from ``org`` to ``source_identity``, the same for every request of a key for a
target while its AWS keys last, are encoded once per distinct set of values
(:func:`_line`: the same text as ``json.dumps``); the time's text up to the second is
made once a second, and the record goes to the logger's
handlers through ``Logger.handle`` (no caller-frame lookup). When the logger's only
handler is the plain stream handler that ``sls-access serve`` sets up (message only, no
filter), the line is written directly, under the handler's lock: when the stream has a
file descriptor (``serve``'s stdout), as one ``os.write`` of the encoded line to it (what
the stream had buffered is flushed first, once), which is what the stream's write and
flush came to without the text and buffer layers in between; else to the stream, flushed.
Either way the line has left the process when :meth:`Audit.emit` returns, before the
answer is written. Any other setup (a handler or filter a user adds) gets one
``LogRecord`` per request, as before.
"""

from __future__ import annotations

import codecs
import json
import json.encoder
import logging
import math
import os
import select
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOGGER", "Audit"]

LOGGER = "sls_access.audit"
_log = logging.getLogger(LOGGER)


def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _prepared_encoder() -> Callable[[dict[str, Any]], str]:
    """Return a function giving the same text as ``json.dumps(fields)`` for a flat dict of JSON values."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: json.dumps' own path
        return json.JSONEncoder().encode
    # The arguments json.dumps passes, but no circular-reference markers: the fields are flat.
    chunks = make(None, _not_json, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)

    def encode(fields: dict[str, Any]) -> str:
        return "".join(chunks(fields, 0))

    return encode


_encode = _prepared_encoder()
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii  # the C function when there is one

_HEAD = ("time", "client", "method", "path", "status", "outcome")
_MIDDLE = ("org", "app", "stage", "region", "key", "key_id", "role", "aws_key_id", "session", "source_identity")
_ORDER = (*_HEAD, *_MIDDLE, "ms")
_MAX_MIDDLES = 4096
_middles: dict[tuple[object, ...], str] = {}
"""The JSON of the fields from ``org`` to ``source_identity`` (the same for every request of one key
for one target while its AWS keys last), by their values; only for values that are str or None."""


def _line(fields: dict[str, Any]) -> str:
    """Return ``json.dumps(fields)`` for an audit record's fields, the part that repeats made once.

    The fields from ``org`` to ``source_identity`` are encoded once per distinct set of
    values (kept while they are strings or None, which no other JSON value equals; at most
    :data:`_MAX_MIDDLES`, then forgotten at once); the rest is formatted per line. Fields
    of another order or type than the service sets go through the encoder whole.
    """
    status, ms = fields["status"], fields["ms"]
    if tuple(fields) != _ORDER or type(status) is not int or type(ms) is not float or not math.isfinite(ms):
        return _encode(fields)
    values = (fields["org"], fields["app"], fields["stage"], fields["region"], fields["key"], fields["key_id"],
              fields["role"], fields["aws_key_id"], fields["session"], fields["source_identity"])
    middle = _middles.get(values)
    if middle is None:
        middle = _encode(dict(zip(_MIDDLE, values, strict=True)))[1:-1]
        if all(value is None or type(value) is str for value in values):
            if len(_middles) >= _MAX_MIDDLES:
                _middles.clear()
            _middles[values] = middle
    try:
        head = (f'{{"time": {_string(fields["time"])}, "client": {_string(fields["client"])}, '
                f'"method": {_string(fields["method"])}, "path": {_string(fields["path"])}, "status": {status}, '
                f'"outcome": {_string(fields["outcome"])}, ')
    except TypeError:  # not a str: the encoder's own answer (or its error)
        return _encode(fields)
    return f'{head}{middle}, "ms": {ms!r}}}'


_second: tuple[int, str] = (-1, "")  # the last whole second seen, and its text; replaced whole


def _iso_ms(ns: int) -> str:
    """Return *ns* (since the epoch) as ``datetime.isoformat(timespec="milliseconds")`` writes it in UTC."""
    global _second  # noqa: PLW0603 - one cache, swapped in one assignment (threads see old or new)
    seconds, rest = divmod(ns, 1_000_000_000)
    last = _second
    if last[0] != seconds:
        last = _second = (seconds, datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{last[1]}.{rest // 1_000_000:03d}+00:00"


_direct: tuple[object, int | None] = (None, None)  # a stream, and its descriptor (None: it has none)


def _descriptor(stream: TextIO) -> int | None:
    """Return the file descriptor to write *stream*'s lines to directly, or None to write to *stream*."""
    global _direct  # noqa: PLW0603 - one pair, swapped in one assignment
    known = _direct
    if known[0] is stream:
        # A closed stream's descriptor may be another file's now: it gets the stream's own error.
        return None if stream.closed else known[1]
    try:
        fd: int | None = stream.fileno()
    except (AttributeError, OSError, ValueError):  # no descriptor (io.UnsupportedOperation), or closed
        fd = None
    else:
        if not _writes_as_utf8(stream):
            fd = None  # the stream's own encoding and line ends, through the stream
        else:
            stream.flush()  # what it holds goes first; from now on its lines bypass its buffer
    _direct = (stream, fd)
    return fd


def _writes_as_utf8(stream: TextIO) -> bool:
    """Whether *stream* writes a line as its UTF-8 bytes, its newline as one byte (as a direct write does)."""
    encoding = getattr(stream, "encoding", None)
    try:
        name = codecs.lookup(encoding).name if isinstance(encoding, str) else None
    except LookupError:
        return False
    return name == "utf-8" and os.linesep == "\n"


def _write_all(fd: int, data: bytes) -> None:
    """Write all of *data* to *fd*: one ``write`` unless the system takes less.

    A descriptor made non-blocking (by whoever shares the pipe) that is full is waited
    for, as a blocking one would be: the line is never dropped or cut, and it is out
    before the answer (the audit contract).
    """
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


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
        fields["time"] = _iso_ms(time.time_ns())
        fields["status"] = status
        fields["outcome"] = outcome
        fields["ms"] = round(ms, 2)
        message = _line(fields)
        handler = _plain_stream(_log)
        if handler is not None:
            handler.acquire()
            try:
                stream = handler.stream
                fd = _descriptor(stream)
                if fd is None:
                    stream.write(message + handler.terminator)
                    stream.flush()
                else:
                    _write_all(fd, (message + handler.terminator).encode())
            except Exception:  # noqa: BLE001 - as StreamHandler.emit: a failed write is reported, not raised
                handler.handleError(_log.makeRecord(LOGGER, level, __file__, 0, message, (), None))
            finally:
                handler.release()
            return
        _log.handle(_log.makeRecord(LOGGER, level, __file__, 0, message, (), None))
