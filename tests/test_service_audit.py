"""The audit line: one JSON message per request on ``sls_access.audit``, whatever handlers are attached;
serve's handler writes each line whole to stdout before the answer."""

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

import pytest

from sls_access.service._audit import LOGGER, Audit, AuditHandler, LineFormatter, lean_records, stamp
from sls_access.service.run import log_config


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


def test_serve_logs_the_audit_lines_through_the_audit_handler_alone_on_stdout() -> None:
    audit = log_config()["loggers"][LOGGER]
    assert audit["propagate"] is False
    assert [log_config()["handlers"][name] for name in audit["handlers"]] == [
        {"class": "sls_access.service._audit.AuditHandler", "formatter": "plain", "stream": "ext://sys.stdout"}
    ]


def test_the_serve_stream_handler_gets_the_same_line_as_json_dumps(audit_logger: logging.Logger) -> None:
    # The setup of `sls-access serve` (service/run.py log_config): stdout, message only.
    stream = io.StringIO()  # no descriptor: through the stream
    handler = AuditHandler(stream)
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


def test_the_time_is_utc_iso_format_to_the_millisecond(audit_logger: logging.Logger) -> None:
    handler = Records()
    audit_logger.addHandler(handler)
    vended().emit(200, "vended", 0.5)
    written = json.loads(handler.records[0].getMessage())["time"]
    assert written.endswith("+00:00")
    assert datetime.fromisoformat(written).isoformat(timespec="milliseconds") == written


def test_an_emitted_line_has_the_time_of_its_emission(audit_logger: logging.Logger) -> None:
    handler = Records()
    audit_logger.addHandler(handler)
    before = datetime.now(UTC).replace(microsecond=0)
    vended().emit(200, "vended", 0.5)
    after = datetime.now(UTC)
    written = datetime.fromisoformat(json.loads(handler.records[0].getMessage())["time"])
    assert before <= written <= after


@pytest.mark.parametrize(
    "now_ns",
    [
        0,
        1_000_500_000,
        1_789_292_360_472_999_620,  # 0.38 µs before a millisecond: datetime cuts, it does not round
        1_700_000_000_999_999_999,  # the last nanosecond of a second
        1_767_225_599_999_999_500,  # ... and of a year
        4_102_444_800_123_456_789,
    ],
)
def test_the_time_is_what_datetime_now_writes_at_that_instant(now_ns: int) -> None:
    # datetime.now reads the clock in nanoseconds and cuts them to the microsecond; isoformat cuts
    # those to the millisecond. The stamp formats the date and time of day once a second: its
    # text must still be datetime's own.
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=now_ns // 1000)
    assert stamp(now_ns) == instant.isoformat(timespec="milliseconds")


def test_the_time_of_consecutive_seconds_is_not_the_first_seconds() -> None:
    assert [stamp(ns) for ns in (100_250_000_000, 101_500_000_000, 100_750_000_000)] == [
        "1970-01-01T00:01:40.250+00:00",
        "1970-01-01T00:01:41.500+00:00",
        "1970-01-01T00:01:40.750+00:00",
    ]


def test_serves_formatter_writes_the_message_alone_and_an_exception_after_it() -> None:
    formatter = LineFormatter()
    plain = logging.LogRecord(LOGGER, logging.INFO, __file__, 1, '{"status": 200}', (), None)
    assert formatter.format(plain) == '{"status": 200}'
    boom = RuntimeError("boom")
    failed = logging.LogRecord(
        "sls_access.service", logging.ERROR, __file__, 1, "failed", (), (RuntimeError, boom, None)
    )
    lines = formatter.format(failed).splitlines()
    assert lines[0] == "failed"
    assert lines[-1] == "RuntimeError: boom"
    assert log_config()["formatters"]["plain"] == {"()": "sls_access.service._audit.LineFormatter"}


def test_a_server_process_records_no_thread_or_process_names() -> None:
    lean_records()
    record = logging.getLogger(LOGGER).makeRecord(LOGGER, logging.INFO, __file__, 1, "line", (), None)
    assert (record.threadName, record.processName, record.process) == (None, None, None)


def test_the_worker_factory_makes_its_records_lean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sls_access.service.app import from_env  # noqa: PLC0415

    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text('[orgs.acme.deployment_profiles.p]\nrole_arn = "arn:aws:iam::111111111111:role/r"\n')
    (tmp_path / "dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))
    monkeypatch.delenv("SLS_ACCESS_STATE", raising=False)
    logging.logThreads = True  # put back after the test (conftest)
    from_env()
    assert logging.logThreads is False


class CountingText(io.TextIOWrapper):
    """A real file's text stream that counts the writes made through it."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def file_handler(logger: logging.Logger, path: Path) -> CountingText:
    stream = CountingText(path.open("wb"), encoding="utf-8")
    handler = AuditHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [handler]  # alone, as serve sets it up (pytest's log capture adds its own)
    return stream


def test_a_line_goes_to_the_streams_descriptor_in_one_write_not_through_its_buffer(
    audit_logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "audit.log"
    stream = file_handler(audit_logger, path)
    audit = vended()
    audit.emit(200, "vended", 0.5)
    assert path.read_text() == json.dumps(audit.fields) + "\n"  # there before any flush of the stream
    assert stream.writes == 0
    stream.close()


def test_what_the_stream_held_before_is_written_before_the_first_line(
    audit_logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "audit.log"
    stream = file_handler(audit_logger, path)
    stream.write("earlier\n")
    vended().emit(200, "vended", 0.5)
    vended().emit(401, "unauthorized", 0.5)
    lines = path.read_text().splitlines()
    assert lines[0] == "earlier"
    assert [json.loads(line)["status"] for line in lines[1:]] == [200, 401]
    stream.close()


def test_a_closed_streams_old_descriptor_gets_no_line(
    audit_logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    handler = AuditHandler(stream)
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


def test_a_stream_that_does_not_write_utf8_gets_its_lines_through_itself(
    audit_logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "audit.log"
    stream = CountingText(path.open("wb"), encoding="utf-16")
    handler = AuditHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_logger.handlers = [handler]
    audit = vended()
    audit.emit(200, "vended", 0.5)
    stream.close()
    assert stream.writes == 1
    assert path.read_bytes().decode("utf-16") == json.dumps(audit.fields) + "\n"
