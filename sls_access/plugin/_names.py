"""The pluggy project name and the markers, apart so that the spec can import them."""

from __future__ import annotations

import pluggy

__all__ = ["NAME", "hookimpl", "hookspec"]

NAME = "sls_access"
"""The pluggy project name and the entry-point group plugins are found in."""

hookimpl = pluggy.HookimplMarker(NAME)
"""Marks a function as an implementation of an sls-access hook."""

hookspec = pluggy.HookspecMarker(NAME)
"""Marks a hook specification (used by :mod:`sls_access.plugin.spec` only)."""
