"""STS: one client configuration, one error mapping, one reading of a response; AssumeRole.

The helpers are shared by the built-in ``assume-role`` plugin and by plugins that call
STS themselves (``sls_access.plugin.sts``), so that every STS call is bounded the same
way and every failure is described without quoting a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import attrs
import botocore.config
import botocore.exceptions
import botocore.parsers
import botocore.session
from cachetools import LRUCache

from sls_access._credentials import Credentials
from sls_access._deadline import BoundedCalls, DeadlinePassed, TooManyCalls
from sls_access._role_session import default_session_name
from sls_access._target import Target
from sls_access._values import MIN_LIFETIME, account_of_arn, region_problem
from sls_access.errors import AccessRoleError, ConfigError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

    from sls_access.dashboard.model import DeploymentProfile

__all__ = [
    "DEFAULT_REGION",
    "MIN_LIFETIME",
    "CallerIdentity",
    "RoleAssumer",
    "StsFailure",
    "client_config",
    "credentials_from_response",
    "describe_failure",
    "error_text",
]

DEFAULT_REGION = "us-east-1"
DEADLINE = 50.0
"""Seconds one ``AssumeRole`` may take in all, retries included (:func:`client_config`'s
bounds come to about 48 s, but only between bytes: a trickled answer is cut off here)."""
MAX_CALLS = 16
"""How many STS calls one assumer may have running at once, stuck ones included."""
PREPARE_DEADLINE = 15.0
"""Seconds :meth:`RoleAssumer.prepare`'s ``GetCallerIdentity`` may take, retries included."""
MAX_CALLERS = 64
"""How many base access key ids' ``GetCallerIdentity`` ARNs one assumer remembers."""
_MAX_MESSAGE = 300


def client_config(**overrides: Any) -> botocore.config.Config:  # noqa: ANN401 - botocore's Config options
    """Return the configuration every sls-access STS client uses, with *overrides* merged in.

    The bound on one call: 3 attempts in total (botocore's standard retry mode: 5xx,
    throttling, timeouts and dropped connections are retried with jittered backoff of at
    most 1 s then 2 s; AccessDenied and other client errors are not), each at most 5 s to
    connect and 10 s between bytes of the answer: about 48 s at worst, then an error.
    """
    options: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 10,
        "retries": {"total_max_attempts": 3, "mode": "standard"},
        "user_agent_extra": "sls-access",
    }
    options.update(overrides)
    return botocore.config.Config(**options)


