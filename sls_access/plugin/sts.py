"""STS helpers for plugins that call STS themselves (e.g. ``AssumeRoleWithWebIdentity``).

The same client configuration, error mapping and response reading as the built-in
``assume-role`` plugin, so that every STS call of a resolver is bounded alike and no
failure message quotes a secret::

    from sls_access.plugin.sts import StsFailure, client_config, credentials_from_response, describe_failure

    client = session.create_client("sts", config=options.sts_config or client_config())
    try:
        response = client.assume_role_with_web_identity(...)
    except Exception as exc:
        failure = describe_failure(exc)
        if failure is None:
            raise
        raise MyError(failure.message, code=failure.code) from None
    # raises StsFailure when malformed, or when the role entered is not in the profile's account_id
    return credentials_from_response(response, account_id=deployment_profile.account_id)

Importing this module imports botocore.
"""

from __future__ import annotations

from sls_access._sts_client import (
    DEFAULT_REGION,
    StsFailure,
    client_config,
    credentials_from_response,
    describe_failure,
)

__all__ = ["DEFAULT_REGION", "StsFailure", "client_config", "credentials_from_response", "describe_failure"]

StsFailure.__module__ = __name__
