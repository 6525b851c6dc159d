"""Dashboard access keys: created once, stored only as hashes, in a file beside the dashboard.

A key reads ``sls_<id>_<secret>``: ``id`` is 12 hex characters that name the record (so a
lookup needs no secret comparison), ``secret`` is 32 random bytes (256 bits), URL-safe
base64. The file holds each key's SHA-256 (a fast hash is enough for a key of that
entropy: nobody can guess one to test against it), never the key.

The key file is JSON, ``<dashboard stem>.keys.json`` beside the dashboard file by
default, written atomically (a new file renamed over the old, mode 0600) under an
exclusive lock, so the user's dashboard file is never touched. The server re-reads it as
soon as it changes (it checks the file's identity on every request), so a revoked key is
refused at once, by every worker and every replica that shares the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from sls_access._atomic import OwnerError, replace_file, writers_lock
from sls_access._values import iso_utc, name_problem, parse_iso_utc
from sls_access._watched import WatchedFile
from sls_access.errors import ConfigError

__all__ = [
    "MAX_KEY",
    "AccessKey",
    "KeyFile",
    "KeyStore",
    "check_name",
    "check_role",
    "default_keys_path",
    "hash_key",
    "key_id",
    "new_key",
    "presented_key",
]

FORMAT_VERSION = 1
MAX_BYTES = 4 << 20
# Matched whole (fullmatch) and in ASCII: no trailing newline, no non-ASCII digit.
_KEY = re.compile(r"sls_([0-9a-f]{12})_([A-Za-z0-9_-]{43})", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
_HASH = re.compile(r"[0-9a-f]{64}", re.ASCII)


def default_keys_path(dashboard: str | os.PathLike[str]) -> Path:
    """Return the key file that belongs to the dashboard file *dashboard*."""
    path = Path(dashboard)
    return path.with_name(f"{path.stem}.keys.json")


def key_id(key: str) -> str | None:
    """Return the public id of *key* when it has the form of an access key, else None (no check)."""
    found = _KEY.fullmatch(key)
    return found.group(1) if found else None


MAX_KEY = 512
"""The longest access key presented that is looked up at all (a key is 60 characters; more is a guess)."""


def presented_key(values: Sequence[bytes]) -> str | None:
    """Return the access key in the request's ``Authorization`` header *values* (``Bearer KEY`` or ``KEY``).

    None when there is no header or it is empty.

    :raises ValueError: more than one ``Authorization`` header (which one would count is ambiguous).
    """
    if len(values) > 1:
        raise ValueError("more than one Authorization header")
    if not values:
        return None
    text = values[0].decode("latin-1").strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text or None


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of *key*, the only form in which a key is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(value: str, what: str) -> str:
    """Return *value* when it is a valid key name (or, for ``what="org"``, org name), else raise.

    An org name follows the one rule every org, app and stage name follows
    (:func:`sls_access._values.name_problem`); a key's name is stricter, since it names
    the key in audit lines and STS role sessions.
    """
    if what == "org":
        problem = name_problem(value)
        if problem is not None:
            raise ConfigError(f"not a valid org name: {problem}", key=what)
        return value
    if not _NAME.fullmatch(value):
        raise ConfigError(
            f"{value[:80]!r} is not a valid {what}: 1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit",
            key=what,
        )
    return value


def check_role(role: str) -> str:
    """Return *role* when it is ``deploy`` or ``admin``, else raise :class:`~sls_access.ConfigError`."""
    if role not in {"deploy", "admin"}:
        raise ConfigError(f"{role[:40]!r} is not a key role: 'deploy' or 'admin'", key="role")
    return role


def new_key(key_id: str) -> str:
    """Return a new access key with the public id *key_id* (12 hex characters) and 256 random bits."""
    return f"sls_{key_id}_{secrets.token_urlsafe(32)}"


@attrs.frozen(kw_only=True)
class AccessKey:
    """One access key's record: who it is for and its hash (never the key itself)."""

    id: str
    org: str
    name: str
    created: datetime
    sha256: str = attrs.field(repr=False)
    revoked: datetime | None = None
    role: str = "deploy"
    """``deploy`` (vends credentials) or ``admin`` (the admin API and UI; vends nothing)."""
    last_used: datetime | None = attrs.field(default=None, eq=False)
    """When the key last authenticated a request (as the state last heard; None: never)."""

    def to_json(self) -> dict[str, str]:
        """Return the record as stored in the key file."""
        record = {
            "id": self.id,
            "org": self.org,
            "name": self.name,
            "created": iso_utc(self.created),
            "sha256": self.sha256,
        }
        if self.revoked is not None:
            record["revoked"] = iso_utc(self.revoked)
        if self.role != "deploy":
            record["role"] = self.role
        return record

    def to_public_json(self) -> dict[str, str | None]:
        """Return the record as listed to people (``keys list``, the admin API): never the hash."""
        return {
            "id": self.id,
            "org": self.org,
            "name": self.name,
            "role": self.role,
            "created": iso_utc(self.created),
            "revoked": None if self.revoked is None else iso_utc(self.revoked),
            "last_used": None if self.last_used is None else iso_utc(self.last_used),
        }


