"""The dashboard service's admin side: the JSON admin API, "Connect AWS", and what they edit.

- :mod:`.ops`: the operations both front ends share, over the service's
  :class:`~sls_access.service.store.base.Store` (keys, profiles, links, audit), with the
  TOML to commit when a dashboard file is the source of truth;
- :mod:`.records`: short-lived records (UI sessions, pending connects);
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
