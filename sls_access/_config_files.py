"""The AWS config and credentials files, parsed once per content of the files and shared.

A botocore session parses both files the first time it reads its configuration
(``Session.full_config``), and a new session per call parses them again each time.
:func:`full_config` returns what botocore's ``full_config`` would, parsed by botocore's own
functions, from a copy of the last parse of the same two paths while both files hold the
same bytes. The files are read on every call (two small reads, a fraction of a parse) and
compared with the bytes that parse was made from: no rule about file times or clocks (a
rewrite within one tick of a file system's clock, a server whose clock is behind) can
hand a session an old parse. A parse is kept only when the files read the same before and
after it. Each session gets its own copy of the nested dicts (botocore updates them in
place when it merges the credentials file's profiles, and callers may change theirs).
"""

from __future__ import annotations

import copy
import os
import stat
import threading
from typing import Any

import botocore.session

__all__ = ["full_config"]

_Content = tuple[bytes | None, bytes | None]
_lock = threading.Lock()
# (config file path, credentials file path) -> (their bytes, the parse); one version per pair.
_parsed: dict[tuple[str, str], tuple[_Content, dict[str, Any]]] = {}
_MAX_PAIRS = 8


def _expanded(path: str) -> str:
    # As botocore.configloader.raw_config_parse names the file it reads.
    return os.path.expanduser(os.path.expandvars(path))


class _NotAFile(Exception):
    """A FIFO, a device, a directory: botocore's own way, unshared (and never opened here)."""


def _read(path: str) -> bytes | None:
    # As botocore reads it: a missing path is no file (raw_config_parse's isfile).
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _NotAFile(path)
        with open(path, "rb") as file:
            return file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _contents(key: tuple[str, str]) -> _Content | None:
    try:
        return _read(key[0]), _read(key[1])
    except (_NotAFile, OSError):  # not a regular file, or unreadable: botocore reports what it finds
        return None


def _own(tree: dict[str, Any]) -> dict[str, Any]:
    # A copy of the nested dicts; the strings in them are immutable and shared.
    return {key: _own(value) if isinstance(value, dict) else value if isinstance(value, str)
            else copy.deepcopy(value) for key, value in tree.items()}


def full_config(session: botocore.session.Session) -> dict[str, Any]:
    """Return what ``botocore.session.Session.full_config`` computes for *session*, shared while the files stay.

    The caller stores the result as the session's own (it is a copy).
    """
    config_file = session.get_config_variable("config_file")
    credentials_file = session.get_config_variable("credentials_file")
    if not isinstance(config_file, str) or not isinstance(credentials_file, str):
        return _parse(session)
    key = (_expanded(config_file), _expanded(credentials_file))
    before = _contents(key)
    if before is None:
        return _parse(session)
    kept = _parsed.get(key)
    if kept is not None and kept[0] == before:
        return _own(kept[1])
    config = _parse(session)
    if _contents(key) == before:  # parsed from these bytes, not from a later change
        with _lock:
            if len(_parsed) >= _MAX_PAIRS and key not in _parsed:
                _parsed.clear()
            _parsed[key] = (before, _own(config))
    return config


def _parse(session: botocore.session.Session) -> dict[str, Any]:
    # botocore's own full_config, on a session whose _config is still unset.
    config: dict[str, Any] = botocore.session.Session.full_config.fget(session)  # type: ignore[attr-defined]
    return config
