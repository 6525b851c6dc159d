"""The table of the public names of ``sls_access``: what drives ``__all__``, lazy loading and ``__module__``.

:data:`PUBLIC` maps each public name to the module that defines it. From it,

- the package's ``__all__`` is its keys, and its module ``__getattr__`` (PEP 562) loads
  them on first access (:func:`load`);
- each defining module calls :func:`publish` at its end, so that its public classes and
  functions show, document and pickle under ``sls_access`` (as httpx sets them), however
  they are first imported;
- a test holds the package's ``TYPE_CHECKING`` imports (for type checkers) equal to it.

This module imports nothing at import time: ``import sls_access`` reads it, and the
thin ``credential-process`` client must start fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the thin client
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PUBLIC", "load", "publish"]

PUBLIC: dict[str, str] = {
    "AccessRoleError": "sls_access.errors",
    "ConfigError": "sls_access.errors",
    "Credentials": "sls_access._credentials",
    "DashboardError": "sls_access.errors",
    "NoCredentialsError": "sls_access.errors",
    "OptionArgs": "sls_access._options",
    "Options": "sls_access._options",
    "Outcome": "sls_access._resolution",
    "Resolution": "sls_access._resolution",
    "Resolver": "sls_access._resolver",
    "SlsAccessError": "sls_access.errors",
    "Target": "sls_access._target",
    "TrailEntry": "sls_access._resolution",
    "__version__": "sls_access._version",
    "boto3_session": "sls_access._api",
    "client": "sls_access._api",
    "credentials": "sls_access._api",
    "explain": "sls_access._api",
    "register": "sls_access._api",
    "registry": "sls_access._api",
    "session": "sls_access._api",
}
"""Every public name of ``sls_access``, with the module that defines it."""

PACKAGE = "sls_access"


def publish(namespace: dict[str, Any]) -> None:
    """Show the public classes and functions defined in *namespace* (a module's globals) under ``sls_access``.

    Called at the end of each module :data:`PUBLIC` names. Values that are neither a
    class nor a function (the version string, the registry) keep what they are.
    """
    module = namespace["__name__"]
    for name, where in PUBLIC.items():
        if where == module:
            value = namespace[name]
            if isinstance(value, type) or callable(value):
                value.__module__ = PACKAGE


def load(namespace: dict[str, Any]) -> dict[str, Any]:
    """Import every public name into *namespace* (the package's globals) and return it."""
    import importlib  # noqa: PLC0415 - not at import: see the module docstring

    for name, where in PUBLIC.items():
        namespace[name] = getattr(importlib.import_module(where), name)
    return namespace
