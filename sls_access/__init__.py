"""sls-access: AWS credentials for an org / app / stage, as the Serverless Dashboard gives them.

The dashboard link for the target wins (STS AssumeRole into its access role, fail
closed), then ``AWS_<STAGE>_*``/``AWS_*`` environment variables, then AWS profiles.
Importing this package has no side effect: plugins are discovered by the first
:class:`Resolver` that resolves.

The public names load on first use (PEP 562): ``import sls_access`` alone imports
nothing else, so that a module of the package that must start fast (the
``credential-process`` client of the agent, :mod:`sls_access.agent.client`) does not
pay for attrs, cachetools and the value classes. The first access to any public name
loads them all.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing alone costs the thin client milliseconds.
# Type checkers treat any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from sls_access._api import boto3_session, client, credentials, explain, register, session
    from sls_access._credentials import Credentials
    from sls_access._options import OptionArgs, Options
    from sls_access._resolution import Outcome, Resolution, TrailEntry
    from sls_access._resolver import Resolver
    from sls_access._target import Target
    from sls_access._version import __version__
    from sls_access.errors import (
        AccessRoleError,
        ConfigError,
        DashboardError,
        NoCredentialsError,
        SlsAccessError,
    )

__all__ = [
    "AccessRoleError",
    "ConfigError",
    "Credentials",
    "DashboardError",
    "NoCredentialsError",
    "OptionArgs",
    "Options",
    "Outcome",
    "Resolution",
    "Resolver",
    "SlsAccessError",
    "Target",
    "TrailEntry",
    "__version__",
    "boto3_session",
    "client",
    "credentials",
    "explain",
    "register",
    "session",
]


def __getattr__(name: str) -> object:
    """Load the public names on first access (all at once), then return *name*."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sls_access import _public  # noqa: PLC0415 - the point: loaded on first use

    return _public.load(globals())[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
