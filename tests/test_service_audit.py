"""The audit line: one JSON message per request on ``sls_access.audit``, whatever handlers are attached."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sls_access.service import _audit
from sls_access.service._audit import LOGGER, Audit, _encode, _iso_ms


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def audit_logger() -> Iterator[logging.Logger]:
    """The audit logger with no handler and no propagation; restored afterwards."""
    logger = logging.getLogger(LOGGER)
    saved = (logger.handlers[:], logger.filters[:], logger.propagate, logger.level)
    logger.handlers, logger.filters, logger.propagate = [], [], False
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers, logger.filters, logger.propagate = saved[0], saved[1], saved[2]
    logger.setLevel(saved[3])


def vended() -> Audit:
    audit = Audit("198.51.100.7", "GET", '/v1/orgs/acme/apps/sh"op/stages/prod/credentials')
    audit.fields.update(org="acme", app='sh"op', stage="prod", key="ci", key_id="k1")
    return audit


def test_a_handler_a_user_attaches_gets_one_record_with_the_json_line(audit_logger: logging.Logger) -> None:
    handler = Records()
    audit_logger.addHandler(handler)
    audit = vended()
    audit.emit(200, "vended", 1.234)
    (record,) = handler.records
    assert record.name == LOGGER
    assert record.levelno == logging.INFO
    assert record.getMessage() == json.dumps(audit.fields)
    assert json.loads(record.getMessage())["app"] == 'sh"op'


def test_a_server_failure_is_logged_at_warning(audit_logger: logging.Logger) -> None:
    handler = Records()
    audit_logger.addHandler(handler)
    vended().emit(500, "internal_error", 1.0)
    assert [record.levelno for record in handler.records] == [logging.WARNING]


def test_the_serve_stream_handler_gets_the_same_line_as_json_dumps(audit_logger: logging.Logger) -> None:
    # The setup of `sls-access serve` (server/run.py log_config): a plain stream, message only.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_logger.handlers = [handler]  # alone, as serve sets it up (pytest's log capture adds its own)
    audit = vended()
    audit.emit(200, "vended", 0.5)
    audit.emit(401, "unauthorized", 0.25)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1] == json.dumps(audit.fields)
    assert [json.loads(line)["status"] for line in lines] == [200, 401]


def test_a_filter_on_the_logger_still_applies(audit_logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_logger.addHandler(handler)
    audit_logger.addFilter(lambda record: "unauthorized" not in record.getMessage())
    vended().emit(401, "unauthorized", 0.25)
    vended().emit(200, "vended", 0.25)
    assert [json.loads(line)["outcome"] for line in stream.getvalue().splitlines()] == ["vended"]


def test_a_formatter_with_more_than_the_message_is_used(audit_logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("audit %(levelname)s %(message)s"))
    audit_logger.addHandler(handler)
    audit = vended()
    audit.emit(200, "vended", 0.5)
    assert stream.getvalue() == f"audit INFO {json.dumps(audit.fields)}\n"


def test_nothing_is_written_below_the_loggers_level(audit_logger: logging.Logger) -> None:
    handler = Records()
    audit_logger.addHandler(handler)
    audit_logger.setLevel(logging.WARNING)
    vended().emit(200, "vended", 0.5)
    assert handler.records == []


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=4_102_444_800 * 10**9), min_size=1, max_size=20))
def test_the_time_is_utc_iso_format_to_the_millisecond(instants: list[int]) -> None:
    # In any order, so that the text cached for the last second is both reused and replaced.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for ns in instants:
        expected = (epoch + timedelta(microseconds=ns // 1000)).isoformat(timespec="milliseconds")
        assert _iso_ms(ns) == expected


def test_an_emitted_line_has_the_time_of_its_emission(audit_logger: logging.Logger) -> None:
    handler = Records()
    audit_logger.addHandler(handler)
    before = datetime.now(UTC).replace(microsecond=0)
    vended().emit(200, "vended", 0.5)
    after = datetime.now(UTC)
    written = datetime.fromisoformat(json.loads(handler.records[0].getMessage())["time"])
    assert before <= written <= after


_VALUES = st.one_of(st.none(), st.text(), st.integers(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=300)
@given(st.dictionaries(st.text(), _VALUES, max_size=20))
def test_the_prepared_encoder_writes_what_json_dumps_writes(fields: dict[str, Any]) -> None:
    assert _encode(fields) == json.dumps(fields)


def test_a_value_json_cannot_encode_raises_as_json_dumps_does() -> None:
    with pytest.raises(TypeError, match="Object of type datetime is not JSON serializable"):
        _encode({"time": datetime.now(UTC)})


# Values that equal each other but are written differently (1, True, 1.0), so that a line
# made from a remembered part of another line's values would show.
_ALIKE = st.sampled_from([None, "1", 1, True, 1.0, 0, False, 0.0, -0.0, "", "a", "é", float("nan")])
_FIELD_VALUES = st.one_of(_ALIKE, _VALUES)


@settings(max_examples=300)
@given(st.lists(st.fixed_dictionaries(dict.fromkeys(_audit._ORDER, _FIELD_VALUES)), min_size=1, max_size=6))
def test_a_line_is_what_json_dumps_writes_of_its_fields(records: list[dict[str, Any]]) -> None:
    # Several lines in turn: the parts remembered from one are reused, or not, by the next.
    for fields in [*records, *records]:
        assert _audit._line(fields) == json.dumps(fields)


def test_a_served_line_is_what_json_dumps_writes_of_its_fields() -> None:
    audit = vended()
    audit.fields.update(time="2026-11-28T09:17:12.479+00:00", status=200, outcome="vended", ms=0.25)
    for _ in range(2):  # the first makes the part that repeats, the second reuses it
        assert _audit._line(audit.fields) == json.dumps(audit.fields)


@pytest.mark.parametrize("values", [(1, True, 1.0), (0, False, 0.0, -0.0), (True, 1)])
def test_values_that_are_equal_but_written_differently_are_each_written_as_their_own(values: tuple[Any, ...]) -> None:
    audit = vended()
    audit.fields.update(time="t", status=200, outcome="vended", ms=0.25)
    for value in [*values, *values]:
        audit.fields["region"] = value
        assert _audit._line(audit.fields) == json.dumps(audit.fields)


@settings(max_examples=200)
@given(st.lists(st.tuples(*[_ALIKE] * len(_audit._MIDDLE)), min_size=2, max_size=8))
def test_lines_of_alike_values_are_what_json_dumps_writes(middles: list[tuple[Any, ...]]) -> None:
    for middle in middles:
        fields = {"time": "t", "client": "c", "method": "GET", "path": "/", "status": 200, "outcome": "vended",
                  **dict(zip(_audit._MIDDLE, middle, strict=True)), "ms": 0.25}
        assert _audit._line(fields) == json.dumps(fields)


def test_fields_in_another_order_are_written_in_that_order() -> None:
    audit = vended()
    audit.fields.update(time="t", status=200, outcome="vended", ms=0.25)
    reordered = dict(reversed(audit.fields.items()))
    assert _audit._line(reordered) == json.dumps(reordered)


def test_the_remembered_parts_are_bounded() -> None:
    audit = vended()
    audit.fields.update(time="t", status=200, outcome="vended", ms=0.25)
    for n in range(_audit._MAX_MIDDLES + 10):
        audit.fields["aws_key_id"] = f"ASIA{n:016d}"
        assert _audit._line(audit.fields) == json.dumps(audit.fields)
    assert 0 < len(_audit._middles) <= _audit._MAX_MIDDLES


class CountingText(io.TextIOWrapper):
    """A real file's text stream that counts the writes made through it."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def file_handler(logger: logging.Logger, path: Path) -> CountingText:
    stream = CountingText(path.open("wb"), encoding="utf-8")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [handler]  # alone, as serve sets it up (pytest's log capture adds its own)
    return stream


