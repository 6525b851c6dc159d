"""The hook: enter the deployment profile's access role with AssumeRoleWithWebIdentity.

Registered through the ``sls_access`` entry point ``oidc``; ``disable_plugins="oidc"``
switches it off for a resolver.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import botocore
import botocore.config
import botocore.exceptions
import botocore.parsers
import botocore.session

from sls_access import Credentials, Target
from sls_access.dashboard import DeploymentProfile
from sls_access.plugin import RoleSession, hookimpl, redact_botocore_logs
from sls_access_oidc.tokens import OidcError, TokenSource, find_token_source

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["assume_role_with_web_identity", "sls_access_enter_role"]

log = logging.getLogger("sls_access_oidc")

DEFAULT_REGION = "us-east-1"
# Unsigned: AssumeRoleWithWebIdentity needs no AWS keys, and botocore must not go looking
# for some (its own web-identity provider would trip over AWS_WEB_IDENTITY_TOKEN_FILE).
CLIENT_CONFIG = botocore.config.Config(
    signature_version=botocore.UNSIGNED,
    connect_timeout=5,
    read_timeout=10,
    retries={"max_attempts": 3, "mode": "standard"},
    user_agent_extra="sls-access-oidc",
)
_MAX_MESSAGE = 300

def assume_role_with_web_identity(
    target: Target, profile: DeploymentProfile, session: RoleSession, tokens: TokenSource
) -> Credentials:
    """Call STS ``AssumeRoleWithWebIdentity`` for *profile*'s role with a fresh token.

    The STS client is unsigned (the call needs no AWS keys) and made for this call (then
    closed), so that it sees the environment (endpoint, region) as it is now.
    """
    redact_botocore_logs()  # botocore logs the token it sends and the keys it gets at DEBUG
    token = tokens.fetch()
    if session.source_identity is not None:
        log.warning("SourceIdentity %r is not sent: AssumeRoleWithWebIdentity takes it from the "
                    "token's claims", session.source_identity)
    botocore_session = botocore.session.Session()
    region = target.region or profile.region or botocore_session.get_config_variable("region") or DEFAULT_REGION
    client = cast("STSClient", botocore_session.create_client("sts", region_name=region, config=CLIENT_CONFIG))
    kwargs: dict[str, Any] = {
        "RoleArn": profile.role_arn,
        "RoleSessionName": session.name,
        "WebIdentityToken": token,
        "DurationSeconds": profile.duration_seconds,
    }
    try:
        response = client.assume_role_with_web_identity(**kwargs)
    except botocore.exceptions.ClientError as exc:
        info = exc.response.get("Error", {})
        code = info.get("Code")
        message = str(info.get("Message", ""))[:_MAX_MESSAGE]
        detail = f"STS said {code}: {message}" if message else f"STS said {code}"
        raise OidcError(f"{detail} (token from {tokens.description})", code=code) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise OidcError(f"STS could not be reached: {type(exc).__name__}: {str(exc)[:_MAX_MESSAGE]}") from None
    except botocore.parsers.ResponseParserError:
        raise OidcError("STS returned a malformed response (not parseable XML)") from None
    finally:
        client.close()   # one client per call: release its connection now, not at GC
    try:
        creds = response["Credentials"]
        return Credentials(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expiration=creds["Expiration"],
            region=target.region or profile.region,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OidcError(f"STS returned a malformed AssumeRoleWithWebIdentity response ({exc})") from None


@hookimpl
def sls_access_enter_role(target: Target, profile: DeploymentProfile, session: RoleSession) -> Credentials | None:
    """Enter the role with the CI job's OIDC token; step aside (None) when there is no token source.

    The profile's ``external_id`` is not sent (``AssumeRoleWithWebIdentity`` has none):
    the role's trust policy checks the token's claims instead.
    """
    tokens = find_token_source()
    if tokens is None:
        return None
    log.debug("%s: entering %s with AssumeRoleWithWebIdentity, token from %s", target, profile.role_arn,
              tokens.description)
    return assume_role_with_web_identity(target, profile, session, tokens)
