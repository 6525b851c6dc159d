"""The dashboard service's admin side: the JSON admin API, "Connect AWS", and what they edit.

- :mod:`.backend`: the small protocol the admin API and the web UI edit through (keys with
  a role, deployment profiles and links, audit events, short-lived records such as UI
  sessions and pending connects), and :class:`AdminError`;
- :mod:`.files`: that protocol over the files the service reads today (the key file and
  the dashboard file);
- :mod:`.ops`: the operations both front ends share (validation, the links as the
  resolver applies them);
- :mod:`.connect`: "Connect AWS" (the template, the command, the check);
- :mod:`.api`: the routes under ``/v1/admin/orgs/{org}/``.

Nothing here is imported by ``import sls_access`` or by the vending path.
"""

from __future__ import annotations

from sls_access.errors import SlsAccessError

__all__ = ["AdminError"]


class AdminError(SlsAccessError):
    """An admin request refused: the HTTP status, the error code and, for a bad value, the field.

    :ivar status: the HTTP status to answer.
    :ivar code: the ``code`` of the JSON error (``forbidden``, ``invalid``, ``managed_by_file``...).
    :ivar field: the field at fault, for ``invalid``.
    """

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        self.status = status
        self.code = code
        self.field = field
        super().__init__(message)
