"""Dashboard backends: where the org/app/stage → deployment profile links come from.

- :mod:`sls_access.dashboard.file`: the local TOML dashboard file (the embedded default).
"""

from __future__ import annotations

from sls_access.dashboard.model import DeploymentProfile, Link

__all__ = ["DeploymentProfile", "Link"]
