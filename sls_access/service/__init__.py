"""The self-hosted dashboard service: access-role keys over HTTP for any AWS SDK.

Install with ``pip install '.[server]'`` in the sls-access checkout and run
``sls-access serve --dashboard FILE``: the one launch path, with the audit log, the proxy trust and the connection
limits (:mod:`sls_access.service.run`). :func:`~sls_access.service.app.create_app` returns
the bare ASGI app, for tests. Keys are managed with ``sls-access keys`` or
:class:`~sls_access.service.keys.KeyStore`. Nothing is imported from here by ``import
sls_access``.
"""

from __future__ import annotations

from sls_access.service.app import App, create_app, from_env
from sls_access.service.keys import AccessKey, KeyStore, default_keys_path

__all__ = ["AccessKey", "App", "KeyStore", "create_app", "default_keys_path", "from_env"]
