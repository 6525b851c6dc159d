"""Connect AWS: the access role's template and command for an account, then the check that it works.

:meth:`Connector.start` makes a fresh external id and returns what the user runs in the
account: the CloudFormation template (JSON text, no parameters) of the access role that
``sls-access link`` deploys (:func:`sls_access.link.template.template`), trusting the
service's own vending identity (STS ``GetCallerIdentity`` with its base credentials, made at
each worker's startup: :class:`VendingIdentity`) with that external id; the one ``aws cloudformation
deploy`` command that creates it from CloudShell or a terminal; and, with
``serve --template-bucket s3://BUCKET[/PREFIX]``, the console's quick-create link to the
template uploaded there. The pending connect is kept for :data:`CONNECT_TTL`.

:meth:`Connector.poll` enters the role as the service will (``AssumeRole`` with the
external id, then ``GetCallerIdentity`` with its keys: :func:`sls_access.link.verify.verify_role`);
until that works the connect is ``pending``; then the profile is written (role ARN,
external id, account id, region) and the connect is ``connected``. With a dashboard file
under review nothing is written: the answer carries the TOML to commit.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from sls_access._botocore_session import new_session
from sls_access._role_session import RoleSession, key_session, key_session_tags
from sls_access._sts_client import client_config, describe_failure
from sls_access._target import Target
from sls_access._values import ACCOUNT_ID, caller_principal, iso_utc, region_problem
from sls_access.dashboard.model import DeploymentProfile, Sessions
from sls_access.link import LinkError
from sls_access.link.template import RoleSpec, new_external_id, stack_name, template
from sls_access.service.admin import AdminError
from sls_access.service.admin.ops import Admin, check_name, profile_json, toml_of

if TYPE_CHECKING:
    from sls_access.service._vend import Vendor

__all__ = ["CHECK_KEY", "CONNECT_TTL", "Connector", "VendingIdentity"]

CONNECT_TTL = timedelta(minutes=15)
"""How long a started connect is checked for (and the UI page polls)."""
_KIND = "connect"
CHECK_KEY = "connect-check"
"""The access key name a per-key profile's check enters the role as (its ``SourceIdentity``)."""


class VendingIdentity:
    """The ARN the service's base credentials act as, from the worker's startup ``GetCallerIdentity``.

    Each worker checks its base credentials with that call before it serves (it does not
    start without them: :meth:`~sls_access.service._vend.Vendor.prepare`), and keeps the
    answer as its vendor's ``vending_identity``: the principal a connected role must trust.

    :param vendor: the worker's :class:`~sls_access.service._vend.Vendor`.
    """

    def __init__(self, vendor: Vendor) -> None:
        self._vendor = vendor

    def arn(self) -> str:
        """Return the vending identity's ARN; ``502 identity_error`` before the worker has checked it."""
        known = self._vendor.vending_identity
        if known is None:
            raise AdminError(502, "identity_error", "the service has not checked its own AWS identity yet")
        return known.arn


