"""The things sls-access is compared with, each set up to assume the benchmark's role.

- botocore: a role profile (``role_arn`` + ``credential_source = Environment``) in
  ``AWS_CONFIG_FILE``, which is what users do today; and botocore's own
  ``RefreshableCredentials`` where a figure needs an injected clock.
- aws-assume-role-lib: ``assume_role(parent_session, RoleArn)``.
- boto3-refresh-session: ``RefreshableSession(assume_role_kwargs=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import aws_assume_role_lib
import boto3
import boto3_refresh_session
import botocore.config
import botocore.credentials
import botocore.session
from _setup import ROLE_ARN

__all__ = [
    "aarl_session",
    "botocore_profile_session",
    "botocore_refreshable",
    "brs_session",
    "frozen_key",
]


def botocore_profile_session() -> botocore.session.Session:
    return botocore.session.Session(profile="role")


def aarl_session(parent: boto3.Session | None = None, cache: dict[str, Any] | None = None) -> boto3.Session:
    return aws_assume_role_lib.assume_role(parent or boto3.Session(), ROLE_ARN, RoleSessionName="bench", cache=cache)


def brs_session() -> boto3.Session:
    return boto3_refresh_session.RefreshableSession(
        assume_role_kwargs={"RoleArn": ROLE_ARN, "RoleSessionName": "bench"}
    )


def frozen_key(session: botocore.session.Session | boto3.Session) -> str:
    """Load the session's credentials (the AssumeRole happens here) and return the key id."""
    creds = session.get_credentials()
    assert creds is not None
    return str(creds.get_frozen_credentials().access_key)


def botocore_refreshable(
    clock: Callable[[], datetime], config: botocore.config.Config | None = None
) -> botocore.credentials.RefreshableCredentials:
    """botocore's RefreshableCredentials refreshed by AssumeRole, on an injected clock.

    This is the refresh logic behind every anchor (the role profile, aws-assume-role-lib
    and boto3-refresh-session all hand botocore a RefreshableCredentials with the default
    15/10-minute windows); only botocore lets the clock be injected (``time_fetcher``).
    """
    client = botocore.session.Session().create_client("sts", config=config)

    def refresh() -> dict[str, Any]:
        creds = client.assume_role(RoleArn=ROLE_ARN, RoleSessionName="bench")["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    return botocore.credentials.DeferredRefreshableCredentials(refresh, "assume-role", time_fetcher=clock)
