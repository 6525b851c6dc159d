"""sls-access: AWS credentials for an org / app / stage, as the Serverless Dashboard gives them.

The dashboard link for the target wins (STS AssumeRole into its access role, fail
closed), then ``AWS_<STAGE>_*``/``AWS_*`` environment variables, then AWS profiles.
Importing this package has no side effect: plugins are discovered by the first
:class:`Resolver` that resolves.

The public names, listed once in :mod:`sls_access._public`, load on first use
(PEP 562): ``import sls_access`` imports only that table, so that a module of the
package that must start fast (the ``credential-process`` client of the agent,
:mod:`sls_access.agent.client`) does not pay for attrs, cachetools and the value
classes. The first access to any public name loads them all.
"""

from __future__ import annotations

from sls_access._public import PUBLIC

# Not typing.TYPE_CHECKING: importing typing alone costs the thin client milliseconds.
# Type checkers treat any constant of this name as true. The names re-exported for them;
# tests/test_architecture.py holds this list equal to the table, PUBLIC.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from sls_access._api import boto3_session as boto3_session
    from sls_access._api import client as client
    from sls_access._api import credentials as credentials
    from sls_access._api import explain as explain
    from sls_access._api import register as register
    from sls_access._api import registry as registry
    from sls_access._api import session as session
    from sls_access._credentials import Credentials as Credentials
    from sls_access._options import OptionArgs as OptionArgs
    from sls_access._options import Options as Options
    from sls_access._resolution import Outcome as Outcome
    from sls_access._resolution import Resolution as Resolution
    from sls_access._resolution import TrailEntry as TrailEntry
    from sls_access._resolver import Resolver as Resolver
    from sls_access._target import Target as Target
    from sls_access._version import __version__ as __version__
    from sls_access.errors import AccessRoleError as AccessRoleError
    from sls_access.errors import ConfigError as ConfigError
    from sls_access.errors import DashboardError as DashboardError
    from sls_access.errors import NoCredentialsError as NoCredentialsError
    from sls_access.errors import SlsAccessError as SlsAccessError

__all__ = [*PUBLIC]  # noqa: PLE0604 - the one table of public names (sls_access/_public.py)


def __getattr__(name: str) -> object:
    """Load the public names on first access (all at once), then return *name*."""
    if name not in PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sls_access import _public  # noqa: PLC0415 - the point: loaded on first use

    return _public.load(globals())[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *PUBLIC})