def _bucket(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"--template-bucket {url!r} is not s3://BUCKET[/PREFIX]")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class Connector:
    """Starts and checks connects for one :class:`~sls_access.service.admin.ops.Admin`.

    :param template_bucket: ``s3://BUCKET[/PREFIX]`` for quick-create links, or None.
    """

    def __init__(
        self,
        admin: Admin,
        identity: VendingIdentity,
        *,
        clock: Callable[[], datetime],
        template_bucket: str | None = None,
    ) -> None:
        self.admin = admin
        self.identity = identity
        self._clock = clock
        self._bucket = None if template_bucket is None else _bucket(template_bucket)

    def start(self, org: str, name: str, body: object) -> dict[str, Any]:
        """Start connecting the profile *name* to the account ``body["account_id"]`` (region optional)."""
        check_name(name, "name")
        if not isinstance(body, dict):
            raise AdminError(
                400, "invalid", 'the body is {"account_id": "123456789012", "region": "…"}', field="(body)"
            )
        account = body.get("account_id")
        if not isinstance(account, str) or not ACCOUNT_ID.fullmatch(account):
            raise AdminError(400, "invalid", "account_id: an AWS account id is 12 digits", field="account_id")
        region = body.get("region") or None
        if region is not None and region_problem(region) is not None:
            raise AdminError(400, "invalid", f"region: {region_problem(region)}", field="region")
        existing = self.admin.profiles(org).get(name)
        duration = existing.duration_seconds if existing is not None else 3600
        per_key = existing is not None and existing.sessions is Sessions.PER_KEY
        principal = caller_principal(self.identity.arn())
        if principal is None:
            raise AdminError(502, "identity_error", "the service's AWS identity cannot be named in a trust policy")
        external_id = new_external_id()
        spec = RoleSpec(
            org=org,
            profile=name,
            account_id=account,
            trust=(principal,),
            external_id=external_id,
            duration_seconds=duration,
            session_actions=("sts:SetSourceIdentity", "sts:TagSession") if per_key else (),
        )
        text = json.dumps(template(spec), indent=2) + "\n"
        stack = stack_name(org, name)
        filename = f"{stack}.json"
        argv = [
            "aws",
            "cloudformation",
            "deploy",
            "--stack-name",
            stack,
            "--template-file",
            filename,
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
        ]
        if region is not None:
            argv += ["--region", region]
        started = self._clock()
        answer: dict[str, Any] = {
            "status": "pending",
            "external_id": external_id,
            "role_arn": spec.role_arn,
            "account_id": account,
            "region": region,
            "stack_name": stack,
            "template_file": filename,
            "template": text,
            "command": shlex.join(argv),
            "trusts": principal,
            "started": iso_utc(started),
            "expires": iso_utc(started + CONNECT_TTL),
        }
        if self._bucket is not None:
            answer["quick_create_url"] = self._upload(text, stack, region)
        self.admin.records.put(_KIND, f"{org}/{name}", answer, expires=started + CONNECT_TTL)
        return answer

    def _upload(self, text: str, stack: str, region: str | None) -> str:
        assert self._bucket is not None  # noqa: S101 - called only with a bucket
        bucket, prefix = self._bucket
        key = f"{prefix}{stack}-{new_external_id()[4:16]}.json"
        session = new_session()
        s3: Any = session.create_client("s3", region_name=region or "us-east-1", config=client_config())
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType="application/json")
            url = s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(CONNECT_TTL.total_seconds())
            )
        except Exception as exc:
            failure = describe_failure(exc)
            if failure is None:
                raise
            raise AdminError(
                502, "template_bucket_error", f"cannot upload the template to s3://{bucket}/{key}: {failure.message}"
            ) from None
        console_region = region or "us-east-1"
        query = urllib.parse.urlencode({"templateURL": url, "stackName": stack})
        return (
            f"https://{console_region}.console.aws.amazon.com/cloudformation/home?region={console_region}"
            f"#/stacks/quickcreate?{query}"
        )

    def pending(self, org: str, name: str) -> dict[str, Any] | None:
        """Return the connect started for the profile, while it lives."""
        return self.admin.records.get(_KIND, f"{org}/{name}")

    def poll(self, org: str, name: str) -> dict[str, Any]:
        """Check the started connect: ``pending`` until the role can be entered, then ``connected``."""
        record = self.pending(org, name)
        if record is None:
            raise AdminError(
                404,
                "not_found",
                f"no connect started for deployment profile {name!r} (or it expired "
                "after 15 minutes): start one with POST",
            )
        if record.get("status") == "connected":
            return record
        existing = self.admin.profiles(org).get(name)
        profile = DeploymentProfile(
            name=name,
            role_arn=record["role_arn"],
            external_id=record["external_id"],
            duration_seconds=existing.duration_seconds if existing is not None else 3600,
            region=record.get("region"),
            account_id=record["account_id"],
        )
        target = Target(org=org, app="connect", stage="aws")
        role_session, tags = RoleSession(name="sls-access-connect"), None
        if existing is not None and existing.sessions is Sessions.PER_KEY:
            # Entered as a vend enters a per-key session: a SourceIdentity and the four session
            # tags, so that the role's sts:SetSourceIdentity and sts:TagSession are checked too.
            role_session, tags = key_session(CHECK_KEY, "connect"), key_session_tags(target, CHECK_KEY)
        try:
            from sls_access.link.verify import verify_role  # noqa: PLC0415 - botocore-heavy, on first poll

            verified = verify_role(
                new_session(),
                target,
                profile,
                role_session=role_session,
                region=record.get("region") or "us-east-1",
                tags=tags,
            )
        except LinkError as exc:
            return {**record, "status": "pending", "detail": str(exc)}
        if existing is not None:  # what the connect does not set stays the profile's own
            profile = attrs.evolve(profile, region=profile.region or existing.region, sessions=existing.sessions)
        values = profile_json(profile)
        done = {
            "status": "connected",
            "role_arn": profile.role_arn,
            "account_id": verified.account,
            "external_id": profile.external_id,
            "region": profile.region,
            "stack_name": record.get("stack_name"),
        }
        try:
            self.admin.put_profile(org, name, values)
        except AdminError as exc:
            toml = toml_of(exc)
            if toml is None:
                raise
            done["toml"] = toml
        self.admin.records.put(_KIND, f"{org}/{name}", done, expires=self._clock() + CONNECT_TTL)
        return done
