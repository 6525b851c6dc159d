"""The AWS config and credentials files, parsed once per version of the files and shared.

A botocore session parses both files the first time it reads its configuration
(``Session.full_config``), and a new session per call parses them again each time.
:func:`full_config` returns what botocore's ``full_config`` would, parsed by botocore's own
functions, from a copy of the last parse of the same two paths when both files are still
what they were: each file's stamp (device, inode, size, modification and change times in
nanoseconds, or "absent") is taken before it is parsed and compared on every call, so a
changed, replaced, created or removed file is parsed again by the next session.

A file changed within the same tick of the file system's clock as the parse could keep its
stamp; so a parse is kept only when both files were last changed more than
:data:`SETTLED` seconds before it (git's "racily clean" rule). Each session gets its own
copy of the nested dicts (botocore updates them in place when it merges the credentials
file's profiles, and callers may change theirs).
"""

from __future__ import annotations

import copy
import os
import threading
import time
from typing import Any

import botocore.session

__all__ = ["SETTLED", "full_config"]

#: Seconds since a file's last change after which its parse may be shared.
SETTLED = 2.0

_Stamp = tuple[int, int, int, int, int] | None
_lock = threading.Lock()
# (config file path, credentials file path) -> (their stamps, the parse); one version per pair.
_parsed: dict[tuple[str, str], tuple[tuple[_Stamp, _Stamp], dict[str, Any]]] = {}
_MAX_PAIRS = 8


def _expanded(path: str) -> str:
    # As botocore.configloader.raw_config_parse names the file it reads.
    return os.path.expanduser(os.path.expandvars(path))


def _stamp(path: str) -> _Stamp:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(stamp: _Stamp, now_ns: int) -> bool:
    return stamp is None or now_ns - max(stamp[3], stamp[4]) > SETTLED * 1e9


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
    try:
        stamps = (_stamp(key[0]), _stamp(key[1]))
    except OSError:  # unreadable metadata: no sharing, botocore reports what it finds
        return _parse(session)
    kept = _parsed.get(key)
    if kept is not None and kept[0] == stamps:
        return _own(kept[1])
    config = _parse(session)
    if _settled(stamps[0], time.time_ns()) and _settled(stamps[1], time.time_ns()):
        with _lock:
            if len(_parsed) >= _MAX_PAIRS and key not in _parsed:
                _parsed.clear()
            _parsed[key] = (stamps, _own(config))
    return config


def _parse(session: botocore.session.Session) -> dict[str, Any]:
    # botocore's own full_config, on a session whose _config is still unset.
    config: dict[str, Any] = botocore.session.Session.full_config.fget(session)  # type: ignore[attr-defined]
    return config
