"""The AWS container-credentials format: what ECS's agent, the dashboard service and ``exec`` serve.

Every AWS SDK reads it from ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (with the token in
``AWS_CONTAINER_AUTHORIZATION_TOKEN``) and refreshes ahead of ``Expiration`` by itself.
"""

from __future__ import annotations

import json

from sls_access._credentials import Credentials
from sls_access._values import iso_utc

__all__ = ["container_json"]


def container_json(creds: Credentials, role_arn: str | None = None) -> bytes:
    """Return *creds* in the AWS container-credentials format; ``RoleArn`` only when *role_arn* is known."""
    body: dict[str, str | None] = {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "Token": creds.session_token,
        "Expiration": None if creds.expiration is None else iso_utc(creds.expiration),
    }
    if role_arn is not None:
        body["RoleArn"] = role_arn
    if creds.region:
        body["Region"] = creds.region
    return json.dumps(body).encode()