class StsFailure(Exception):
    """An STS call failed: a message safe to show (no body, no secret) and STS's error code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


def describe_failure(exc: BaseException) -> StsFailure | None:  # noqa: PLR0911 - one answer per error family
    """Return what *exc*, raised by a botocore STS call, means; None when it is not botocore's.

    Never quotes a response body: botocore's parser errors carry the whole body, which
    may be a truncated answer holding a secret key.
    """
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return StsFailure("no base AWS credentials to call STS with (botocore's default chain found none)")
    if isinstance(exc, botocore.exceptions.ClientError):
        info = exc.response.get("Error", {})
        code = info.get("Code")
        message = str(info.get("Message", ""))[:_MAX_MESSAGE]
        return StsFailure(f"STS said {code}: {message}".rstrip(": "), code)
    if isinstance(exc, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError):
        return StsFailure(f"STS did not answer in time ({type(exc).__name__}, after botocore's bounded retries)")
    if isinstance(
        exc,
        botocore.exceptions.CredentialRetrievalError
        | botocore.exceptions.PartialCredentialsError
        | botocore.exceptions.ProfileNotFound
        | botocore.exceptions.UnknownCredentialError,
    ):
        return StsFailure(
            f"the base AWS credentials (botocore's default chain) could not be loaded: "
            f"{type(exc).__name__}: {_redacted(exc)}"
        )
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return StsFailure("STS returned a malformed response (not parseable XML)")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return StsFailure(f"STS could not be reached: {type(exc).__name__}: {_redacted(exc)}")
    return None


def _redacted(exc: BaseException) -> str:
    """Return what *exc* says with secret-bearing values redacted, cut to the message limit."""
    from sls_access import _redact  # noqa: PLC0415 - its patterns cost import time; needed on failures only

    return _redact.redact(str(exc))[:_MAX_MESSAGE]


def error_text(exc: BaseException) -> str:
    """Return what *exc* says, safe to show in an error, a trail or a log line.

    botocore's errors as :func:`describe_failure` puts them (a response body is never
    quoted), any other as ``Type: message`` with secret-bearing values redacted.
    """
    failure = describe_failure(exc)
    if failure is not None:
        return failure.message
    return f"{type(exc).__name__}: {_redacted(exc)}"


def credentials_from_response(
    response: Mapping[str, Any],
    *,
    source: str | None = None,
    region: str | None = None,
    account_id: str | None = None,
    role_arn: str | None = None,
) -> Credentials:
    """Return the ``Credentials`` element of an STS ``AssumeRole*`` response (keys of *role_arn*).

    Raises :class:`StsFailure` when it is missing or malformed (naming the field, not its
    value), and, when *account_id* is given (a deployment profile's ``account_id``), when
    the response's ``AssumedRoleUser.Arn`` is missing or in another account.
    """
    if account_id is not None:
        _check_account(response, account_id)
    try:
        creds = response["Credentials"]
        return Credentials(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expiration=creds["Expiration"],
            source=source,
            region=region,
            role_arn=role_arn,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StsFailure(f"STS returned a malformed response (missing or bad {exc})") from None


def _check_account(response: Mapping[str, Any], account_id: str) -> None:
    try:
        arn = response["AssumedRoleUser"]["Arn"]
    except (KeyError, TypeError):
        arn = None
    if not isinstance(arn, str):
        raise StsFailure(
            f"STS did not say which role it entered (no AssumedRoleUser.Arn), so it cannot be "
            f"checked to be in account {account_id}"
        )
    found = account_of_arn(arn)
    if found != account_id:
        raise StsFailure(
            f"STS entered {arn[:200]!r}, which is not in the deployment profile's account "
            f"{account_id}; the keys are refused"
        )


@attrs.frozen
class CallerIdentity:
    """Who the base credentials are, as STS ``GetCallerIdentity`` says.

    :ivar arn: the caller's ARN (an IAM user, or an assumed role's session,
        ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``): what a role's trust policy names.
    :ivar account: the AWS account id in *arn*.
    """

    arn: str
    account: str


class _Call:
    """One ``AssumeRole`` call; marked when its caller stops waiting for it."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


class _Abandoned(Exception):
    """Raised in an abandoned call's thread before it would build a session or client."""


def _check(call: _Call | None) -> None:
    # An abandoned call builds nothing that a later call would use.
    if call is not None and call.abandoned:
        raise _Abandoned("the caller stopped waiting for this call at its deadline")


