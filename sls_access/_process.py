"""Run a block as another process would: with its environment and its working directory.

botocore's default chain, the ``env`` and ``profile`` sources, plugins and relative
paths read ``os.environ`` and the working directory, which belong to the whole process.
``credential-process`` changes the environment for its resolution (the loop guard,
``--base-profile``); the agent runs each cold resolution with its caller's environment
and directory (one at a time: see :mod:`sls_access.agent.server`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

__all__ = ["environ_as", "working_directory"]


@contextlib.contextmanager
def environ_as(environ: Mapping[str, str]) -> Iterator[None]:
    """Make ``os.environ`` hold exactly *environ* for the block, then put the old one back.

    Processes started in the block (botocore runs a profile's ``credential_process``)
    inherit it.
    """
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def working_directory(path: str) -> Iterator[None]:
    """Change to *path* for the block, then back."""
    saved = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)
