"""The dashboard service's state: the :class:`~sls_access.service.store.base.Store` seam and its backends.

:func:`open_store` (in :mod:`sls_access.service.store.url`) opens the store a ``--state``
URL names. Nothing is imported here: the SQL backend needs the ``server`` extra.
"""
