"""The per-user agent: resolvers and their caches held in memory, shared across processes.

- :mod:`sls_access.agent.protocol`: the JSON-lines protocol and the socket's place and
  checks, shared by both sides (standard library only);
- :mod:`sls_access.agent.client`: asks the agent, starting it on demand (standard
  library only: ``credential-process`` imports neither botocore nor attrs when the
  agent answers);
- :mod:`sls_access.agent.server`: the agent itself (``sls-access agent run``);
- :mod:`sls_access.agent.caller`: resolving as each caller would (its fingerprint, its
  dashboard, its environment and directory), one at a time and bounded;
- :mod:`sls_access.agent.reaper`: stopping the processes a resolution started.

This package's own import loads nothing else.
"""
