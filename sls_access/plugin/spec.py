"""The hook specifications: every hook a plugin may implement.

Each hook is prefixed ``sls_access_``; an implementation may accept any subset of the
parameters, by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

from sls_access.plugin import NAME

if TYPE_CHECKING:
    from sls_access._options import Options
    from sls_access.sources import Source

_spec = pluggy.HookspecMarker(NAME)


@_spec
def sls_access_sources(options: Options) -> Iterable[Source]:
    """Return the credential sources this plugin adds to the chain.

    Called once per :class:`~sls_access.Resolver`, when it first resolves. Sources of
    third-party plugins go after ``dashboard`` and before ``env`` unless the
    ``sources`` option orders the chain.

    :param options: the resolver's options (the dashboard access key is in
        ``options.access_key``; never log it).
    :return: source objects, each with a unique ``name`` and a ``load(target)`` method.
    """
    raise NotImplementedError
