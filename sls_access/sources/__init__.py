"""The built-in credential sources, each a plugin module registered like any other.

(The built-in way into an access role, STS ``AssumeRole``, is not a source: it is the
plugin in :mod:`sls_access.role_entry`.)

- :mod:`~sls_access.sources.dashboard`: the deployment profile the dashboard links to
  the target, its access role entered through the ``sls_access_enter_role`` hook;
- :mod:`~sls_access.sources.env`: ``AWS_<STAGE>_*`` then ``AWS_*`` variables;
- :mod:`~sls_access.sources.profile`: AWS profiles.

:class:`Skip` and :class:`Source` are re-exported here for code written against
``sls_access.sources``; plugin authors import them from :mod:`sls_access.plugin`.
"""

from __future__ import annotations

from sls_access._source import Skip, Source

__all__ = ["Skip", "Source"]
