"""The hook: enter the deployment profile's access role with AssumeRoleWithWebIdentity.

Registered through the ``sls_access`` entry point ``oidc``; ``disable_plugins="oidc"``
switches it off for a resolver.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import botocore
import botocore.config
import botocore.session

from sls_access.plugin import (
    Credentials,
    DeploymentProfile,
    Options,
    RoleSession,
    Target,
    hookimpl,
    redact_botocore_logs,
)
from sls_access.plugin.sts import DEFAULT_REGION, StsFailure, client_config, credentials_from_response, describe_failure
from sls_access_oidc.tokens import OidcError, TokenSource, find_token_source

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["assume_role_with_web_identity", "sls_access_enter_role"]

log = logging.getLogger("sls_access_oidc")


def _config(base: botocore.config.Config | None) -> botocore.config.Config:
    """Return the resolver's STS client configuration (sls-access's bounds), unsigned.

    Unsigned: AssumeRoleWithWebIdentity needs no AWS keys, and botocore must not go
    looking for some (its own web-identity provider would trip over AWS_WEB_IDENTITY_TOKEN_FILE).
    """
    unsigned = botocore.config.Config(signature_version=botocore.UNSIGNED, user_agent_extra="sls-access-oidc")
    return (client_config() if base is None else base).merge(unsigned)


def assume_role_with_web_identity(
    target: Target,
    deployment_profile: DeploymentProfile,
    session: RoleSession,
    tokens: TokenSource,
    config: botocore.config.Config | None = None,
) -> Credentials:
    """Call STS ``AssumeRoleWithWebIdentity`` for the deployment profile's role with a fresh token.

    The STS client is unsigned (the call needs no AWS keys) and made for this call (then
    closed), so that it sees the environment (endpoint, region) as it is now. *config*
    is the resolver's STS client configuration (``options.sts_config``), if it has one.
    """
    redact_botocore_logs()  # botocore logs the token it sends and the keys it gets at DEBUG
    token = tokens.fetch()
    if session.source_identity is not None:
        log.warning(
            "SourceIdentity %r is not sent: AssumeRoleWithWebIdentity takes it from the token's claims",
            session.source_identity,
        )
    botocore_session = botocore.session.Session()
    region = (
        target.region or deployment_profile.region or botocore_session.get_config_variable("region") or DEFAULT_REGION
    )
    client = cast("STSClient", botocore_session.create_client("sts", region_name=region, config=_config(config)))
    kwargs: dict[str, Any] = {
        "RoleArn": deployment_profile.role_arn,
        "RoleSessionName": session.name,
        "WebIdentityToken": token,
        "DurationSeconds": deployment_profile.duration_seconds,
    }
    try:
        response = client.assume_role_with_web_identity(**kwargs)
        return credentials_from_response(
            response,
            region=target.region or deployment_profile.region,
            account_id=deployment_profile.account_id,
            role_arn=deployment_profile.role_arn,
        )
    except Exception as exc:
        failure = exc if isinstance(exc, StsFailure) else describe_failure(exc)
        if failure is None:
            raise
        raise OidcError(f"{failure.message} (token from {tokens.description})", code=failure.code) from None
    finally:
        client.close()  # one client per call: release its connection now, not at GC


@hookimpl
def sls_access_enter_role(
    target: Target, deployment_profile: DeploymentProfile, session: RoleSession, options: Options
) -> Credentials | None:
    """Enter the role with the CI job's OIDC token; step aside (None) when there is no token source.

    The profile's ``external_id`` is not sent (``AssumeRoleWithWebIdentity`` has none):
    the role's trust policy checks the token's claims instead.
    """
    tokens = find_token_source()
    if tokens is None:
        return None
    log.debug(
        "%s: entering %s with AssumeRoleWithWebIdentity, token from %s",
        target,
        deployment_profile.role_arn,
        tokens.description,
    )
    return assume_role_with_web_identity(target, deployment_profile, session, tokens, options.sts_config)
