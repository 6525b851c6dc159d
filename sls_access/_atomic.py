"""Replacing a file atomically: a reader sees the old file or the new one, never half of one.

The new bytes go to a temporary file in the same directory (named ``.tmp-NAME.*``), are
flushed and fsynced, get the mode (and, where it can be kept, the owner and group) of the
file they replace, and are renamed over it; the directory is then fsynced so that the
rename survives a crash. A temporary file left by a writer that crashed can be removed
with :func:`remove_orphans` by the next writer, under the writers' lock (:func:`writers_lock`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TEMP_PREFIX", "OwnerError", "fsync_directory", "remove_orphans", "replace_file", "writers_lock"]

TEMP_PREFIX = ".tmp-"


class OwnerError(PermissionError):
    """The replaced file belongs to another user or group, and this process cannot keep that.

    :ivar uid: the owner to keep.
    :ivar gid: the group to keep.
    """

    def __init__(self, uid: int, gid: int) -> None:
        super().__init__(f"cannot keep the file's owner (uid {uid}, gid {gid})")
        self.uid = uid
        self.gid = gid


def fsync_directory(path: Path) -> None:
    """Make a rename in the directory *path* durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - not POSIX
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphans(path: Path) -> None:
    """Remove the temporary files that writers of *path* left when they crashed mid-write.

    Call it only while holding the lock that serialises the writers of *path*.
    """
    for orphan in path.parent.glob(f"{TEMP_PREFIX}{path.name}.*"):
        with contextlib.suppress(OSError):
            orphan.unlink()


def replace_file(
    path: Path, data: bytes, *, new_mode: int = 0o600, mode: int | None = None, keep_owner: bool = True
) -> None:
    """Replace *path* with *data* atomically.

    :param new_mode: the mode of the file when *path* does not exist yet.
    :param mode: the mode to set in any case; None keeps an existing file's mode.
    :param keep_owner: keep an existing file's owner and group (a file ``root`` rewrites
        for a service account stays the service account's).
    :raises OwnerError: the owner or group cannot be kept; *path* is unchanged.
    :raises OSError: the file could not be written; *path* is unchanged.
    """
    try:
        before: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        before = None
    fd, temporary = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(
                handle.fileno(),
                mode if mode is not None else new_mode if before is None else stat.S_IMODE(before.st_mode),
            )
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_owner and before is not None and (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(temporary, before.st_uid, before.st_gid)
            except PermissionError:
                raise OwnerError(before.st_uid, before.st_gid) from None
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


@contextlib.contextmanager
def writers_lock(path: Path) -> Iterator[None]:
    """Hold the writers' lock of *path*: an exclusive ``flock`` of the side file ``PATH.lock``.

    Writers that read, change and replace *path* hold it from the read to the replace, so
    that none loses another's change; temporary files a crashed writer left are removed
    once it is held. The lock file is made 0600 and opened with ``O_NOFOLLOW``: a lock file
    planted as a symlink must not make a writer create or open a file elsewhere. It stays
    (removing a lock file races with the next writer). Where there is no ``flock`` (not
    POSIX), writers are not serialised.

    :raises OSError: the lock file cannot be opened.
    """
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "r+") as lock:
        try:
            import fcntl  # noqa: PLC0415 - POSIX only
        except ImportError:  # pragma: no cover
            yield
            return
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            remove_orphans(path)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
