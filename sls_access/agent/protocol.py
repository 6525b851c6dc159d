"""The agent's protocol and socket: one JSON object per line each way, one request per connection.

Imports the standard library only: the ``credential-process`` client loads this module
and must stay light.

A request is ``{"v": 2, "op": OP, ...}``:

- ``credential-process``: ``argv`` (the command's arguments after its name), ``env``
  (the caller's whole environment) and ``cwd`` (its working directory); the answer is
  ``{"code": N, "stdout": TEXT, "stderr": TEXT}``: what the command would have printed,
  and its exit code;
- ``status``: the answer describes the agent (pid, counts, idle timeout), no secret;
- ``stop``: the agent answers ``{"stopping": true}`` and exits.

Until its answer is ready, the agent sends ``{"wait": true}`` (:data:`WAIT`) every
second (:data:`PROGRESS_INTERVAL`) to a client of version 2: a client that hears nothing
for :data:`PROGRESS_TIMEOUT` seconds (a stopped or wedged agent) gives up and resolves
in-process, while a slow resolution that the agent is still working on is waited for. A
version-1 request gets the answer alone. An answer ``{"in_process": true}`` tells the
client to resolve in-process (the agent is busy with another caller's resolution).

The socket is ``$XDG_RUNTIME_DIR/sls-access/agent.sock``, else
``$XDG_CACHE_HOME/sls-access/agent.sock`` (default ``~/.cache``): the directory is the
user's own and 0700, the socket 0600, and both sides check the other's uid
(``SO_PEERCRED``, Linux). The runtime or cache directory it is in must be the user's own
too (:func:`check_base`): root with another user's ``HOME`` uses no agent.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import sys

TYPE_CHECKING = False  # not typing's: its import costs the client milliseconds
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AGENT_VARIABLE",
    "MAX_MESSAGE",
    "PROGRESS_INTERVAL",
    "PROGRESS_TIMEOUT",
    "SOCKET_NAME",
    "VERSION",
    "WAIT",
    "AgentUnavailable",
    "LineReader",
    "agent_enabled",
    "check_base",
    "check_peer",
    "decode",
    "encode",
    "peer_uid",
    "private_dir",
    "read_line",
    "socket_dir",
    "socket_path",
    "supported",
]

VERSION = 2
AGENT_VARIABLE = "SLS_ACCESS_AGENT"
SOCKET_NAME = "agent.sock"
LOCK_NAME = "agent.lock"
MAX_MESSAGE = 4 * 1024 * 1024
"""The longest line either side reads (a request carries the caller's whole environment)."""
WAIT = b'{"wait":true}\n'
"""The line the agent sends while an answer is not ready yet (to a version-2 client)."""
PROGRESS_INTERVAL = 1.0
"""Seconds between the agent's :data:`WAIT` lines."""
PROGRESS_TIMEOUT = 5.0
"""Seconds a client waits for any line (an answer or :data:`WAIT`) before giving up on the agent."""

# sockaddr_un.sun_path is 108 bytes on Linux, with the terminating NUL.
_MAX_SOCKET_PATH = 107
_OFF = frozenset({"off", "0", "false", "no"})


class AgentUnavailable(Exception):
    """The agent cannot be used: no socket, a socket that is not the user's own, a broken answer."""


def supported() -> bool:
    """Return whether this platform can check a peer's uid (``SO_PEERCRED``: Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_PEERCRED")


def agent_enabled(environ: Mapping[str, str]) -> bool:
    """Return whether ``credential-process`` may use the agent (``SLS_ACCESS_AGENT`` is not ``off``)."""
    return environ.get(AGENT_VARIABLE, "").strip().lower() not in _OFF and supported()


def socket_dir(environ: Mapping[str, str]) -> str:
    """Return the agent's directory: ``$XDG_RUNTIME_DIR/sls-access``, else the user's cache dir's.

    Relative values of the variables are ignored, as the XDG specification says.
    """
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        return os.path.join(runtime, "sls-access")
    cache = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        cache = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "sls-access")


def socket_path(environ: Mapping[str, str]) -> str:
    """Return the agent's socket path; :class:`AgentUnavailable` when it is too long for a Unix socket."""
    path = os.path.join(socket_dir(environ), SOCKET_NAME)
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise AgentUnavailable(f"the agent's socket path is longer than {_MAX_SOCKET_PATH} bytes: {path}")
    return path


def check_base(path: str) -> None:
    """Raise :class:`AgentUnavailable` unless the directory that holds the agent's *path* is this user's own.

    That is the runtime or cache directory (*path*'s parent) or, when it does not exist
    yet, the directory it would be created in (the home, for ``~/.cache``): it must belong
    to the effective uid. root with another user's ``HOME`` (``sudo -E``, a CI step with
    ``HOME=/home/ci``) must not create root-owned directories and a socket in that user's
    home, nor use a socket found there: it resolves in-process.
    """
    euid = os.geteuid()
    base = os.path.dirname(path)
    for candidate in (base, os.path.dirname(base)):
        try:
            info = os.stat(candidate)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise AgentUnavailable(f"{candidate}: {exc.strerror}") from None
        if info.st_uid != euid:
            raise AgentUnavailable(
                f"{candidate} belongs to uid {info.st_uid}, not to this user (uid {euid}); "
                "no agent is used or started there"
            )
        return
    raise AgentUnavailable(f"neither {base} nor its parent exists")


def private_dir(path: str, *, create: bool) -> None:
    """Check that *path* is a directory of this user's that no one else can enter; create it with *create*.

    Raise :class:`AgentUnavailable` otherwise: a socket in a directory that someone else
    controls could be theirs, and hand out their keys. ``FileNotFoundError`` when it does
    not exist (and is not to be created).
    """
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise AgentUnavailable(f"cannot create {path}: {exc.strerror}") from None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise  # no agent has run here: the caller may start one
    except OSError as exc:
        raise AgentUnavailable(f"{path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise AgentUnavailable(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise AgentUnavailable(f"{path} belongs to uid {info.st_uid}, not to this user")
    if info.st_mode & 0o077:
        if not create:
            raise AgentUnavailable(f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o})")
        os.chmod(path, 0o700)


def peer_uid(sock: socket.socket) -> int:
    """Return the uid of the process at the other end of the Unix socket *sock* (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def check_peer(uid: int, own: int | None = None) -> None:
    """Raise :class:`AgentUnavailable` unless *uid* is this user's (*own*, default ``os.getuid()``)."""
    expected = os.getuid() if own is None else own
    if uid != expected:
        raise AgentUnavailable(f"the peer runs as uid {uid}, not as this user (uid {expected})")


def encode(message: Mapping[str, object]) -> bytes:
    """Return *message* as one line of JSON."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, object]:
    """Return the JSON object on *line*; :class:`AgentUnavailable` when it is not one."""
    try:
        message = json.loads(line)
    except ValueError:
        raise AgentUnavailable("not a JSON line") from None
    if not isinstance(message, dict):
        raise AgentUnavailable("not a JSON object")
    return message


class LineReader:
    """Reads the lines of one connection, each up to :data:`MAX_MESSAGE` bytes; its end also ends a line."""

    __slots__ = ("_buffer", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def line(self) -> bytes:
        """Return the next line, without its newline.

        :class:`AgentUnavailable` when the connection closes before one, or it is too
        long; ``TimeoutError`` (the socket's timeout) when it does not come in time.
        """
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > MAX_MESSAGE:
                raise AgentUnavailable(f"a message longer than {MAX_MESSAGE} bytes")
            chunk = self._sock.recv(65536)
            if not chunk:
                if not self._buffer:
                    raise AgentUnavailable("the connection closed without a message")
                line = bytes(self._buffer)
                self._buffer.clear()
                return line
            self._buffer += chunk


def read_line(sock: socket.socket) -> bytes:
    """Read one line (up to :data:`MAX_MESSAGE` bytes) from *sock*; the connection's end also ends it."""
    return LineReader(sock).line()
