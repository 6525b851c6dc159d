"""A session's configuration store whose default chains are built when first asked for.

botocore's ``Session.__init__`` builds a provider chain for each of its ~50 default
configuration names (``create_botocore_default_config_mapping``: instance variable, then
environment, then config file, then default), about three quarters of the cost of a new
session, while a client reads a dozen of them. :class:`LazyConfigStore` is botocore's
``ConfigValueStore`` that builds a default name's chain the first time the name is asked
for, the same chain botocore would have built (``ConfigChainFactory.create_config_chain``
from the same tables, bound to the same session). A chain reads the environment, the
session's instance variables and its config file when it is asked for a value, not when it
is built, so building it later changes no answer.

Nothing is shared between stores: each holds its own chains, bound to its own session, and
its own overrides. A copy (botocore copies the store for each client) is lazy too and
shares the chains built so far, as botocore's copy does; two threads building one name at
once build two equal chains, and one of them is kept.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import botocore.configprovider
import botocore.session
from botocore.configprovider import (
    BaseProvider,
    ChainProvider,
    ConfigValueStore,
    ConstantProvider,
    EnvironmentProvider,
    InstanceVarProvider,
    ScopedConfigProvider,
    SectionConfigProvider,
)

__all__ = ["LazyConfigStore"]

# botocore's tables of default names: (config file name, env var names, default, conversion).
_Spec = tuple[Any, Any, Any, Any]


# The names whose value is a whole config file section (create_botocore_default_config_mapping).
_SECTIONS = frozenset({"s3", "proxies_config"})


def _section_specs(name: str) -> dict[str, _Spec]:
    specs: dict[str, _Spec] = (botocore.configprovider.DEFAULT_S3_CONFIG_VARS if name == "s3"
                               else botocore.configprovider.DEFAULT_PROXIES_CONFIG_VARS)
    return specs


def _chains(session: botocore.session.Session, specs: dict[str, _Spec]) -> dict[str, BaseProvider]:
    return {name: _chain(session, name, spec) for name, spec in specs.items()}


def _names(names: object) -> list[Any]:
    return names if isinstance(names, list) else [names]


def _chain(session: botocore.session.Session, name: str, spec: _Spec) -> ChainProvider:
    # What ConfigChainFactory(session=session).create_config_chain(instance_name=name, ...) builds from
    # the spec, without its per-call overhead: instance variable, env vars, config file names, default.
    config_names, env_names, default, conversion = spec
    providers: list[BaseProvider] = [InstanceVarProvider(instance_var=name, session=session)]
    if env_names is not None:
        providers.extend(EnvironmentProvider(name=env, env=os.environ) for env in _names(env_names))
    if config_names is not None:
        providers.extend(ScopedConfigProvider(config_var_name=key, session=session) for key in _names(config_names))
    if default is not None:
        providers.append(ConstantProvider(value=default))
    return ChainProvider(providers=providers, conversion_func=conversion)


# Names encoded as os.environ encodes them, filled on first use.
_encoded: dict[str, str | bytes] = {}


def _environ_value(name: str) -> str | None:
    # os.environ[name] when it is set (even empty), else None; as botocore's EnvironmentProvider
    # reads it. Asking os.environ for a missing name raises and catches a KeyError inside it
    # (about 0.8 us, and a client's configuration asks for about 100 missing names): CPython's
    # os.environ keeps its items, encoded, in the dict _data, which every change made through
    # os.environ updates, so it is read by the encoded name instead (sls_access/_api.py reads
    # the option variables the same way). Where there is no such dict, os.environ itself.
    environ = os.environ
    data = getattr(environ, "_data", None)
    if not isinstance(data, dict):
        return environ.get(name)
    key = _encoded.get(name)
    if key is None:
        key = _encoded[name] = environ.encodekey(name)
    raw = data.get(key)
    return None if raw is None else environ.decodevalue(raw)


def _value(session: botocore.session.Session, name: str, spec: _Spec) -> object:
    # What provide() of _chain(session, name, spec) returns, without building it, for a spec
    # with one config file name (a string) or none: the first value that is not None of the
    # instance variable, the env vars (present, even if empty), the config file name, then the
    # default; converted when one is found. tests/test_config_store.py holds this equal to
    # botocore's own chains, name by name.
    config_names, env_names, default, conversion = spec
    value = session.instance_variables().get(name)
    if value is None and env_names is not None:
        for env in _names(env_names):
            value = _environ_value(env)
            if value is not None:
                break
    if value is None and config_names is not None:
        value = session.get_scoped_config().get(config_names)
    if value is None:
        value = default
    if value is not None and conversion is not None:
        value = conversion(value)
    return value


def default_names() -> frozenset[str]:
    """Return the names botocore's default configuration mapping holds a chain for."""
    return frozenset(botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES) | _SECTIONS


class LazyConfigStore(ConfigValueStore):
    """botocore's ``ConfigValueStore`` for *session*, each default chain built on first use."""

    # botocore's private state, set by ConfigValueStore.__init__ (not in its type stubs):
    # the providers by name, and the values set with set_config_variable.
    _mapping: dict[str, BaseProvider]
    _overrides: dict[str, Any]

    def __init__(self, session: botocore.session.Session) -> None:
        super().__init__()
        self._session = session

    def _default_chain(self, name: str) -> BaseProvider | None:
        # botocore's _mapping is a plain dict of the chains; only names never set are built here.
        if name in _SECTIONS:
            return SectionConfigProvider(name, self._session, _chains(self._session, _section_specs(name)))
        spec = botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.get(name)
        return None if spec is None else _chain(self._session, name, spec)

    def _built(self, name: str) -> None:
        mapping = self._mapping
        if name not in mapping:
            chain = self._default_chain(name)
            if chain is not None:
                # setdefault: a chain another thread built first is kept (both are equal).
                mapping.setdefault(name, chain)

    def get_config_variable(self, logical_name: str) -> Any:  # noqa: ANN401 - as botocore's: any value
        """Return the value of *logical_name*, as botocore's store gives it.

        A default name whose chain is not built yet is answered as its chain would answer,
        without building it (botocore asks a client's store for about 25 names).
        """
        overrides = self._overrides
        if logical_name in overrides:
            return overrides[logical_name]
        mapping = self._mapping
        if logical_name in mapping:
            return mapping[logical_name].provide()
        spec = botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.get(logical_name)
        if spec is not None and logical_name not in _SECTIONS and (spec[0] is None or isinstance(spec[0], str)):
            return _value(self._session, logical_name, spec)
        self._built(logical_name)
        return super().get_config_variable(logical_name)

    def get_config_provider(self, logical_name: str) -> BaseProvider:
        """Return the provider of *logical_name*, as botocore's store gives it (its chain built now if need be).

        None when there is none or the name is overridden, as botocore's (its stubs say otherwise).
        """
        self._built(logical_name)
        return super().get_config_provider(logical_name)

    def __copy__(self) -> LazyConfigStore:
        store = LazyConfigStore(self._session)
        store._mapping.update(self._mapping)
        store._overrides.update(self._overrides)
        return store

    def __deepcopy__(self, memo: dict[Any, Any]) -> LazyConfigStore:
        # As botocore's: the chains built so far copied deeply (the others are built anew when
        # asked for), the overrides kept.
        store = LazyConfigStore(self._session)
        store._mapping.update(copy.deepcopy(self._mapping, memo))
        store._overrides.update(self._overrides)
        return store
