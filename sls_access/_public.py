"""The public names of ``sls_access``, loaded on first access (see the package docstring)."""

from __future__ import annotations

from typing import Any

__all__ = ["load"]


def load(namespace: dict[str, Any]) -> dict[str, Any]:
    """Import every public name into *namespace* (the package's globals) and return it.

    Each public class sets its own ``__module__`` to ``sls_access`` where it is defined,
    so that it shows its public path whichever module imports it first.
    """
    from sls_access._api import boto3_session, client, credentials, explain, register, session  # noqa: PLC0415
    from sls_access._credentials import Credentials  # noqa: PLC0415
    from sls_access._options import OptionArgs, Options  # noqa: PLC0415
    from sls_access._resolution import Outcome, Resolution, TrailEntry  # noqa: PLC0415
    from sls_access._resolver import Resolver  # noqa: PLC0415
    from sls_access._target import Target  # noqa: PLC0415
    from sls_access._version import __version__  # noqa: PLC0415
    from sls_access.errors import (  # noqa: PLC0415
        AccessRoleError,
        ConfigError,
        DashboardError,
        NoCredentialsError,
        SlsAccessError,
    )

    namespace.update({
        "AccessRoleError": AccessRoleError, "ConfigError": ConfigError, "Credentials": Credentials,
        "DashboardError": DashboardError, "NoCredentialsError": NoCredentialsError, "OptionArgs": OptionArgs,
        "Options": Options, "Outcome": Outcome, "Resolution": Resolution, "Resolver": Resolver,
        "SlsAccessError": SlsAccessError, "Target": Target, "TrailEntry": TrailEntry, "__version__": __version__,
        "boto3_session": boto3_session, "client": client, "credentials": credentials, "explain": explain,
        "register": register,
        "session": session,
    })
    return namespace
