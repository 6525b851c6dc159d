"""The installed plugins' entry points, read without importlib.metadata where that is exact.

``importlib.metadata.entry_points(group=...)`` builds every installed distribution and
parses every ``entry_points.txt``, and its import costs milliseconds of its own (email,
zipfile, pathlib). Here the same answer is read straight from the ``*.dist-info`` and
``*.egg-info`` directories on ``sys.path``, with importlib.metadata's rules where they
matter:

- the directories of a ``sys.path`` entry are grouped by normalised name (PEP 503, dashes
  as underscores) in the order ``os.listdir`` gives them, as importlib.metadata's
  ``Lookup`` does;
- a distribution's first occurrence on ``sys.path`` wins (its ``_unique``);
- ``entry_points.txt`` is parsed as its ``Sectioned`` parser does (stripped lines, ``#``
  comments, ``[group]`` headers, ``name = value``), and the group's entry points keep
  their order.

Anything the scan cannot read exactly falls back to importlib.metadata itself, so that a
plugin is never missed (fail closed: a plugin that did not load could hand out another
account's keys): a ``sys.path`` entry that is not a string or not a plain directory (a
zip, an unreadable directory), an ``.egg`` directory, a metadata directory named in a way
importlib.metadata reads differently, a ``sys.meta_path`` finder other than the standard
``PathFinder`` that provides distributions, a malformed ``entry_points.txt`` or metadata
header (importlib.metadata then raises as it always did).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import os
import re
import sys
from collections.abc import Callable

__all__ = ["EntryPoint", "entry_points"]

log = logging.getLogger("sls_access.plugins")

_SUFFIXES = (".dist-info", ".egg-info")
# importlib.metadata.EntryPoint.pattern, to load a value the way it does.
_VALUE = r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$"
_READ_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


class EntryPoint:
    """One entry point of a group, with its distribution's name and version.

    A plain ``__slots__`` class rather than an attrs value class: it is made on the path
    of every process's first resolution, never compared, hashed or shown to users.
    """

    __slots__ = ("_load", "distribution", "name", "value", "version")

    def __init__(self, *, name: str, value: str, distribution: str | None, version: str | None,
                 load: Callable[[], object] | None = None) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution
        self.version = version
        self._load = load

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, distribution={self.distribution!r})"

    def load(self) -> object:
        """Import the module the value names and return it, or the object it names in it."""
        if self._load is not None:
            return self._load()
        match = re.match(_VALUE, self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        loaded: object = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            loaded = getattr(loaded, attr)
        return loaded


class _Unreadable(Exception):
    """The scan cannot give importlib.metadata's answer exactly: ask importlib.metadata."""


def entry_points(group: str) -> list[EntryPoint]:
    """Return the entry points of *group* as ``importlib.metadata.entry_points(group=group)`` would."""
    try:
        return scan(group)
    except _Unreadable as exc:
        log.debug("entry points read by importlib.metadata: %s", exc)
        return from_importlib_metadata(group)


def from_importlib_metadata(group: str) -> list[EntryPoint]:
    """Return the entry points of *group* from importlib.metadata itself (the fallback)."""
    import importlib.metadata  # noqa: PLC0415 - its import is what the scan saves

    found = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist
        found.append(EntryPoint(name=ep.name, value=ep.value, load=ep.load,
                                distribution=None if dist is None else dist.metadata["Name"],
                                version=None if dist is None else dist.version))
    return found


