"""The module functions (``sls_access.session(...)`` and the rest) and the resolvers behind them."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Unpack

from cachetools import LRUCache

from sls_access._credentials import Credentials
from sls_access._options import ENV_VARS, OptionArgs, Options
from sls_access._resolution import Resolution
from sls_access._resolver import Resolver

if TYPE_CHECKING:
    import boto3
    import botocore.session

__all__ = ["ResolverRegistry", "boto3_session", "credentials", "explain", "register", "registry", "session"]


class ResolverRegistry:
    """The module functions' resolvers: one per distinct set of effective options.

    So `credentials("acme", "shop", "prod")` called twice hits the same cache. Merging
    options over the environment on every call would cost more than a warm read, so the
    resolver is also remembered by the raw keywords plus the raw option variables.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_options: LRUCache[Options, Resolver] = LRUCache(maxsize=16)
        self._by_call: dict[object, Resolver] = {}

    def get(self, options: OptionArgs) -> Resolver:
        environ = os.environ
        call: object | None = (tuple(options.items()), tuple(environ.get(var) for var in ENV_VARS))
        try:
            resolver = self._by_call.get(call)
        except TypeError:  # an unhashable keyword value (a list of sources): no shortcut
            call = None
            resolver = None
        if resolver is not None:
            return resolver
        effective = Options.from_env(**options)
        with self._lock:
            resolver = self._by_options.get(effective)
            if resolver is None:
                resolver = self._by_options[effective] = Resolver.from_options(effective)
            if call is not None:
                if len(self._by_call) >= 64:
                    self._by_call.clear()
                self._by_call[call] = resolver
            return resolver

    def clear(self) -> None:
        """Forget every resolver (and so every cached credential) of the module functions."""
        with self._lock:
            self._by_options.clear()
            self._by_call.clear()


registry = ResolverRegistry()
"""The module functions' resolvers (``registry.clear()`` forgets them and their caches)."""


def _default(options: OptionArgs) -> Resolver:
    return registry.get(options)


def credentials(
    org: str, app: str, stage: str, *, region: str | None = None, **options: Unpack[OptionArgs]
) -> Credentials:
    """Return AWS credentials for the target (see :meth:`Resolver.credentials`)."""
    return _default(options).credentials(org, app, stage, region=region)


def explain(org: str, app: str, stage: str, *, region: str | None = None, offline: bool = False,
            **options: Unpack[OptionArgs]) -> Resolution:
    """Return how the target resolves, with the trail; *offline*: the plan (see :meth:`Resolver.explain`)."""
    return _default(options).explain(org, app, stage, region=region, offline=offline)


def session(org: str, app: str, stage: str, *, region: str | None = None,
            **options: Unpack[OptionArgs]) -> botocore.session.Session:
    """Return a botocore session with refreshing credentials (see :meth:`Resolver.session`)."""
    return _default(options).session(org, app, stage, region=region)


def boto3_session(org: str, app: str, stage: str, *, region: str | None = None,
                  **options: Unpack[OptionArgs]) -> boto3.Session:
    """Return a boto3 session with refreshing credentials (needs the ``boto3`` extra)."""
    return _default(options).boto3_session(org, app, stage, region=region)


def register(botocore_session: botocore.session.Session, org: str, app: str, stage: str, *,
             region: str | None = None, **options: Unpack[OptionArgs]) -> None:
    """Insert sls-access into *botocore_session*'s credential chain, before ``env``."""
    _default(options).register(botocore_session, org, app, stage, region=region)
