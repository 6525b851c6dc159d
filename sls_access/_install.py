"""How to install an extra, said once: from a checkout, since sls-access is on no package index."""

from __future__ import annotations

__all__ = ["install_hint"]


def install_hint(extra: str) -> str:
    """Return the command that installs sls-access with *extra*, from its checkout.

    A bare project name would send pip to a package index, which does not have it.
    """
    return f"pip install '/path/to/sls-access[{extra}]' (the path of your sls-access checkout)"