def test_a_line_goes_to_the_streams_descriptor_in_one_write_not_through_its_buffer(
        audit_logger: logging.Logger, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    stream = file_handler(audit_logger, path)
    audit = vended()
    audit.emit(200, "vended", 0.5)
    assert path.read_text() == json.dumps(audit.fields) + "\n"  # there before any flush of the stream
    assert stream.writes == 0
    stream.close()


def test_what_the_stream_held_before_is_written_before_the_first_line(audit_logger: logging.Logger,
                                                                       tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    stream = file_handler(audit_logger, path)
    stream.write("earlier\n")
    vended().emit(200, "vended", 0.5)
    vended().emit(401, "unauthorized", 0.5)
    lines = path.read_text().splitlines()
    assert lines[0] == "earlier"
    assert [json.loads(line)["status"] for line in lines[1:]] == [200, 401]
    stream.close()


def test_a_closed_streams_old_descriptor_gets_no_line(audit_logger: logging.Logger, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    stream = file_handler(audit_logger, tmp_path / "audit.log")
    vended().emit(200, "vended", 0.5)
    fd = stream.fileno()
    stream.close()
    with (tmp_path / "other").open("wb") as other:  # most likely given the descriptor just freed
        vended().emit(200, "vended", 0.5)
        other.flush()
        reused = other.fileno() == fd
    assert (tmp_path / "other").read_bytes() == b""
    assert "closed file" in capsys.readouterr().err  # the handler's error report, as StreamHandler's
    assert reused


def test_a_full_non_blocking_pipe_is_waited_for_and_no_line_is_lost_or_cut(audit_logger: logging.Logger) -> None:
    # Whoever shares serve's stdout pipe (a log shipper) may make it non-blocking.
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    filler = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            filler += os.write(write_end, b"x" * 4096)
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_logger.handlers = [handler]
    audits = [vended() for _ in range(3)]
    for number, audit in enumerate(audits):
        audit.fields["path"] = f"/{number}" + "p" * 3000  # lines longer than a pipe's atomic write
    def write() -> None:
        for audit in audits:
            audit.emit(200, "vended", 0.5)

    writer = threading.Thread(target=write)
    writer.start()
    received = b""
    with open(read_end, "rb", buffering=0) as reader:
        while writer.is_alive() or select.select([reader], [], [], 0)[0]:
            if select.select([reader], [], [], 0.1)[0]:
                received += reader.read(65536)
        writer.join()
        stream.close()
        received += reader.read()
    lines = received[filler:].decode().splitlines()
    assert [json.loads(line)["path"] for line in lines] == [audit.fields["path"] for audit in audits]


def test_a_stream_that_does_not_write_utf8_gets_its_lines_through_itself(audit_logger: logging.Logger,
                                                                         tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    stream = CountingText(path.open("wb"), encoding="utf-16")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_logger.handlers = [handler]
    audit = vended()
    audit.emit(200, "vended", 0.5)
    stream.close()
    assert stream.writes == 1
    assert path.read_bytes().decode("utf-16") == json.dumps(audit.fields) + "\n"
