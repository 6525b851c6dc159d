"""Check a new access role for real: enter it as sls-access does, and ask STS who that is.

``AssumeRole`` with the external ID, the profile's duration and the role session the
installed plugins give (for a ``per_key`` profile: the caller's ``SourceIdentity`` and a
per-key session's tags, so that ``sts:TagSession`` is checked too); then
``GetCallerIdentity`` with those keys must name the role in the expected account. Anything
else is a :class:`~sls_access.link.LinkError` (fail closed: the dashboard file is not changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import attrs
import botocore.exceptions
import botocore.session

from sls_access._role_session import RoleSession
from sls_access._sts_client import RoleAssumer, client_config, describe_failure
from sls_access._target import Target
from sls_access._values import account_of_arn
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError
from sls_access.link import LinkError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["Verified", "verify_role"]


@attrs.frozen(kw_only=True)
class Verified:
    """What STS said about the role's session: the account and the assumed-role ARN."""

    account: str
    arn: str


def verify_role(
    session: botocore.session.Session,
    target: Target,
    profile: DeploymentProfile,
    *,
    role_session: RoleSession,
    region: str,
    tags: Mapping[str, str] | None = None,
) -> Verified:
    """Enter *profile*'s role as sls-access will, and check the identity STS reports for its keys.

    The role is entered by sls-access's own :class:`~sls_access._sts_client.RoleAssumer` (the
    external ID, the duration, *role_session*'s name and ``SourceIdentity``, *tags*; the
    profile's ``account_id`` checked against STS's answer; the whole-call deadline); then
    ``GetCallerIdentity`` with *session*'s configuration and the new keys must name the
    role in that account.

    :raises LinkError: STS refused, or the identity is not the role in the profile's account.
    """
    role_name = profile.role_arn.rsplit("/", 1)[-1]
    account_id = profile.account_id
    try:
        keys = RoleAssumer().assume(
            target,
            attrs.evolve(profile, region=region),
            source="link",
            session_name=role_session.name,
            source_identity=role_session.source_identity,
            tags=tags,
        )
    except AccessRoleError as exc:
        raise LinkError(f"the new role {profile.role_arn} could not be assumed: {exc}") from None
    try:
        as_role = cast(
            "STSClient",
            session.create_client(
                "sts",
                region_name=region,
                config=client_config(),
                aws_access_key_id=keys.access_key_id,
                aws_secret_access_key=keys.secret_access_key,
                aws_session_token=keys.session_token,
            ),
        )
        identity = as_role.get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        failure = describe_failure(exc)
        raise LinkError(
            f"GetCallerIdentity with the new role {profile.role_arn}'s keys failed: "
            f"{failure.message if failure else type(exc).__name__}"
        ) from None
    account, arn = str(identity.get("Account", "")), str(identity.get("Arn", ""))
    if account != account_id or account_of_arn(arn) != account_id:
        raise LinkError(
            f"STS says the new role's keys are in account {account or '?'} ({arn or 'no ARN'}), "
            f"not in {account_id}: refused, the dashboard file is unchanged"
        )
    if f":assumed-role/{role_name}/" not in arn:
        raise LinkError(
            f"STS says the new role's keys belong to {arn}, not to role {role_name}: refused, "
            "the dashboard file is unchanged"
        )
    return Verified(account=account, arn=arn)
