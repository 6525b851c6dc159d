"""The bare stack: a minimal ASGI app answering every request with a fixed ~300-byte JSON body.

What the dashboard service is compared with in ``server_load.py``: the same server
(uvicorn, the same HTTP implementation and workers) and the same load generator, with
nothing of sls-access in the request path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

BODY = json.dumps(
    {
        "AccessKeyId": "ASIABAREBAREBAREBARE",
        "SecretAccessKey": "b" * 40,
        "Token": "t" * 120,
        "Expiration": "2030-01-01T00:00:00Z",
        "RoleArn": "arn:aws:iam::222222222222:role/bench",
    }
).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