class RoleAssumer:
    """Calls AssumeRole with base credentials from botocore's default chain.

    One STS client per region, created on first use and shared (botocore clients are
    thread-safe; their creation is not, hence the lock). Only regions botocore knows are
    accepted (else :class:`~sls_access.ConfigError`), and at most *max_clients* clients are
    kept, the least recently used dropped first: no caller can grow the memory without bound.

    Each call is bounded in all by *deadline* seconds (socket timeouts bound only the
    wait between bytes) and at most *max_calls* run at once: when that many are stuck on
    an STS that trickles its answers, the next call fails at once.

    :param config: the botocore client configuration (default :func:`client_config`).
    :param max_clients: how many regions' clients are kept.
    :param deadline: seconds one ``AssumeRole`` may take, retries included.
    :param max_calls: how many calls may be running at once.
    """

    def __init__(
        self,
        config: botocore.config.Config | None = None,
        *,
        max_clients: int = 32,
        deadline: float = DEADLINE,
        max_calls: int = MAX_CALLS,
    ) -> None:
        self.config = client_config() if config is None else config
        self.deadline = deadline
        self._calls = BoundedCalls(max_calls, "sls-access-sts")
        self._lock = threading.Lock()
        self._session: botocore.session.Session | None = None
        # Set by _abandon without the lock (a stuck call may hold it); the session and the
        # clients are dropped under the lock by the next call that wants them.
        self._stale = False
        self._clients: LRUCache[str, STSClient] = LRUCache(maxsize=max_clients)
        self._callers: LRUCache[str, str] = LRUCache(maxsize=MAX_CALLERS)

    @property
    def client_count(self) -> int:
        """How many STS clients are kept now (at most *max_clients*)."""
        with self._lock:
            return len(self._clients)

    def prepare(self, region: str | None = None, *, deadline: float = PREPARE_DEADLINE) -> CallerIdentity:
        """Check the base credentials with one ``GetCallerIdentity`` now; return who they are.

        The call goes through the client of *region* (default: the configured one, as the
        calls without a region of their own), so that it is created now and the connection
        the call opens stays in its pool for the next call; the thread it ran on stays idle
        for that call too. The ARN is remembered for :meth:`caller_arn` (no second call for
        a ``per_key`` profile). Meant for a server's startup, before its first request.

        :raises StsFailure: the base credentials are missing or refused, or STS cannot be
            reached within *deadline* seconds (the message quotes no secret).
        :raises ~sls_access.ConfigError: for a region botocore does not know.
        """
        self._client(region)  # a ConfigError for a bad region, outside the bounded call
        try:
            arn = self._caller_arn(region, deadline)
        except DeadlinePassed:
            self._abandon()
            raise StsFailure(f"STS did not answer GetCallerIdentity within {deadline:g} s") from None
        except TooManyCalls:
            raise StsFailure(f"STS did not answer within {deadline:g} s") from None
        except StsFailure:
            raise
        except Exception as exc:
            failure = describe_failure(exc)
            if failure is None:
                raise
            raise failure from None
        account = account_of_arn(arn)
        if account is None:  # _caller_arn checked it; for mypy
            raise StsFailure("STS's answer names no caller ARN")
        return CallerIdentity(arn=arn, account=account)

    def _client(self, region: str | None, call: _Call | None = None) -> STSClient:
        return self._session_and_client(region, call)[1]

    def _session_and_client(
        self, region: str | None, call: _Call | None = None
    ) -> tuple[botocore.session.Session, STSClient]:
        with self._lock:
            while True:
                session = self._base_session_locked(call)
                name = region or session.get_config_variable("region") or DEFAULT_REGION
                client = self._clients.get(name)
                if client is None:
                    problem = region_problem(name)
                    if problem is not None:
                        raise ConfigError(problem, key="region")
                    client = cast("STSClient", session.create_client("sts", region_name=name, config=self.config))
                # The reads above may block (the AWS config file): abandoned meanwhile, this call
                # keeps nothing; another call abandoned meanwhile, start again on a new session.
                _check(call)
                if not self._stale:
                    self._clients[name] = client
                    return session, client

    def caller_arn(self, target: Target, profile: DeploymentProfile) -> str:
        """Return the ARN the base credentials act as (STS ``GetCallerIdentity``), for *profile*'s role.

        Remembered per base access key id (at most :data:`MAX_CALLERS`, the least recently
        used dropped first), so that it costs one STS call per base key, not one per role
        entry. Any failure is an :class:`AccessRoleError` that names this step: a
        ``per_key`` profile's role is never entered without the caller's identity.
        """

        def error(message: str, code: str | None = None) -> AccessRoleError:
            return AccessRoleError(
                f"could not tell who the caller is (STS GetCallerIdentity), which a "
                f"per_key deployment profile's SourceIdentity needs: {message}",
                target=target,
                deployment_profile=profile.name,
                role_arn=profile.role_arn,
                code=code,
            )

        try:
            arn = self._caller_arn(target.region or profile.region, self.deadline)
        except DeadlinePassed:
            self._abandon()
            raise error(f"STS did not answer within {self.deadline:g} s") from None
        except TooManyCalls:
            raise error(f"STS did not answer within {self.deadline:g} s") from None
        except StsFailure as found:
            raise error(found.message, found.code) from None
        except Exception as exc:
            failure = describe_failure(exc)
            if failure is None:
                raise
            raise error(failure.message, failure.code) from None
        return arn

    def _caller_arn(self, region: str | None, deadline: float) -> str:
        session, client = self._session_and_client(region)

        def base_key_id() -> str | None:
            base = session.get_credentials()  # may refresh (SSO, a role profile): bounded like the call
            return None if base is None else base.get_frozen_credentials().access_key

        key_id = self._calls.run(base_key_id, deadline)
        if not key_id:
            raise StsFailure("no base AWS credentials (botocore's default chain found none)")
        with self._lock:
            arn = self._callers.get(key_id)
        if arn is not None:
            return arn
        arn = self._calls.run(client.get_caller_identity, deadline).get("Arn")
        if not isinstance(arn, str) or account_of_arn(arn) is None:
            raise StsFailure("STS's answer names no caller ARN")
        with self._lock:
            self._callers[key_id] = arn
        return arn

    def _abandon(self, call: _Call | None = None) -> None:
        """Forget the base session and its clients: a call was left running past its deadline.

        The abandoned call goes on in its thread. If it reads the base credentials there
        (SSO, a ``credential_process``, a role profile), it reads ``os.environ`` as it is
        *then*: in the agent, possibly another caller's environment, swapped in once this
        caller's resolution ended. What it finds stays in the old session, which no later
        call uses: the next one builds a new session from the environment of its own time.
        Without the lock, which the stuck call may hold (reading the AWS config file, say):
        the next call that wants a session drops the old one, and the abandoned call, once
        marked, installs nothing.
        """
        if call is not None:
            call.abandoned = True
        self._stale = True

    def _base_session_locked(self, call: _Call | None) -> botocore.session.Session:
        _check(call)
        if self._stale:
            self._stale = False
            self._session = None
            self._clients.clear()
        if self._session is None:
            from sls_access import _redact  # noqa: PLC0415 - with the first STS session, not at import

            _redact.install()
            self._session = botocore.session.Session()
        return self._session

    def assume(
        self,
        target: Target,
        profile: DeploymentProfile,
        *,
        source: str | None,
        now: datetime | None = None,
        session_name: str | None = None,
        source_identity: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Assume *profile*'s role for *target*; any failure is an :class:`AccessRoleError`.

        *now* is the resolver's current time: keys that expire less than
        :data:`MIN_LIFETIME` after it are refused (expired on arrival). When *profile*
        has an ``account_id``, keys of a role that STS says is in another account (the
        response's ``AssumedRoleUser.Arn``) are refused too. *session_name*
        (default :func:`~sls_access._role_session.default_session_name`) and
        *source_identity* come from the ``sls_access_role_session`` hook, already checked.
        *tags* are session tags (already valid, see
        :func:`~sls_access._role_session.key_session_tags`); none is transitive.
        """
        kwargs: dict[str, Any] = {
            "RoleArn": profile.role_arn,
            "RoleSessionName": session_name or default_session_name(target),
            "DurationSeconds": profile.duration_seconds,
        }
        if profile.external_id is not None:
            kwargs["ExternalId"] = profile.external_id
        if source_identity is not None:
            kwargs["SourceIdentity"] = source_identity
        if tags:
            # No TransitiveTagKeys: the tags do not follow a role chained from this session.
            kwargs["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]

        def error(message: str, code: str | None = None) -> AccessRoleError:
            return AccessRoleError(
                message, target=target, deployment_profile=profile.name, role_arn=profile.role_arn, code=code
            )

        region = target.region or profile.region
        # The client is looked up in the call's thread (under the deadline: it may read the AWS
        # config file), so that thread must not install a session once the call is abandoned.
        call = _Call()
        try:
            response = self._calls.run(lambda: self._client(region, call).assume_role(**kwargs), self.deadline)
        except DeadlinePassed:
            self._abandon(call)
            raise error(f"STS did not answer within {self.deadline:g} s") from None
        except TooManyCalls:  # this call was not started: nothing to abandon
            raise error(
                f"STS did not answer within {self.deadline:g} s: {self._calls.limit} calls are still "
                f"waiting for it, so no other is started"
            ) from None
        except Exception as exc:
            failure = describe_failure(exc)
            if failure is None:
                raise
            raise error(failure.message, failure.code) from None
        try:
            result = credentials_from_response(
                response, source=source, region=region, account_id=profile.account_id, role_arn=profile.role_arn
            )
        except StsFailure as failure:
            raise error(failure.message, failure.code) from None
        expiration = result.expiration
        if now is not None and expiration is not None and expiration - now < MIN_LIFETIME:
            raise error(
                f"STS returned keys that expire at {expiration.isoformat(timespec='seconds')}, "
                f"{int((expiration - now).total_seconds())} s from this machine's "
                f"{now.isoformat(timespec='seconds')} (expired on arrival: is the clock right?)"
            )
        return result
