"""Edit a local dashboard file as a person would: comments and layout kept, written atomically.

Used by ``sls-access link``/``unlink``. The edit is made with tomlkit (a style-preserving
TOML library: the file's comments, order and spacing survive), then the *new* text is
checked with the strict parser of :mod:`sls_access.dashboard.file` before anything is
written. The write is atomic: a temporary file in the same directory, flushed to disk,
then renamed over the old one (its mode kept); the previous content is kept as
``FILE.bak`` (one backup: each write replaces it, atomically too). A file that cannot be
written is refused before any change. Writers serialise on the side file ``FILE.lock``
(:func:`locked`), held from the read to the write.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import tomllib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import attrs
import tomlkit  # the "link" extra: the CLI names it when it is missing

from sls_access._atomic import replace_file, writers_lock
from sls_access.dashboard.file import parse_dashboard_file
from sls_access.errors import ConfigError

__all__ = [
    "MASK",
    "FileChanged",
    "LinkSpec",
    "ProfileSpec",
    "backup_path",
    "check_writable",
    "decode",
    "diff",
    "link_profile",
    "links_using",
    "locked",
    "make_directory",
    "unlink_profile",
    "validate",
    "write_atomically",
]


class FileChanged(ConfigError):
    """The dashboard file changed after it was read (an editor, another writer): nothing was written."""


@attrs.frozen(kw_only=True)
class ProfileSpec:
    """A deployment profile as ``link`` writes it (see ``docs/reference/dashboard-file.md``)."""

    role_arn: str
    external_id: str = attrs.field(repr=False)
    account_id: str
    duration_seconds: int = 3600
    region: str | None = None
    sessions: str | None = None

    def values(self) -> dict[str, str | int]:
        """Return the profile's keys in the order they are written, absent ones left out."""
        items: dict[str, str | int | None] = {
            "role_arn": self.role_arn,
            "external_id": self.external_id,
            "account_id": self.account_id,
            "region": self.region,
            "duration_seconds": self.duration_seconds,
            "sessions": self.sessions,
        }
        return {key: value for key, value in items.items() if value is not None}


@attrs.frozen(kw_only=True)
class LinkSpec:
    """A stage link (stage + region when *region* is set) to the deployment profile."""

    app: str
    stage: str
    region: str | None = None

    def key(self, org: str) -> str:
        """Return the dotted key of the link's table."""
        base = f"orgs.{org}.apps.{self.app}.stages.{self.stage}"
        return base if self.region is None else f"{base}.regions.{self.region}"


def _super_table() -> Any:  # noqa: ANN401 - tomlkit's containers
    return tomlkit.table(is_super_table=True)


def _child(parent: Any, name: str) -> Any:  # noqa: ANN401 - tomlkit's containers
    """Return the table *name* in *parent*, made (as a header-less super table) when missing."""
    if name not in parent:
        parent[name] = _super_table()
    return parent[name]


def _leaf(values: dict[str, str | int]) -> Any:  # noqa: ANN401
    table = tomlkit.table()
    for key, value in values.items():
        table[key] = value
    table.add(tomlkit.nl())
    return table


def _parse(text: str, path: str) -> Any:  # noqa: ANN401
    try:
        return tomlkit.parse(text)
    except Exception as exc:  # noqa: BLE001 - tomlkit's parse errors have no common public base
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None


def links_using(text: str, path: str, org: str, profile: str) -> list[str]:
    """Return the dotted keys that link *profile* of *org* (org/app defaults, stages, regions)."""
    doc = _parse(text, path)
    body = doc.get("orgs", {}).get(org, {})
    found = [f"orgs.{org}"] if body.get("deployment_profile") == profile else []
    for app_name, app in body.get("apps", {}).items():
        app_key = f"orgs.{org}.apps.{app_name}"
        if app.get("deployment_profile") == profile:
            found.append(app_key)
        for stage_name, stage in app.get("stages", {}).items():
            stage_key = f"{app_key}.stages.{stage_name}"
            if stage.get("deployment_profile") == profile:
                found.append(stage_key)
            found.extend(
                f"{stage_key}.regions.{region}"
                for region, spec in stage.get("regions", {}).items()
                if spec.get("deployment_profile") == profile
            )
    return found


def link_profile(
    text: str, path: str, *, org: str, name: str, profile: ProfileSpec, link: LinkSpec | None, replace: bool
) -> str:
    """Return *text* with the deployment profile *name* of *org* set to *profile* (and *link* made).

    An existing profile with the same ``role_arn`` gets the keys of *profile* (``region`` and
    ``sessions`` only when set) and keeps its other keys and comments. An existing profile
    with another ``role_arn``, or a stage link to another profile, is a
    :class:`~sls_access.ConfigError` unless *replace* (then the profile is *profile* alone).
    """
    doc = _parse(text, path)
    profiles = _child(_child(_child(doc, "orgs"), org), "deployment_profiles")
    key = f"orgs.{org}.deployment_profiles.{name}"
    values = profile.values()
    existing = profiles.get(name)
    if existing is None:
        profiles[name] = _leaf(values)
    else:
        if existing.get("role_arn") != profile.role_arn and not replace:
            raise ConfigError(
                f"deployment profile {name!r} exists with another role "
                f"({existing.get('role_arn')}); pass --replace to replace it",
                path=path,
                key=key,
            )
        if existing.get("role_arn") != profile.role_arn:
            # --replace: another role, so the old role's other settings go with it.
            for stale in [k for k in existing if k not in values]:
                del existing[stale]
        # The same role: only the keys given change; the others (region, sessions, ...) and
        # their comments stay as the user wrote them.
        for field, value in values.items():
            existing[field] = value
    if link is not None:
        _link(doc, path, org, name, link, replace=replace)
    return tomlkit.dumps(doc)


