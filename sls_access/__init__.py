"""sls-access: AWS credentials for an org / app / stage, as the Serverless Dashboard gives them.

The dashboard link for the target wins (STS AssumeRole into its access role, fail
closed), then ``AWS_<STAGE>_*``/``AWS_*`` environment variables, then AWS profiles.
Importing this package has no side effect: plugins are discovered by the first
:class:`Resolver` that resolves.
"""

from __future__ import annotations

from sls_access._api import boto3_session, credentials, explain, register, session
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
    "credentials",
    "explain",
    "register",
    "session",
]

# Shown, documented and pickled under the path users import them from (as httpx does).
for _type in (AccessRoleError, ConfigError, Credentials, DashboardError, NoCredentialsError, Options, Outcome,
              Resolution, Resolver, SlsAccessError, Target, TrailEntry):
    _type.__module__ = __name__
del _type
