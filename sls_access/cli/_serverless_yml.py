"""The target a Serverless Framework service names: ``./serverless.yml`` and the Framework's own flags.

``sls-access exec -- serverless deploy --stage prod`` in a service directory needs no
target flags:

- org and app: the file's top-level ``org:`` and ``app:``, or ``custom.slsAccess.org`` /
  ``custom.slsAccess.app`` (for services that drop the top-level keys, which turn on the
  Framework's own Dashboard integration); both spelled and different is an error;
- stage: the child's ``--stage X`` / ``--stage=X`` (``-s X`` when the child is the
  Framework), else ``provider.stage``, else ``dev`` (the Framework's default);
- region: the child's ``--region`` (``-r`` for the Framework), else ``provider.region``,
  else none.

Flags given to sls-access win, each on its own. Only literal values are used: a
``${…}`` variable in a value that would be used is a :class:`~sls_access.ConfigError`
asking for the flag, except ``${opt:stage, 'dev'}``-style defaults of the very option
being read, which mean their default when the child does not pass the option.
CloudFormation tags (``!Ref``, ``!GetAtt``, ``!Sub``…) anywhere in the file are read as
plain values. PyYAML comes with the ``serverless`` extra.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from sls_access._install import install_hint
from sls_access.errors import ConfigError

__all__ = [
    "FILE_NAMES",
    "MAX_BYTES",
    "ServiceTarget",
    "child_option",
    "child_words",
    "framework_profile",
    "is_framework",
    "passes_aws_profile",
    "read_service_target",
    "service_file",
]

FILE_NAMES = ("serverless.yml", "serverless.yaml")
MAX_BYTES = 4 * 1024 * 1024
FRAMEWORK_COMMANDS = frozenset({"serverless", "sls", "osls"})
# Commands that run another one named after their own options: npx --yes serverless …
_LAUNCHERS = frozenset({"npx", "pnpx", "bunx", "node", "npm", "pnpm", "yarn", "bun"})
# A launcher's sub-commands that do the same: npm exec --yes serverless, pnpm dlx serverless.
_LAUNCHER_COMMANDS = frozenset({"exec", "dlx", "x", "run"})
_VARIABLE = re.compile(r"\$\{")
# ${opt:stage, 'dev'} / ${opt:stage, "dev"} / ${opt:region, us-east-1}: the option's own default.
_OPT_DEFAULT = re.compile(r"""^\$\{\s*opt:(?P<name>[a-z]+)\s*,\s*(?P<q>['"]?)(?P<value>[\w.-]+)(?P=q)\s*\}$""")
_INSTALL_HINT = f"{install_hint('serverless')}, or pass --org/--app/--stage"


@attrs.frozen(kw_only=True)
class ServiceTarget:
    """A target completed from a service file: each field from the flags, the child or the file."""

    org: str
    app: str
    stage: str
    region: str | None
    path: Path


def service_file(directory: Path) -> Path | None:
    """Return the ``serverless.yml`` (or ``.yaml``) in *directory* (not its parents), or None."""
    for name in FILE_NAMES:
        path = directory / name
        if path.is_file():
            return path
    return None


def _load(path: Path) -> Mapping[str, Any]:
    try:
        import yaml  # noqa: PLC0415 - an optional extra, needed only here
    except ImportError:
        raise ConfigError(f"reading it needs PyYAML: {_INSTALL_HINT}", path=str(path)) from None

    class Loader(yaml.SafeLoader):
        """SafeLoader that reads any ``!Tag`` (CloudFormation's) as the plain value it tags."""

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        return None  # pragma: no cover - PyYAML has no other node kind

    Loader.add_multi_constructor("!", tagged)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"larger than {MAX_BYTES} bytes", path=str(path))
    try:
        document = yaml.load(data, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"not valid YAML{where}: {getattr(exc, 'problem', None) or 'parse error'}", path=str(path)
        ) from None
    except RecursionError:
        raise ConfigError("nested too deeply to read", path=str(path)) from None
    except ValueError as exc:  # an integer past Python's digit limit (sys.get_int_max_str_digits)
        raise ConfigError(
            f"holds a value too large to read ({' '.join(str(exc).split())[:80]})", path=str(path)
        ) from None
    if not isinstance(document, dict):
        raise ConfigError("the top level must be a mapping", path=str(path))
    return document


def _get(document: Mapping[str, Any], dotted: str) -> object:
    value: object = document
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _literal(path: Path, key: str, value: object, flag: str) -> str:
    """Return *value* as a name; a ``${…}`` variable or a non-scalar is an error asking for *flag*."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"must be a plain name, not {type(value).__name__}; pass {flag}", path=str(path), key=key)
    text = str(value)
    if _VARIABLE.search(text):
        default = _OPT_DEFAULT.match(text)
        if default and default["name"] == flag.removeprefix("--"):
            return default["value"]
        raise ConfigError(
            f"is a variable ({text[:80]}), which sls-access does not resolve; pass {flag}", path=str(path), key=key
        )
    return text


def _org_or_app(path: Path, document: Mapping[str, Any], name: str) -> str:
    top = _get(document, name)
    custom = _get(document, f"custom.slsAccess.{name}")
    found = [(key, value) for key, value in ((name, top), (f"custom.slsAccess.{name}", custom)) if value is not None]
    if not found:
        raise ConfigError(
            f"names no {name} (top-level {name}: or custom.slsAccess.{name}:); pass --{name}", path=str(path)
        )
    values = {key: _literal(path, key, value, f"--{name}") for key, value in found}
    if len(set(values.values())) > 1:
        raise ConfigError(
            f"{name} and custom.slsAccess.{name} differ ({values[name]!r}, "
            f"{values[f'custom.slsAccess.{name}']!r}); keep one, or pass --{name}",
            path=str(path),
        )
    return next(iter(values.values()))


def child_words(child: Sequence[str]) -> list[str]:
    """Return the child's command line without the ``--`` that separates it from sls-access's flags.

    ``exec -- serverless deploy -s prod`` and ``exec serverless deploy -s prod`` name the same
    command: every reading of the child's flags starts from this one list, so that the
    separator never changes which stage or region is resolved.
    """
    words = list(child)
    return words[1:] if words and words[0] == "--" else words


def _command_name(word: str) -> str:
    """Return the command *word* runs: its file name, less npm's ``@version`` and a ``.js`` suffix."""
    name = os.path.basename(word)
    if not name.startswith("@"):  # serverless@3 (npx's package spec); a scoped package keeps its "@"
        name = name.partition("@")[0]
    return name.removesuffix(".js")


def is_framework(child: Sequence[str]) -> bool:
    """Whether *child* runs the Serverless Framework (``serverless``, ``sls``, ``npx serverless``…).

    A launcher's own options come before the Framework's name (``npx --yes serverless``,
    ``node --max-old-space-size=4096 node_modules/serverless/bin/serverless.js``), and npx
    takes a version (``npx serverless@3``): the Framework is recognised through them, else
    its ``-s prod`` would be missed and the target read from ``provider.stage``.
    """
    launcher = False
    for word in child_words(child):
        if word.startswith("-"):
            if launcher:  # the launcher's own option (npx --yes, node --require …)
                continue
            return False
        name = _command_name(word)
        if name in FRAMEWORK_COMMANDS:
            return True
        launcher = name in _LAUNCHERS or (launcher and name in _LAUNCHER_COMMANDS)
    return False


def child_option(child: Sequence[str], name: str, short: str) -> str | None:
    """Return the value of ``--name`` in the child's arguments (``-short`` when it is the Framework).

    ``--name X``, ``--name=X`` and, for the Framework, ``-short X`` and ``-short=X`` are read
    alike, with or without a leading ``--`` separator (:func:`child_words`). Given twice
    with different values is a :class:`ConfigError`: the target would be a guess.
    """
    shorts = (f"-{short}",) if is_framework(child) else ()
    found: list[str] = []
    words = child_words(child)
    for index, word in enumerate(words):
        if word.startswith(f"--{name}=") or any(word.startswith(f"{flag}=") for flag in shorts):
            found.append(word.split("=", 1)[1])
        elif (word == f"--{name}" or word in shorts) and index + 1 < len(words):
            found.append(words[index + 1])
    if len(set(found)) > 1:
        raise ConfigError(
            f"the command passes --{name} more than once ({', '.join(sorted(set(found)))}); pass --{name} to sls-access"
        )
    return found[0] if found else None


def framework_profile(directory: Path, child: Sequence[str]) -> str | None:
    """Return why the Framework run by *child* would use a profile of its own, or None.

    The Serverless Framework v3 takes ``provider.profile`` before any credentials its SDK
    would find itself, container credentials included; environment keys beat it.
    """
    if not is_framework(child):
        return None
    path = service_file(directory)
    if path is None:
        return None
    try:
        profile = _get(_load(path), "provider.profile")
    except ConfigError:
        return f"{path} cannot be read to check provider.profile"
    return None if profile is None else f"{path} sets provider.profile"


def passes_aws_profile(child: Sequence[str]) -> bool:
    """Whether the Framework run by *child* is told ``--aws-profile``, which it uses before any other keys."""
    return is_framework(child) and any(
        word == "--aws-profile" or word.startswith("--aws-profile=") for word in child_words(child)
    )


def read_service_target(
    path: Path, *, org: str | None, app: str | None, stage: str | None, region: str | None, child: Sequence[str] = ()
) -> ServiceTarget:
    """Complete the target from *path* and the child's arguments; given values win, each on its own."""
    document = _load(path)
    if org is None:
        org = _org_or_app(path, document, "org")
    if app is None:
        app = _org_or_app(path, document, "app")
    if stage is None:
        stage = child_option(child, "stage", "s")
    if stage is None:
        value = _get(document, "provider.stage")
        stage = "dev" if value is None else _literal(path, "provider.stage", value, "--stage")
    if region is None:
        region = child_option(child, "region", "r")
    if region is None:
        value = _get(document, "provider.region")
        region = None if value is None else _literal(path, "provider.region", value, "--region")
    return ServiceTarget(org=org, app=app, stage=stage, region=region, path=path)