def scan(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """Return the entry points of *group* read from *path* (default ``sys.path``).

    :raises _Unreadable: where the answer could differ from importlib.metadata's.
    """
    _check_finders()
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path if path is None else path:
        for name, directory in _metadata_dirs(entry):
            if name in seen:
                continue
            seen.add(name)
            text = _read(directory, "entry_points.txt")
            pairs = [(key, value) for section, key, value in _sections(text or "") if section == group]
            if pairs:
                dist, version = _name_and_version(directory)
                found.extend(EntryPoint(name=key, value=value, distribution=dist, version=version)
                             for key, value in pairs)
    return found


def _check_finders() -> None:
    """Only the standard PathFinder may provide distributions (what importlib.metadata asks)."""
    if importlib.machinery.PathFinder not in sys.meta_path:
        raise _Unreadable("the standard PathFinder is not on sys.meta_path")
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            continue
        if getattr(finder, "find_distributions", None) is not None:
            raise _Unreadable(f"{finder!r} provides distributions")


def _normalize(name: str) -> str:
    """Return importlib.metadata's ``Prepared.normalize(name)``: PEP 503, then dashes as underscores."""
    if "-" not in name and "." not in name and "__" not in name:
        return name.lower()  # what the substitution below leaves it as
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata_dirs(entry: object) -> list[tuple[str, str]]:
    """Return the ``*.dist-info``/``*.egg-info`` paths of one ``sys.path`` entry, in importlib.metadata's order.

    Each with its distribution's normalised name: the same whether taken as importlib.metadata's
    ``Lookup`` takes it or as its ``PathDistribution._normalized_name`` does, once the
    suffix is checked to be lower case.
    """
    if not isinstance(entry, str):
        raise _Unreadable(f"sys.path entry {entry!r} is not a string")
    root = entry or "."
    try:
        children = os.listdir(root)
    except FileNotFoundError:
        return []  # importlib.metadata finds nothing there either (not a directory, not a zip)
    except OSError as exc:  # a zip file, or a directory it may read differently
        raise _Unreadable(f"sys.path entry {entry!r}: {exc}") from None
    if os.path.basename(entry).lower().endswith(".egg"):
        raise _Unreadable(f"sys.path entry {entry!r} is an egg")
    groups: dict[str, list[tuple[str, str]]] = {}
    for child in children:
        if not child.lower().endswith(_SUFFIXES):
            continue
        stem, suffix = os.path.splitext(child)
        name = _normalize(stem.partition("-")[0])
        if suffix not in _SUFFIXES or not name:  # FOO.DIST-INFO, -1.0.dist-info: named by their metadata there
            raise _Unreadable(f"metadata directory {child!r} in {entry!r}")
        groups.setdefault(name, []).append((name, os.path.join(entry, child)))
    return [found for paths in groups.values() for found in paths]


def _read(directory: str, filename: str) -> str | None:
    """Return a metadata file's text, or None where importlib.metadata's ``read_text`` gives None."""
    try:
        with open(os.path.join(directory, filename) if filename else directory, encoding="utf-8") as file:
            return file.read()
    except _READ_ERRORS:
        return None
    except (OSError, UnicodeError) as exc:
        raise _Unreadable(f"{directory}: {exc}") from None


def _sections(text: str) -> list[tuple[str, str, str]]:
    """``(group, name, value)`` of every entry, as importlib.metadata's ``Sectioned`` parses it."""
    entries = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is None:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise _Unreadable(f"malformed entry point line {line!r}")
        entries.append((section, key.strip(), value.strip()))
    return entries


def _name_and_version(directory: str) -> tuple[str | None, str | None]:
    """Return the ``Name`` and ``Version`` headers of a distribution's metadata, as importlib.metadata reads them."""
    text = _read(directory, "METADATA") or _read(directory, "PKG-INFO") or _read(directory, "")
    if not text:
        raise _Unreadable(f"{directory} has no metadata")
    headers: dict[str, str] = {}
    key = ""
    for line in text.split("\n"):  # read with universal newlines: the email parser's line ends
        if not line:
            break  # the end of the headers
        if line[0] in " \t":  # a folded header: its value goes on
            if key in {"name", "version"}:
                raise _Unreadable(f"{directory}: a folded {key} header")
            continue
        key, sep, value = line.partition(":")
        key = key.lower()
        if not sep or not key or line.startswith("From ") or not all("\041" <= char <= "\176" for char in key):
            raise _Unreadable(f"{directory}: a metadata header the email parser reads differently")
        headers.setdefault(key, value.lstrip(" \t"))
    return headers.get("name"), headers.get("version")
