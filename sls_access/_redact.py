"""Keep secrets out of log records, including botocore's own DEBUG records.

botocore's parser logs every response body at DEBUG, and an STS ``AssumeRole``
response carries a secret key and a session token. :func:`install` adds a filter to
the loggers that print bodies; it runs only for records that are emitted at all.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["REDACTED", "install", "redact"]

REDACTED = "<redacted>"

_HIDDEN_FIELDS = (
    r"SecretAccessKey|SessionToken|Token|secret_access_key|session_token|aws_secret_access_key|aws_session_token"
    r"|X-Amz-Security-Token|x-amz-security-token|WebIdentityToken|ExternalId"
)
# No closing tag needed: a truncated answer ends inside the value, and must be hidden too.
_XML = re.compile(rf"(<({_HIDDEN_FIELDS})>)[^<]*")
# JSON bodies, Python reprs of dicts and of header maps (values may be bytes: b'...').
_JSON = re.compile(rf"""(["']({_HIDDEN_FIELDS})["']\s*:\s*b?["'])[^"']*""")
# Presigned URLs and form bodies carry tokens as parameters; SigV4 canonical requests as a header line.
_QUERY = re.compile(r"((?:x-amz-security-token|WebIdentityToken|ExternalId)[=:])[^&\s'\"]+", re.IGNORECASE)
_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.auth", "urllib3.connectionpool")
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    """Return *text* with the values of secret-bearing XML elements and JSON keys replaced."""
    text = _XML.sub(rf"\1{REDACTED}", text)
    text = _JSON.sub(rf"\1{REDACTED}", text)
    return _QUERY.sub(rf"\1{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A filter that rewrites a record's message when it carries secret-bearing fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drop it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Add the redacting filter to botocore's body-logging loggers (once per process)."""
    global _installed  # noqa: PLW0603 - a process-wide, idempotent switch
    if _installed:
        return
    with _lock:
        if not _installed:
            for name in _BODY_LOGGERS:
                logging.getLogger(name).addFilter(RedactingFilter())
            _installed = True
