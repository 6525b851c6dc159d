"""Entering an access role with STS AssumeRole, using botocore's default credential chain."""

from __future__ import annotations

import hashlib
import re
import threading
from typing import TYPE_CHECKING, Any, cast

import botocore.config
import botocore.exceptions
import botocore.session

from sls_access import _redact
from sls_access._credentials import Credentials
from sls_access._target import Target
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["RoleAssumer", "role_session_name"]

_INVALID = re.compile(r"[^\w+=,.@-]", re.ASCII)
_MAX = 64
DEFAULT_REGION = "us-east-1"
CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=5,
    read_timeout=10,
    retries={"max_attempts": 3, "mode": "standard"},
    user_agent_extra="sls-access",
)


def role_session_name(target: Target) -> str:
    r"""Return a ``RoleSessionName`` for *target* that always satisfies STS's rules.

    ``sls-<org>.<app>.<stage>`` with every character outside ``[\\w+=,.@-]`` (ASCII)
    replaced by ``-``; when that is longer than 64 characters it is cut and ended with
    a hash of the full name, so distinct targets keep distinct names.
    """
    name = _INVALID.sub("-", f"sls-{target.org}.{target.app}.{target.stage}")
    if len(name) > _MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[: _MAX - len(digest) - 1]}-{digest}"
    return name


class RoleAssumer:
    """Calls AssumeRole with base credentials from botocore's default chain.

    One STS client per region, created on first use and shared (botocore clients are
    thread-safe; their creation is not, hence the lock).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: botocore.session.Session | None = None
        self._clients: dict[str, STSClient] = {}

    def _client(self, region: str | None) -> STSClient:
        with self._lock:
            if self._session is None:
                _redact.install()
                self._session = botocore.session.Session()
            name = region or self._session.get_config_variable("region") or DEFAULT_REGION
            if name not in self._clients:
                client = self._session.create_client("sts", region_name=name, config=CLIENT_CONFIG)
                self._clients[name] = cast("STSClient", client)
            return self._clients[name]

    def assume(self, target: Target, profile: DeploymentProfile, *, source: str) -> Credentials:
        """Assume *profile*'s role for *target*; any failure is an :class:`AccessRoleError`."""
        kwargs: dict[str, Any] = {
            "RoleArn": profile.role_arn,
            "RoleSessionName": role_session_name(target),
            "DurationSeconds": profile.duration_seconds,
        }
        if profile.external_id is not None:
            kwargs["ExternalId"] = profile.external_id

        def error(message: str, code: str | None = None) -> AccessRoleError:
            return AccessRoleError(message, target=target, deployment_profile=profile.name,
                                   role_arn=profile.role_arn, code=code)

        try:
            response = self._client(target.region or profile.region).assume_role(**kwargs)
        except botocore.exceptions.NoCredentialsError:
            raise error("no base AWS credentials to call AssumeRole with "
                        "(botocore's default chain found none)") from None
        except botocore.exceptions.ClientError as exc:
            info = exc.response.get("Error", {})
            code = info.get("Code")
            raise error(f"STS said {code}: {info.get('Message', '')}".rstrip(": "), code) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise error(f"STS could not be reached: {type(exc).__name__}: {exc}") from None
        try:
            creds = response["Credentials"]
            return Credentials(
                access_key_id=creds["AccessKeyId"],
                secret_access_key=creds["SecretAccessKey"],
                session_token=creds["SessionToken"],
                expiration=creds["Expiration"],
                source=source,
                region=target.region or profile.region,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise error(f"STS returned a malformed AssumeRole response (missing {exc})") from None
