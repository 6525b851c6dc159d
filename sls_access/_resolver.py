"""The Resolver: options, the plugin-built chain, the cache, and the public entry points."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Self, Unpack

import attrs

from sls_access._cache import ExpiringCache
from sls_access._credentials import Credentials
from sls_access._options import OptionArgs, Options
from sls_access._public import publish
from sls_access._resolution import Resolution
from sls_access._target import Target
from sls_access.errors import ConfigError, NoCredentialsError, SlsAccessError

if TYPE_CHECKING:
    import boto3
    import botocore.client
    import botocore.config
    import botocore.session

    from sls_access._chain import Chain
    from sls_access._provider import SlsAccessProvider
    from sls_access.dashboard.locate import DashboardLocation
    from sls_access.plugin import PluginInfo
    from sls_access.plugin._plugins import Plugins

__all__ = ["MAX_CLIENTS", "Resolver"]

MAX_CLIENTS = 64
"""The most clients :meth:`Resolver.client` keeps per resolver (the least recently made go first)."""


class Resolver:
    """Resolves credentials for targets, with its own cache and its own set of plugins.

    Takes the options of :class:`~sls_access.Options` as keywords (each wins over its
    environment variable, read once, here). Plugins are discovered on first use, not
    at creation or import; ``disable_plugins`` applies to this resolver alone.
    Thread-safe: share one resolver across threads.
    """

    def __init__(self, *, cache_size: int = 4096, **options: Unpack[OptionArgs]) -> None:
        self._setup(Options.from_env(**options), cache_size)

    @classmethod
    def from_options(cls, options: Options, *, cache_size: int = 4096) -> Self:
        """Return a resolver for already merged :class:`~sls_access.Options`."""
        resolver = cls.__new__(cls)
        cls._setup(resolver, options, cache_size)
        return resolver

    def _setup(self, options: Options, cache_size: int) -> None:
        self.options = options
        self._cache: ExpiringCache[Resolution] = ExpiringCache(self.options.clock, _expiry, maxsize=cache_size)
        # The warm path reads the cache's index and clock directly (see credentials()).
        self._fresh = self._cache.index
        self._now = self._cache.now
        self._lock = threading.Lock()
        self._chain: Chain | None = None
        self._plugins: Plugins | None = None
        # Clients by (org, app, stage, service, region, config): read without a lock (one
        # dict read), made and evicted under _client_lock (sessions are not thread-safe).
        self._clients: dict[tuple[Any, ...], botocore.client.BaseClient] = {}
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Resolver({self.options!r})"

    def _loaded_plugins(self) -> Plugins:
        """Return the plugins facade, discovered on first use (not at creation or import)."""
        plugins = self._plugins
        if plugins is None:
            with self._lock:
                if self._plugins is None:
                    # Imported here, not at the top: plugin discovery (pluggy, entry points)
                    # costs import time that a process which never resolves should not pay.
                    from sls_access.plugin._plugins import Plugins  # noqa: PLC0415

                    self._plugins = Plugins.load(self.options.disable_plugins)
                plugins = self._plugins
        return plugins

    @property
    def chain(self) -> Chain:
        """The chain of sources, built from the plugins on first use.

        Fail closed: while a plugin fails to load, building the chain raises a
        :class:`~sls_access.ConfigError` naming it (so does every resolution).
        """
        chain = self._chain
        if chain is None:
            plugins = self._loaded_plugins()
            with self._lock:
                if self._chain is None:
                    from sls_access._chain import Chain, order_sources  # noqa: PLC0415
                    from sls_access.sources.dashboard import DashboardSource  # noqa: PLC0415

                    found = plugins.sources(self.options)
                    sources = order_sources(found, self.options.sources)
                    # The built-in dashboard source (wrapped as its plugin's): it guards protected
                    # stages when the chain does not start with it.
                    inner = [getattr(source, "source", source) for source in found]
                    dashboard = next((source for source in inner if isinstance(source, DashboardSource)), None)
                    self._chain = Chain(
                        sources,
                        self.options.clock,
                        require_role=self.options.require_role,
                        guard=None if dashboard is None else dashboard.refuse_local_keys,
                    )
                chain = self._chain
        return chain

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        """The built-in and installed plugins this resolver loaded (or failed to load)."""
        plugins = self._loaded_plugins()
        # Building the chain fills in which sources each plugin adds; when a plugin failed
        # to load or to give its sources, the plugins are listed with what is known.
        with contextlib.suppress(SlsAccessError):
            _ = self.chain
        return plugins.infos

    def _resolve(self, target: Target) -> Resolution:
        resolution = self.chain.run(target)
        plugins = self._loaded_plugins()
        if resolution.error is not None:
            error = resolution.error.with_resolution(resolution)
            plugins.failed(resolution, error)
            # A copy that carries the trail: raised from the original's cause, so that the
            # same error is not shown twice.
            raise error from resolution.error.__cause__
        if resolution.credentials is None:
            no_credentials = NoCredentialsError(resolution)
            plugins.failed(resolution, no_credentials)
            raise no_credentials
        plugins.succeeded(resolution)
        return resolution

    def resolution(self, org: str, app: str, stage: str, *, region: str | None = None) -> Resolution:
        """Return the (cached) resolution for a target; raise when no source applies or one fails."""
        key = (org, app, stage, region)
        entry = self._fresh.get(key)
        if entry is not None and self._now() < entry.fresh_until:
            return entry.value
        return self._cache.get(key, partial(self._resolve_target, org, app, stage, region))

    def _resolve_target(self, org: str, app: str, stage: str, region: str | None) -> Resolution:
        return self._resolve(Target(org=org, app=app, stage=stage, region=region))

    def credentials(self, org: str, app: str, stage: str, *, region: str | None = None) -> Credentials:
        """Return credentials for the target: cached while fresh, refreshed ahead of expiry."""
        # The warm path: one tuple, one dict read, one clock read; no closure, no lock.
        entry = self._fresh.get((org, app, stage, region))
        if entry is not None and self._now() < entry.fresh_until:
            return entry.value.credentials  # type: ignore[return-value] # stored resolutions have keys
        creds = self.resolution(org, app, stage, region=region).credentials
        assert creds is not None  # noqa: S101 - resolution() raises instead
        return creds

    def explain(
        self, org: str, app: str, stage: str, *, region: str | None = None, offline: bool = False
    ) -> Resolution:
        """Return how the target resolves, with the trail; failures are in it, not raised.

        Only a bad target name or a resolver that cannot build its chain (a plugin that
        failed to load, a bad ``sources`` option) raises :class:`~sls_access.ConfigError`.

        With *offline*, plan instead, with no network call (no STS, no dashboard service,
        no profile's keys loaded) and no cache: which dashboard, link, deployment profile
        and role would be used, and which sources would be tried (``Resolution.offline``).
        """
        target = Target(org=org, app=app, stage=stage, region=region)
        if offline:
            resolution = self.chain.plan(target)
        else:
            try:
                resolution = self.resolution(org, app, stage, region=region)
            except SlsAccessError as exc:
                if exc.resolution is None:  # not from the chain: the chain could not be built
                    raise
                resolution = exc.resolution
        dashboard = self.dashboard_in_use()
        return resolution if dashboard is None else attrs.evolve(resolution, dashboard=str(dashboard))

    def dashboard_in_use(self) -> DashboardLocation | None:
        """Return the dashboard this resolver's ``dashboard`` source reads, or None.

        None when there is none, the source is not in the chain or is skipped
        (``use_local_credentials``), or the dashboard cannot be located (an untrusted
        project file…: the trail's ``dashboard`` row says why).
        """
        if "dashboard" not in self.chain.names or self.options.use_local_credentials:
            return None
        from sls_access.dashboard.locate import locate_dashboard  # noqa: PLC0415 - as the dashboard source

        try:
            return locate_dashboard(self.options)
        except ConfigError:
            return None

    def _provider(
        self, org: str, app: str, stage: str, region: str | None, initial: Credentials | None
    ) -> SlsAccessProvider:
        def fetch() -> Credentials | None:
            try:
                return self.credentials(org, app, stage, region=region)
            except NoCredentialsError:
                return None

        # Imported here: botocore comes with the first resolution (the built-in sources use
        # it) or registration, not with `import sls_access`.
        from sls_access._provider import SlsAccessProvider  # noqa: PLC0415

        return SlsAccessProvider(fetch, self.options.clock, initial=initial)

    def session(self, org: str, app: str, stage: str, *, region: str | None = None) -> botocore.session.Session:
        """Return a botocore session whose credentials come from this resolver, refreshed.

        Resolves now, so that a bad target or a failing link raises here. The session's
        region is *region*, else the linked deployment profile's, else botocore's own.
        A new plain ``botocore.session.Session`` each call, which shares botocore's parsed
        data and built-in event handlers with the others (see :mod:`sls_access._botocore_session`).
        """
        resolution = self.resolution(org, app, stage, region=region)
        # A new session per call (sessions are not thread-safe), sharing botocore's parsed
        # data and built-in handlers with the others (nothing it can change); its
        # credential chain is this resolver alone.
        from sls_access._botocore_session import new_session  # noqa: PLC0415 - botocore on first use

        session = new_session(self._provider(org, app, stage, region, resolution.credentials))
        if resolution.region:
            session.set_config_variable("region", resolution.region)
        return session

    def client(
        self,
        org: str,
        app: str,
        stage: str,
        service: str,
        *,
        region: str | None = None,
        config: botocore.config.Config | None = None,
    ) -> botocore.client.BaseClient:
        """Return a botocore client for *service* whose credentials come from this resolver.

        One client per (target, service, region, config object), made on first use and
        returned again after (botocore clients are thread-safe: share it across threads).
        Its credentials refresh through this resolver like a :meth:`session`'s, so a
        client kept for hours signs with fresh keys, and fails closed when the target no
        longer resolves. At most :data:`MAX_CLIENTS` clients are kept per resolver, the
        least recently made dropped first. The first call for a key resolves now, so that
        a bad target or a failing link raises here.
        """
        key = (org, app, stage, service, region, config)
        client = self._clients.get(key)
        if client is not None:
            return client
        # Resolved before the lock (its cache has its own single flight), so that a slow or
        # hanging target does not hold up the first client of every other target.
        self.resolution(org, app, stage, region=region)
        with self._client_lock:
            client = self._clients.get(key)
            if client is None:
                # The session is used here, under the lock, and then only through the client.
                client = self.session(org, app, stage, region=region).create_client(
                    service, region_name=region, config=config
                )
                while len(self._clients) >= MAX_CLIENTS:
                    del self._clients[next(iter(self._clients))]
                self._clients[key] = client
            return client

    def boto3_session(self, org: str, app: str, stage: str, *, region: str | None = None) -> boto3.Session:
        """Return a boto3 session around :meth:`session` (needs the ``boto3`` extra)."""
        try:
            import boto3  # noqa: PLC0415 - an optional extra
        except ImportError:
            from sls_access._install import install_hint  # noqa: PLC0415 - only on this error

            raise ConfigError(f"boto3 is not installed: {install_hint('boto3')}") from None
        return boto3.Session(botocore_session=self.session(org, app, stage, region=region))

    def register(
        self, botocore_session: botocore.session.Session, org: str, app: str, stage: str, *, region: str | None = None
    ) -> None:
        """Put this resolver in *botocore_session*'s credential chain, before ``env``.

        Register before the session first loads credentials. The target is validated now.
        """
        Target(org=org, app=app, stage=stage, region=region)
        provider = self._provider(org, app, stage, region, None)
        resolver = botocore_session.get_component("credential_provider")
        resolver.remove(provider.METHOD)
        resolver.insert_before("env", provider)


def _expiry(resolution: Resolution) -> datetime | None:
    """When a resolution's keys expire (it always has keys: failures raise, not stored)."""
    credentials = resolution.credentials
    return None if credentials is None else credentials.expiration


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