def _link(doc: Any, path: str, org: str, name: str, link: LinkSpec, *, replace: bool) -> None:  # noqa: ANN401
    stages = _child(_child(_child(_child(doc, "orgs"), org), "apps"), link.app)
    stages = _child(stages, "stages")
    parent, leaf_name = (
        (stages, link.stage) if link.region is None else (_child(_child(stages, link.stage), "regions"), link.region)
    )
    table = parent.get(leaf_name)
    if table is None:
        parent[leaf_name] = _leaf({"deployment_profile": name})
        return
    current = table.get("deployment_profile")
    if current not in (None, name) and not replace:
        raise ConfigError(
            f"already linked to deployment profile {current!r}; pass --replace to link {name!r} instead",
            path=path,
            key=link.key(org),
        )
    table["deployment_profile"] = name


def unlink_profile(text: str, path: str, *, org: str, name: str) -> str:
    """Return *text* without the deployment profile *name* of *org*.

    A profile that does not exist, or that links still use (listed), is a
    :class:`~sls_access.ConfigError`.
    """
    key = f"orgs.{org}.deployment_profiles.{name}"
    doc = _parse(text, path)
    profiles = doc.get("orgs", {}).get(org, {}).get("deployment_profiles", {})
    if name not in profiles:
        raise ConfigError("no such deployment profile", path=path, key=key)
    users = links_using(text, path, org, name)
    if users:
        raise ConfigError(
            f"deployment profile {name!r} is still linked from {', '.join(users)}; "
            "link those to another profile (or remove them) first",
            path=path,
            key=key,
        )
    del profiles[name]
    return tomlkit.dumps(doc)


def validate(text: str, path: str) -> None:
    """Check *text* with the strict dashboard file parser; a problem is a :class:`~sls_access.ConfigError`."""
    parse_dashboard_file(text.encode("utf-8"), path)


MASK = "…"
"""What :func:`diff` shows instead of an external ID."""


def _external_ids(text: str) -> set[str]:
    """Return every ``external_id`` string in the TOML *text*, whatever its layout (None: not TOML)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "external_id" and isinstance(item, str):
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(tomllib.loads(text))
    return found


def _masked(text: str, secrets: Collection[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # a longer one first: no part of it is left
        text = text.replace(secret, MASK)
    return text


def diff(old: str, new: str, path: str, *, shown: Collection[str] = ()) -> str:
    """Return the unified diff from *old* to *new* (empty when equal), external IDs masked.

    Every ``external_id`` value of either side, wherever it stands (a table, an inline
    table, a dotted key, a multi-line string), is shown as ``…`` on both sides unless it is
    one of *shown* (a placeholder that is no secret). Both sides must be TOML.
    """
    secrets = (_external_ids(old) | _external_ids(new)) - set(shown)
    return "".join(
        difflib.unified_diff(
            _masked(old, secrets).splitlines(keepends=True),
            _masked(new, secrets).splitlines(keepends=True),
            fromfile=f"{path} (now)",
            tofile=f"{path} (after link)",
        )
    )


def decode(content: bytes, path: str) -> str:
    """Return the dashboard file's *content* as text; not UTF-8 is a :class:`~sls_access.ConfigError`."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); nothing was changed", path=path) from None


def backup_path(path: Path) -> Path:
    """Return where the previous content of *path* is kept: ``FILE.bak`` beside it."""
    return path.with_name(path.name + ".bak")


def _nearest_existing(directory: Path) -> Path:
    while not directory.exists() and directory.parent != directory:
        directory = directory.parent
    return directory


def check_writable(path: Path) -> None:
    """Refuse, before any change, a dashboard file (or the directory of a new one) that cannot be written.

    A file without any write permission bit is read-only for sls-access even to root:
    someone made it so on purpose. For a directory that does not exist yet, the nearest
    existing parent must be writable (the write creates the rest).
    """
    if path.exists():
        mode = path.stat().st_mode
        if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(
                "the dashboard file is read-only: nothing was changed (make it writable, or use --dashboard FILE)",
                path=str(path),
            )
    directory = _nearest_existing(path.parent)
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"the directory {directory} is not writable: nothing was changed", path=str(path))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the writers' lock of the dashboard file *path*: ``FILE.lock``, from the read to the write.

    See :func:`~sls_access._atomic.writers_lock`. The directory is made (0700) when missing.
    """
    make_directory(path.parent)
    try:
        with writers_lock(path):
            yield
    except OSError as exc:
        if exc.filename != str(path) + ".lock":
            raise
        raise ConfigError(f"cannot open the dashboard file's lock: {exc.strerror}", path=exc.filename) from None


def make_directory(directory: Path) -> None:
    """Make the directory of a new dashboard file: the last level 0700 (parents as the umask says)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot make the directory {directory}: {exc.strerror}; nothing was changed", path=str(directory)
        ) from None


def write_atomically(path: Path, text: str, *, previous: bytes | None) -> Path | None:
    """Replace *path* with *text* atomically, keeping its mode; return the backup of *previous*.

    The file must still hold *previous* (None: must not exist yet); a file changed since it
    was read is refused (:class:`FileChanged`), so that no concurrent edit is lost.
    """
    try:
        now: bytes | None = path.read_bytes()
    except FileNotFoundError:
        now = None
    if now != previous:
        raise FileChanged(
            "the dashboard file changed while linking; nothing was written (run link again)", path=str(path)
        )
    mode = stat.S_IMODE(path.stat().st_mode) if previous is not None else 0o600
    make_directory(path.parent)
    backup = None
    if previous is not None:
        backup = backup_path(path)
        replace_file(backup, previous, mode=mode)
    replace_file(path, text.encode("utf-8"), new_mode=mode)  # an existing file keeps its mode and owner
    return backup