@attrs.frozen
class KeyFile:
    """The parsed key file: records by id."""

    keys: Mapping[str, AccessKey]

    def match(self, key: str) -> AccessKey | None:
        """Return the record *key* belongs to, or None; the secret part is compared in constant time."""
        found = _KEY.fullmatch(key)
        record = self.keys.get(found.group(1)) if found else None
        # Hash and compare even when there is no such record, so that timing tells nothing.
        expected = record.sha256 if record is not None else "0" * 64
        return record if hmac.compare_digest(hash_key(key), expected) and record is not None else None


EMPTY = KeyFile({})


def _parse(raw: bytes, where: str) -> KeyFile:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not a valid key file: {exc}", path=where) from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or not isinstance(data.get("keys"), list):
        raise ConfigError(f'not a key file (expected {{"version": {FORMAT_VERSION}, "keys": [...]}})', path=where)
    keys: dict[str, AccessKey] = {}
    for index, item in enumerate(data["keys"]):
        try:
            revoked = item.get("revoked")
            record = AccessKey(
                id=item["id"],
                org=item["org"],
                name=item["name"],
                created=parse_iso_utc(item["created"]),
                sha256=item["sha256"],
                revoked=None if revoked is None else parse_iso_utc(revoked),
                role=item.get("role", "deploy"),
            )
            ok = (
                re.fullmatch(r"[0-9a-f]{12}", record.id)
                and _HASH.fullmatch(record.sha256)
                and isinstance(record.org, str)
                and isinstance(record.name, str)
                and record.role in {"deploy", "admin"}
            )
        except (KeyError, TypeError, ValueError):
            ok = None
        if not ok:
            raise ConfigError("malformed key record", path=where, key=f"keys[{index}]")
        keys[record.id] = record
    return KeyFile(keys)


class KeyStore:
    """Reads (and for the CLI, writes) the key file; cheap to ask on every request.

    :meth:`current` checks the file's identity (inode, size, mtime) with one ``stat``
    and re-reads it only when it changed. A missing file means no keys.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._watched = WatchedFile(self.path, lambda _path: self._read(), missing=lambda: EMPTY)

    def current(self) -> KeyFile:
        """Return the keys as the file holds them now."""
        try:
            return self._watched.current()
        except OSError as exc:
            raise ConfigError(f"cannot read the key file: {exc.strerror}", path=str(self.path)) from None

    def _read(self) -> KeyFile:
        try:
            with self.path.open("rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return EMPTY
        except OSError as exc:
            raise ConfigError(f"cannot read the key file: {exc.strerror}", path=str(self.path)) from None
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"the key file is larger than {MAX_BYTES} bytes", path=str(self.path))
        return _parse(raw, str(self.path))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with writers_lock(self.path):
                yield
        except OSError as exc:
            if exc.filename != str(self.path) + ".lock":
                raise
            raise ConfigError(f"cannot open the key file's lock: {exc.strerror}", path=exc.filename) from None

    def _write(self, keys: Mapping[str, AccessKey]) -> None:
        """Replace the key file atomically, keeping an existing file's owner, group and mode."""
        body: dict[str, Any] = {"version": FORMAT_VERSION, "keys": [k.to_json() for k in keys.values()]}
        try:
            replace_file(self.path, (json.dumps(body, indent=2) + "\n").encode())
        except OwnerError as exc:
            raise ConfigError(
                f"cannot keep the key file's owner (uid {exc.uid}, gid {exc.gid}): run "
                "'sls-access keys' as that user, so that the service can still read the file",
                path=str(self.path),
            ) from None

    def create(
        self, org: str, name: str, *, now: datetime | None = None, role: str = "deploy"
    ) -> tuple[AccessKey, str]:
        """Create a key for *org* named *name*; return its record and the key (shown once)."""
        check_name(org, "org")
        check_name(name, "name")
        check_role(role)
        with self._locked():
            keys = dict(self._read().keys)
            if any(k.org == org and k.name == name and k.revoked is None for k in keys.values()):
                raise ConfigError(
                    f"org {org!r} already has a key named {name!r} (revoke it first, or pick another name)",
                    path=str(self.path),
                    key="name",
                )
            key_id = secrets.token_hex(6)
            while key_id in keys:  # pragma: no cover - 48 random bits
                key_id = secrets.token_hex(6)
            key = new_key(key_id)
            created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            record = AccessKey(id=key_id, org=org, name=name, created=created, sha256=hash_key(key), role=role)
            keys[key_id] = record
            self._write(keys)
        return record, key

    def list(self, org: str | None = None, *, revoked: bool = False) -> list[AccessKey]:
        """Return the key records (of *org* only, when given), oldest first; revoked ones too with *revoked*."""
        records = [
            k for k in self._read().keys.values() if (org is None or k.org == org) and (revoked or k.revoked is None)
        ]
        return sorted(records, key=lambda k: (k.created, k.org, k.name))

    def revoke(self, org: str, name: str, *, now: datetime | None = None) -> AccessKey:
        """Revoke the key *name* of *org*; a server refuses it from its next request on.

        The record stays (its hash only), marked with when it was revoked, so that the
        service can say "revoked access key" and ``keys list --all`` can show it.
        """
        when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        with self._locked():
            keys = dict(self._read().keys)
            found = [k for k in keys.values() if k.org == org and k.name == name and k.revoked is None]
            if not found:
                raise ConfigError(f"org {org!r} has no key named {name!r}", path=str(self.path), key="name")
            for record in found:
                keys[record.id] = attrs.evolve(record, revoked=when)
            self._write(keys)
        return keys[found[0].id]
