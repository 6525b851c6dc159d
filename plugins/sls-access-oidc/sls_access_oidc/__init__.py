"""sls-access-oidc: enter the dashboard's access roles with a CI job's OIDC token.

Installed next to sls-access, this plugin implements ``sls_access_enter_role``: when a
token source is present (GitHub Actions, a token file, or an environment variable named
by ``SLS_ACCESS_OIDC_TOKEN_VAR``), the deployment profile's access role is entered with
STS ``AssumeRoleWithWebIdentity`` and a fresh token, so the job needs no AWS keys. The
dashboard's org/app/stage → deployment profile mapping is unchanged. Without a token
source it steps aside and sls-access's built-in ``AssumeRole`` runs.
"""

from __future__ import annotations

from sls_access_oidc.tokens import (
    EnvVarToken,
    GitHubActionsToken,
    OidcError,
    TokenFile,
    TokenSource,
    find_token_source,
)

__version__ = "0.1.0"

__all__ = [
    "EnvVarToken",
    "GitHubActionsToken",
    "OidcError",
    "TokenFile",
    "TokenSource",
    "__version__",
    "find_token_source",
]
