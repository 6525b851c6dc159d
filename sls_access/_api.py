"""The module functions (``sls_access.session(...)`` and the rest) and the resolvers behind them."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Unpack

from cachetools import LRUCache

from sls_access._credentials import Credentials
from sls_access._options import ENV_VARS, OptionArgs, Options
from sls_access._public import publish
from sls_access._resolution import Resolution
from sls_access._resolver import Resolver

if TYPE_CHECKING:
    import boto3
    import botocore.client
    import botocore.config
    import botocore.session

__all__ = ["ResolverRegistry", "boto3_session", "client", "credentials", "explain", "register", "registry", "session"]


def _option_variables() -> tuple[str | None, ...]:
    """Return the option variables (:data:`ENV_VARS`) as they are now, read through ``os.environ``."""
    return tuple(map(os.environ.get, ENV_VARS))


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
        self._last: tuple[dict[str, object], tuple[object, ...], Resolver] | None = None

    def get(self, options: OptionArgs) -> Resolver:
        variables = _option_variables()
        # The last call's resolver, when this call is the same (the usual case): two
        # comparisons, no hashing. Replaced as one tuple, so threads see a whole one.
        last = self._last
        if last is not None and last[1] == variables and last[0] == options:
            return last[2]
        call: object | None = (tuple(options.items()), variables) if options else variables
        try:
            resolver = self._by_call.get(call)
        except TypeError:  # an unhashable keyword value (a list of sources): no shortcut
            call = None
            resolver = None
        if resolver is not None:
            self._last = (dict(options), variables, resolver)
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
            self._last = None


registry = ResolverRegistry()
"""The module functions' resolvers (``registry.clear()`` forgets them and their caches)."""


def _default(options: OptionArgs) -> Resolver:
    return registry.get(options)


def credentials(
    org: str, app: str, stage: str, *, region: str | None = None, **options: Unpack[OptionArgs]
) -> Credentials:
    """Return AWS credentials for the target (see :meth:`Resolver.credentials`)."""
    return registry.get(options).credentials(org, app, stage, region=region)


def explain(
    org: str, app: str, stage: str, *, region: str | None = None, offline: bool = False, **options: Unpack[OptionArgs]
) -> Resolution:
    """Return how the target resolves, with the trail; *offline*: the plan (see :meth:`Resolver.explain`)."""
    return _default(options).explain(org, app, stage, region=region, offline=offline)


def session(
    org: str, app: str, stage: str, *, region: str | None = None, **options: Unpack[OptionArgs]
) -> botocore.session.Session:
    """Return a botocore session with refreshing credentials (see :meth:`Resolver.session`)."""
    return _default(options).session(org, app, stage, region=region)


def client(
    org: str,
    app: str,
    stage: str,
    service: str,
    *,
    region: str | None = None,
    config: botocore.config.Config | None = None,
    **options: Unpack[OptionArgs],
) -> botocore.client.BaseClient:
    """Return a cached, thread-safe botocore client for *service* (see :meth:`Resolver.client`)."""
    return _default(options).client(org, app, stage, service, region=region, config=config)


def boto3_session(
    org: str, app: str, stage: str, *, region: str | None = None, **options: Unpack[OptionArgs]
) -> boto3.Session:
    """Return a boto3 session with refreshing credentials (needs the ``boto3`` extra)."""
    return _default(options).boto3_session(org, app, stage, region=region)


def register(
    botocore_session: botocore.session.Session,
    org: str,
    app: str,
    stage: str,
    *,
    region: str | None = None,
    **options: Unpack[OptionArgs],
) -> None:
    """Insert sls-access into *botocore_session*'s credential chain, before ``env``."""
    _default(options).register(botocore_session, org, app, stage, region=region)


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
