"""Check a new access role for real: enter it as sls-access will, and ask STS who that is.

``AssumeRole`` with the external ID, the profile's duration and the role session the
installed plugins give (for a ``per_key`` profile: the caller's ``SourceIdentity`` and a
per-key session's tags, so that ``sts:TagSession`` is checked too); then
``GetCallerIdentity`` with those keys must name the role in the expected account. Anything
else is a :class:`~sls_access.link.LinkError` (fail closed: the dashboard file is not changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs
import botocore.exceptions
import botocore.session

from sls_access._role_session import RoleSession
from sls_access._sts import client_config, describe_failure
from sls_access._values import account_of_arn
from sls_access.link import LinkError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["Verified", "verify_role"]


@attrs.frozen(kw_only=True)
class Verified:
    """What STS said about the role's session: the account and the assumed-role ARN."""

    account: str
    arn: str


def _failed(what: str, exc: BaseException) -> LinkError:
    failure = describe_failure(exc)
    return LinkError(f"{what}: {failure.message if failure else type(exc).__name__}")


def verify_role(session: botocore.session.Session, *, role_arn: str, external_id: str, account_id: str,
                duration_seconds: int, role_session: RoleSession, region: str,
                tags: Mapping[str, str] | None = None) -> Verified:
    """Enter *role_arn* with *session*'s credentials and check the identity STS reports.

    *tags* are session tags to send (none transitive), as a per-key session does.

    :raises LinkError: STS refused, or the identity is not the role in *account_id*.
    """
    role_name = role_arn.rsplit("/", 1)[-1]
    config = client_config()
    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": role_session.name,
                              "ExternalId": external_id, "DurationSeconds": duration_seconds}
    if role_session.source_identity is not None:
        kwargs["SourceIdentity"] = role_session.source_identity
    if tags:
        kwargs["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    try:
        client = cast("STSClient", session.create_client("sts", region_name=region, config=config))
        answer = client.assume_role(**kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _failed(f"the new role {role_arn} could not be assumed", exc) from None
    keys = answer["Credentials"]
    try:
        as_role = cast("STSClient", session.create_client(
            "sts", region_name=region, config=config, aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"], aws_session_token=keys["SessionToken"]))
        identity = as_role.get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _failed(f"GetCallerIdentity with the new role {role_arn}'s keys failed", exc) from None
    account, arn = str(identity.get("Account", "")), str(identity.get("Arn", ""))
    if account != account_id or account_of_arn(arn) != account_id:
        raise LinkError(f"STS says the new role's keys are in account {account or '?'} ({arn or 'no ARN'}), "
                        f"not in {account_id}: refused, the dashboard file is unchanged")
    if f":assumed-role/{role_name}/" not in arn:
        raise LinkError(f"STS says the new role's keys belong to {arn}, not to role {role_name}: refused, "
                        "the dashboard file is unchanged")
    return Verified(account=account, arn=arn)
