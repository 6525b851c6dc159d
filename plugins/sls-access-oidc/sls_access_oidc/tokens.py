"""Where a CI job's OIDC token comes from: GitHub Actions, a token file, an env var.

:func:`find_token_source` picks one from the environment, in this order:

1. ``SLS_ACCESS_OIDC_TOKEN_VAR`` names an environment variable holding the token
   (GitLab CI: an ``id_tokens`` entry);
2. ``AWS_WEB_IDENTITY_TOKEN_FILE`` is a file holding the token (EKS, and any CI that
   writes one);
3. ``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (a GitHub
   Actions job with ``permissions: id-token: write``): the token is requested for the
   audience ``SLS_ACCESS_OIDC_AUDIENCE`` (default ``sts.amazonaws.com``).

Every :meth:`TokenSource.fetch` reads or requests the token anew, so each refresh of
the role's keys presents a token that has not expired. Tokens are secrets: they never
appear in a ``repr``, a message or a log record.
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import attrs

from sls_access.plugin import SlsAccessError

__all__ = [
    "DEFAULT_AUDIENCE",
    "EnvVarToken",
    "GitHubActionsToken",
    "OidcError",
    "TokenFile",
    "TokenSource",
    "find_token_source",
]

DEFAULT_AUDIENCE = "sts.amazonaws.com"
MAX_TOKEN_BYTES = 64 * 1024
TIMEOUT = 10.0


class OidcError(SlsAccessError):
    """The token could not be had, or STS refused it.

    sls-access reports it as an :class:`~sls_access.AccessRoleError` naming the plugin.

    :ivar code: STS's error code, when STS answered with one.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class TokenSource(Protocol):
    """Something that hands out a fresh OIDC token on every call."""

    @property
    def description(self) -> str:
        """Where the token comes from, for messages (never the token itself)."""
        ...

    def fetch(self) -> str:
        """Return a fresh token; raise :class:`OidcError` when there is none."""
        ...


def _checked(token: str, where: str) -> str:
    token = token.strip()
    if not token:
        raise OidcError(f"{where} is empty")
    if len(token) > MAX_TOKEN_BYTES:
        raise OidcError(f"{where} holds more than {MAX_TOKEN_BYTES} bytes, not an OIDC token")
    return token


@attrs.frozen
class EnvVarToken:
    """The token is the value of an environment variable (GitLab CI's ``id_tokens``)."""

    variable: str

    @property
    def description(self) -> str:
        """Where the token comes from."""
        return f"environment variable {self.variable}"

    def fetch(self) -> str:
        """Return the variable's current value."""
        value = os.environ.get(self.variable)
        if value is None:
            raise OidcError(f"SLS_ACCESS_OIDC_TOKEN_VAR names {self.variable}, which is not set")
        return _checked(value, self.description)


@attrs.frozen
class TokenFile:
    """The token is the content of a file, read anew each time (it is rotated in place)."""

    path: Path

    @property
    def description(self) -> str:
        """Where the token comes from."""
        return f"token file {self.path}"

    def fetch(self) -> str:
        """Return the file's current content."""
        try:
            with self.path.open("rb") as fh:
                raw = fh.read(MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            raise OidcError(f"cannot read {self.description}: {exc.strerror}") from None
        return _checked(raw.decode("utf-8", "replace"), self.description)


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.frozen
class GitHubActionsToken:
    """Requests a token from GitHub Actions' OIDC endpoint for *audience*.

    The request URL must be ``https://`` (plain ``http://`` only to a loopback
    address, for tests): the request token is a bearer secret.
    """

    url: str
    request_token: str = attrs.field(repr=False)
    audience: str = DEFAULT_AUDIENCE

    @property
    def description(self) -> str:
        """Where the token comes from."""
        return f"GitHub Actions' OIDC token endpoint (audience {self.audience})"

    def _request_url(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
            raise OidcError("ACTIONS_ID_TOKEN_REQUEST_URL must be an https:// URL")
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, v) for k, v in query if k != "audience"] + [("audience", self.audience)]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

    def fetch(self) -> str:
        """Ask the endpoint for a token; any failure is an :class:`OidcError` (no secret in it)."""
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            self._request_url(),
            headers={
                "Authorization": f"bearer {self.request_token}",
                "Accept": "application/json",
                "User-Agent": "sls-access-oidc",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - checked
                body = response.read(MAX_TOKEN_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's socket
            raise OidcError(f"{self.description} answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OidcError(f"{self.description} could not be reached: {reason}") from None
        try:
            value = json.loads(body)["value"]
        except (ValueError, KeyError, TypeError):
            raise OidcError(f"{self.description} answered without a token (expected JSON with a 'value')") from None
        if not isinstance(value, str):
            raise OidcError(f"{self.description} answered a {type(value).__name__} token, not a string")
        return _checked(value, f"the token from {self.description}")


def find_token_source(environ: Mapping[str, str] | None = None) -> TokenSource | None:
    """Return the token source the environment sets up, or None when there is none.

    Half a GitHub Actions setup (the URL without the request token, or the other way
    round) is an :class:`OidcError`, not a silent fallback.
    """
    env = os.environ if environ is None else environ
    variable = env.get("SLS_ACCESS_OIDC_TOKEN_VAR", "").strip()
    if variable:
        return EnvVarToken(variable)
    token_file = env.get("AWS_WEB_IDENTITY_TOKEN_FILE", "").strip()
    if token_file:
        return TokenFile(Path(token_file))
    url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "").strip()
    request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "").strip()
    if url and request_token:
        audience = env.get("SLS_ACCESS_OIDC_AUDIENCE", "").strip() or DEFAULT_AUDIENCE
        return GitHubActionsToken(url, request_token, audience)
    if url or request_token:
        missing = "ACTIONS_ID_TOKEN_REQUEST_TOKEN" if url else "ACTIONS_ID_TOKEN_REQUEST_URL"
        raise OidcError(f"{missing} is not set while its GitHub Actions twin is")
    return None
