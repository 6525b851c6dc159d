"""The Resolver: options, the plugin-built chain, the cache, and the public entry points."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Unpack

from sls_access._cache import CredentialCache
from sls_access._credentials import Credentials
from sls_access._options import OptionArgs, Options
from sls_access._resolution import Resolution
from sls_access._target import Target
from sls_access.errors import ConfigError, NoCredentialsError, SlsAccessError

if TYPE_CHECKING:
    import boto3
    import botocore.session

    from sls_access._botocore import SlsAccessProvider
    from sls_access._chain import Chain
    from sls_access.plugin._hooks import PluginHooks
    from sls_access.plugin._manager import PluginInfo

__all__ = ["Resolver"]


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
    def from_options(cls, options: Options, *, cache_size: int = 4096) -> Resolver:
        """Return a resolver for already merged :class:`~sls_access.Options`."""
        resolver = cls.__new__(cls)
        resolver._setup(options, cache_size)
        return resolver

    def _setup(self, options: Options, cache_size: int) -> None:
        self.options = options
        self._cache = CredentialCache(self.options.clock, maxsize=cache_size)
        self._lock = threading.Lock()
        self._chain: Chain | None = None
        self._hooks: PluginHooks | None = None

    def __repr__(self) -> str:
        return f"Resolver({self.options!r})"

    @property
    def chain(self) -> Chain:
        """The chain of sources, built from the plugins on first use."""
        chain = self._chain
        if chain is None:
            with self._lock:
                if self._chain is None:
                    # Imported here, not at the top: plugin discovery (pluggy, entry points)
                    # costs import time that a process which never resolves should not pay.
                    from sls_access._chain import Chain, order_sources  # noqa: PLC0415
                    from sls_access.plugin._hooks import PluginHooks  # noqa: PLC0415

                    # The hooks (and the plugin manager in them) live as long as the chain:
                    # the dashboard source enters roles and observers are told through them.
                    hooks = PluginHooks.build(self.options.disable_plugins)
                    sources = hooks.sources(self.options)
                    self._chain = Chain(order_sources(sources, self.options.sources), self.options.clock)
                    self._hooks = hooks
                chain = self._chain
        return chain

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        """The built-in and installed plugins this resolver loaded (or failed to load)."""
        _ = self.chain
        assert self._hooks is not None  # noqa: S101 - set with the chain
        return self._hooks.plugins

    def _resolve(self, target: Target) -> Resolution:
        resolution = self.chain.run(target)
        assert self._hooks is not None  # noqa: S101 - set with the chain
        if resolution.error is not None:
            if isinstance(resolution.error, SlsAccessError):
                resolution.error.resolution = resolution
                self._hooks.resolution_failed(resolution, resolution.error)
            raise resolution.error
        if resolution.credentials is None:
            error = NoCredentialsError(resolution)
            self._hooks.resolution_failed(resolution, error)
            raise error
        self._hooks.resolution_succeeded(resolution)
        return resolution

    def resolution(self, org: str, app: str, stage: str, *, region: str | None = None) -> Resolution:
        """Return the (cached) resolution for a target; raise when no source applies or one fails."""
        key = (org, app, stage, region)
        return self._cache.get(key, lambda: self._resolve(Target(org=org, app=app, stage=stage,
                                                                  region=region)))

    def credentials(self, org: str, app: str, stage: str, *, region: str | None = None) -> Credentials:
        """Return credentials for the target: cached while fresh, refreshed ahead of expiry."""
        creds = self.resolution(org, app, stage, region=region).credentials
        assert creds is not None  # noqa: S101 - resolution() raises instead
        return creds

    def explain(self, org: str, app: str, stage: str, *, region: str | None = None) -> Resolution:
        """Return how the target resolves, with the trail; failures are in it, not raised.

        Only a bad target name raises (:class:`~sls_access.ConfigError`).
        """
        target = Target(org=org, app=app, stage=stage, region=region)
        try:
            return self.resolution(org, app, stage, region=region)
        except SlsAccessError as exc:
            if exc.resolution is not None:
                return exc.resolution
            return self.chain.run(target)

    def _provider(self, org: str, app: str, stage: str, region: str | None,
                  initial: Credentials | None) -> SlsAccessProvider:
        def fetch() -> Credentials | None:
            try:
                return self.credentials(org, app, stage, region=region)
            except NoCredentialsError:
                return None

        # Imported here: botocore comes with the first resolution (the built-in sources use
        # it) or registration, not with `import sls_access`.
        from sls_access._botocore import SlsAccessProvider  # noqa: PLC0415

        return SlsAccessProvider(fetch, self.options.clock, initial=initial)

    def session(self, org: str, app: str, stage: str, *, region: str | None = None) -> botocore.session.Session:
        """Return a botocore session whose credentials come from this resolver, refreshed.

        Resolves now, so that a bad target or a failing link raises here. The session's
        region is *region*, else the linked deployment profile's, else botocore's own.
        """
        resolution = self.resolution(org, app, stage, region=region)
        # A new session per call (sessions are not thread-safe), sharing botocore's parsed
        # data and built-in handlers with the others; its credential chain is this
        # resolver alone.
        from sls_access._sessions import new_session  # noqa: PLC0415 - botocore on first use

        session = new_session(self._provider(org, app, stage, region, resolution.credentials))
        if resolution.region:
            session.set_config_variable("region", resolution.region)
        return session

    def boto3_session(self, org: str, app: str, stage: str, *, region: str | None = None) -> boto3.Session:
        """Return a boto3 session around :meth:`session` (needs the ``boto3`` extra)."""
        try:
            import boto3  # noqa: PLC0415 - an optional extra
        except ImportError:
            raise ConfigError("boto3 is not installed: pip install 'sls-access[boto3]'") from None
        return boto3.Session(botocore_session=self.session(org, app, stage, region=region))

    def register(self, botocore_session: botocore.session.Session, org: str, app: str, stage: str,
                 *, region: str | None = None) -> None:
        """Put this resolver in *botocore_session*'s credential chain, before ``env``.

        Register before the session first loads credentials. The target is validated now.
        """
        Target(org=org, app=app, stage=stage, region=region)
        provider = self._provider(org, app, stage, region, None)
        resolver = botocore_session.get_component("credential_provider")
        resolver.remove(provider.METHOD)
        resolver.insert_before("env", provider)
