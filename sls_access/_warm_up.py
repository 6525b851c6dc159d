"""A new STS client's first ``AssumeRole`` made cheap ahead of time, without sending anything.

A botocore client builds parts of itself on its first call (event name aliases, the
endpoint's resolution, the operation's serializer and parser paths, the signer's first
use of the base credentials: about 0.8 ms on loopback), and its first call opens a
connection (a TLS handshake against the real STS). A server pays both at startup instead:

- :func:`rehearse` runs one ``AssumeRole`` through the client's whole pipeline and
  answers it in process (botocore's ``before-send`` event): it is signed but never sent,
  and its made-up answer is parsed and dropped. Only the rehearsal's own request is
  answered so (it carries a random session name), so a concurrent real call on the
  same client is never intercepted.
- :func:`open_connection` opens the connection that request would have used and leaves
  it in the client's pool, idle, for the first real call: as botocore would open it (its
  TLS settings and certificate check), no byte of a request written. A TLS 1.3 server's
  session tickets are read then, or urllib3 would take the connection for a closed one.
  Not when a proxy applies: the first request on a proxy's connection sets it up (a
  tunnel), so one opened ahead could send it the wrong way.

Both are best-effort: whatever fails is logged at debug level and the first real call
does the work as it would have. Both use botocore's and urllib3's internals; a version
that changes them only makes them do nothing.
"""

from __future__ import annotations

import logging
import secrets
import select
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

import botocore.awsrequest

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["open_connection", "rehearse"]

log = logging.getLogger(__name__)

TICKET_WAIT = 1.0
"""Seconds :func:`open_connection` waits for a TLS 1.3 server's session tickets."""

_ROLE = "arn:aws:iam::000000000000:role/sls-access-warm-up"
_ANSWER = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAWARMUP0000000000</AccessKeyId><SecretAccessKey>not-a-key</SecretAccessKey>
<SessionToken>not-a-token</SessionToken><Expiration>2000-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROAWARMUP0000000000:warm-up</AssumedRoleId>
<Arn>arn:aws:sts::000000000000:assumed-role/sls-access-warm-up/warm-up</Arn></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>warm-up</RequestId></ResponseMetadata></AssumeRoleResponse>
"""


class _Body:
    """What :class:`botocore.awsrequest.AWSResponse` reads its content from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, *_args: Any, **_kwargs: Any) -> list[bytes]:  # noqa: ANN401 - urllib3's signature
        return [self._content]


def rehearse(client: STSClient) -> str | None:
    """Run one ``AssumeRole`` through *client*, answered in process; return the URL it would have gone to.

    None when the rehearsal did not get as far as sending (no base credentials, say).
    Never raises.
    """
    name = f"sls-access-warm-up-{secrets.token_hex(8)}"
    marker = f"RoleSessionName={name}".encode()
    sent: list[str] = []

    def answer(request: botocore.awsrequest.AWSPreparedRequest, **_kwargs: Any) -> Any:  # noqa: ANN401
        body = request.body
        data = body.encode() if isinstance(body, str) else body
        if not isinstance(data, bytes) or marker not in data:
            return None  # another call's request: sent as usual
        sent.append(request.url)
        headers: Any = {"content-type": "text/xml"}  # AWSResponse makes its own HeadersDict of it
        return botocore.awsrequest.AWSResponse(request.url, 200, headers, _Body(_ANSWER))

    events = client.meta.events
    events.register_first("before-send.sts.AssumeRole", answer, unique_id=name)
    try:
        client.assume_role(RoleArn=_ROLE, RoleSessionName=name)
    except Exception as exc:  # noqa: BLE001 - best-effort: the first real call does the work instead
        log.debug("the STS client's rehearsal failed: %s", type(exc).__name__)
    finally:
        events.unregister("before-send.sts.AssumeRole", unique_id=name)
    return sent[0] if sent else None


def _read_tickets(sock: ssl.SSLSocket) -> bool:
    """Read what a TLS 1.3 server sends after the handshake (session tickets); return whether all is well.

    Left unread, they make the idle connection readable, which urllib3 takes for a
    connection the server closed: it would drop it and open another. Waits at most
    :data:`TICKET_WAIT` s for the first, and briefly for more. False when the server
    closed the connection or sent application data.
    """
    if sock.version() != "TLSv1.3":
        return True  # nothing is sent after a TLS 1.2 handshake
    timeout = sock.gettimeout()
    wait = TICKET_WAIT
    try:
        sock.settimeout(0)
        while select.select([sock], [], [], wait)[0]:
            try:
                sock.recv(1)
            except ssl.SSLWantReadError:
                wait = 0.05  # the record read was not application data (a ticket): any more?
                continue
            return False  # application data before any request, or the connection closed
    finally:
        sock.settimeout(timeout)
    return True


def open_connection(client: STSClient, url: str) -> bool:
    """Open *client*'s connection to *url*'s host and leave it idle in its pool; return whether it did.

    Nothing is sent on it. Not done (False) when a proxy applies to *url*, or on any failure.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            return False
        http: Any = client._endpoint.http_session  # type: ignore[attr-defined]
        if http._proxy_config.proxy_url_for(url):
            return False
        pool = http._get_connection_manager(url, None).connection_from_url(url)
        if getattr(pool, "proxy", None) is not None:
            return False
        http._setup_ssl_cert(pool, url, http._verify)
        conn = pool._get_conn()
        healthy = False
        try:
            conn.connect()
            healthy = not isinstance(conn.sock, ssl.SSLSocket) or _read_tickets(conn.sock)
        finally:
            if not healthy:
                conn.close()
                pool._put_conn(None)  # the pool's slot back, empty
        if not healthy:
            return False
        pool._put_conn(conn)
    except Exception as exc:  # noqa: BLE001 - best-effort: the first real call connects instead
        log.debug("cannot open the STS connection ahead of time: %s", type(exc).__name__)
        return False
    return True
