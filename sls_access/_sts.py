"""Entering an access role with STS AssumeRole, using botocore's default credential chain."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import botocore.config
import botocore.exceptions
import botocore.parsers
import botocore.session

from sls_access import _redact
from sls_access._credentials import Credentials
from sls_access._target import Target
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["CLIENT_CONFIG", "MIN_LIFETIME", "RoleAssumer", "role_session_name"]

_INVALID = re.compile(r"[^\w+=,.@-]", re.ASCII)
_MAX = 64
_MAX_MESSAGE = 300
DEFAULT_REGION = "us-east-1"
# The bound on one AssumeRole: 3 attempts (botocore's standard retry mode: 5xx,
# throttling, timeouts and dropped connections are retried with jittered backoff of at
# most 1 s then 2 s; AccessDenied and other client errors are not), each at most 5 s to
# connect and 10 s between bytes of the answer. Worst case about 48 s, then an error.
# Read when a RoleAssumer creates its client, so tests shrink it with monkeypatch.
CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=5,
    read_timeout=10,
    retries={"total_max_attempts": 3, "mode": "standard"},
    user_agent_extra="sls-access",
)
# Keys that STS says expire sooner than this (by the resolver's clock) are refused:
# they are expired on arrival, which means a clock that is off or an answer that is wrong.
MIN_LIFETIME = timedelta(seconds=60)


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

    def assume(self, target: Target, profile: DeploymentProfile, *, source: str,
               now: datetime | None = None, session_name: str | None = None,
               source_identity: str | None = None) -> Credentials:
        """Assume *profile*'s role for *target*; any failure is an :class:`AccessRoleError`.

        *now* is the resolver's current time: keys that expire less than
        :data:`MIN_LIFETIME` after it are refused (expired on arrival). *session_name*
        (default :func:`role_session_name`) and *source_identity* come from the
        ``sls_access_role_session`` hook, already checked against STS's rules.
        """
        kwargs: dict[str, Any] = {
            "RoleArn": profile.role_arn,
            "RoleSessionName": session_name or role_session_name(target),
            "DurationSeconds": profile.duration_seconds,
        }
        if profile.external_id is not None:
            kwargs["ExternalId"] = profile.external_id
        if source_identity is not None:
            kwargs["SourceIdentity"] = source_identity

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
            message = str(info.get("Message", ""))[:_MAX_MESSAGE]
            raise error(f"STS said {code}: {message}".rstrip(": "), code) from None
        except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as exc:
            raise error(f"STS did not answer in time ({type(exc).__name__}, "
                        "after botocore's bounded retries)") from None
        except (botocore.exceptions.CredentialRetrievalError, botocore.exceptions.PartialCredentialsError,
                botocore.exceptions.ProfileNotFound, botocore.exceptions.UnknownCredentialError) as exc:
            raise error(f"the base AWS credentials (botocore's default chain) could not be loaded: "
                        f"{type(exc).__name__}: {str(exc)[:_MAX_MESSAGE]}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise error(f"STS could not be reached: {type(exc).__name__}: "
                        f"{str(exc)[:_MAX_MESSAGE]}") from None
        except botocore.parsers.ResponseParserError:
            # Not a BotoCoreError, and its message quotes the whole body, which may be
            # a truncated answer carrying a secret key: say what happened, not what came.
            raise error("STS returned a malformed response (not parseable XML)") from None
        try:
            creds = response["Credentials"]
            result = Credentials(
                access_key_id=creds["AccessKeyId"],
                secret_access_key=creds["SecretAccessKey"],
                session_token=creds["SessionToken"],
                expiration=creds["Expiration"],
                source=source,
                region=target.region or profile.region,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise error(f"STS returned a malformed AssumeRole response (missing or bad {exc})") from None
        expiration = result.expiration
        if now is not None and expiration is not None and expiration - now < MIN_LIFETIME:
            raise error(f"STS returned keys that expire at {expiration.isoformat(timespec='seconds')}, "
                        f"{int((expiration - now).total_seconds())} s from this machine's "
                        f"{now.isoformat(timespec='seconds')} (expired on arrival: is the clock right?)")
        return result
