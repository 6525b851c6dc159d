"""The package's shape: no import cycles between its packages, one public plugin namespace."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sls_access
import sls_access.plugin
from sls_access._public import PUBLIC

PACKAGE = Path(sls_access.__file__).parent


def _node(module: str) -> str:
    """A subpackage is one node (``sls_access.plugin``); a top-level module is its own."""
    parts = module.split(".")
    if len(parts) >= 2 and (PACKAGE / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(tree: ast.AST, here: str, is_package: bool, modules: set[str]) -> Iterator[str]:
    """Every module imported at run time (at the top or in a function); not under TYPE_CHECKING."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # "from package import submodule" depends on the submodule only
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for imported in _runtime_imports(tree, name, path.name == "__init__.py", set(modules)):
            if imported in modules and _node(imported) != _node(name):
                graph.setdefault(_node(name), set()).add(_node(imported))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_there_is_no_import_cycle_between_packages_and_modules() -> None:
    graph = _graph()
    assert graph, "the import graph is empty: the test reads nothing"
    assert _cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_sources_do_not_import_the_plugin_manager() -> None:
    # A source gets an enter_role callable; it never calls back into the manager.
    assert "sls_access.plugin" in _graph()["sls_access.sources"]  # hookimpl, types
    for path in (PACKAGE / "sources").glob("*.py"):
        assert "_plugins" not in path.read_text(), path.name


PLUGIN_TYPES = sorted(name for name in sls_access.plugin.__all__ if inspect.isclass(getattr(sls_access.plugin, name)))


def test_the_plugin_namespace_exports_the_types_hooks_pass() -> None:
    assert {
        "Credentials",
        "DeploymentProfile",
        "Options",
        "PluginInfo",
        "PluginLoadWarning",
        "RoleSession",
        "Skip",
        "Source",
        "Target",
        "TrailEntry",
    } <= set(PLUGIN_TYPES)


@pytest.mark.parametrize("name", PLUGIN_TYPES)
def test_every_type_a_plugin_author_needs_shows_a_public_path(name: str) -> None:
    value = getattr(sls_access.plugin, name)
    assert value.__module__ in {"sls_access", "sls_access.plugin"}, value.__module__
    assert getattr(importlib.import_module(value.__module__), value.__name__) is value


def test_the_hook_spec_uses_public_types_only() -> None:
    source = (PACKAGE / "plugin" / "spec.py").read_text()
    imports = [line for line in source.splitlines() if line.lstrip().startswith(("from sls_access", "import sls"))]
    assert imports, "spec.py imports nothing from sls_access: the test reads nothing"
    assert all(line.split()[1] in {"sls_access.plugin", "sls_access.plugin._names"} for line in imports), imports


def test_the_package_init_only_re_exports() -> None:
    # Its module __getattr__/__dir__ (PEP 562) load the public names on first access.
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    defined = [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    assert defined == ["__getattr__", "__dir__"]


# --- public APIs only: no private name of a dependency or of CPython ------------------------------

# The one module allowed to use uvicorn's protocol internals (capped at the tested minor version).
EXEMPT = {"sls_access/service/_protocol.py"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_ours(module: str | None, level: int = 0) -> bool:
    return bool(level) or (module or "").split(".")[0] == "sls_access"


def _package_names(tree: ast.AST) -> set[str]:
    """Names bound in a module to something of the package: its imports from sls_access, its classes and functions."""
    names = {"self", "cls"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_ours(node.module, node.level):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if _is_ours(alias.name))
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
    return names


def _our_classes(tree: ast.AST, ours: set[str]) -> set[int]:
    """The classes whose bases are all the package's (``super()._x`` in them reaches the package's code)."""
    return {
        id(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and all(isinstance(base, ast.Name) and base.id in ours for base in node.bases)
    }


def _own_base(base: ast.expr, ours: set[str], *, in_our_class: bool) -> bool:
    """Whether *base* is the package's own: one of its names, or ``super()`` in a class of the package's."""
    if isinstance(base, ast.Name):
        return base.id in ours
    return in_our_class and isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super"


def private_uses(source: str) -> list[str]:
    """Every use in *source* of a private name that is not the package's own, as ``line: code``."""
    tree = ast.parse(source)
    ours = _package_names(tree)
    our_classes = _our_classes(tree, ours)
    found: list[str] = []

    def visit(node: ast.AST, in_our_class: bool) -> None:
        if isinstance(node, ast.ClassDef):
            in_our_class = id(node) in our_classes
        if isinstance(node, ast.ImportFrom) and not _is_ours(node.module, node.level):
            parts = [*(node.module or "").split("."), *(alias.name for alias in node.names)]
            if any(_is_private(part) for part in parts):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Import):
            found.extend(
                f"{node.lineno}: {ast.unparse(node)}"
                for alias in node.names
                if not _is_ours(alias.name) and any(map(_is_private, alias.name.split(".")))
            )
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            if not _own_base(node.value, ours, in_our_class=in_our_class):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)  # getattr(os.environ, "_data")
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
            and not _own_base(node.args[0], ours, in_our_class=in_our_class)
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, in_our_class)

    visit(tree, in_our_class=False)
    return found


def _modules() -> list[str]:
    return sorted(str(path.relative_to(PACKAGE.parent)) for path in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", [module for module in _modules() if module not in EXEMPT])
def test_no_module_touches_a_private_name_of_a_dependency_or_of_cpython(module: str) -> None:
    uses = private_uses((PACKAGE.parent / module).read_text())
    assert uses == [], f"{module} uses private names of its dependencies: {uses}"


def test_the_private_name_finder_finds_each_kind_of_use() -> None:
    source = """
import os
import botocore.session
import importlib._bootstrap
from json import _default_encoder
from urllib3._collections import HTTPHeaderDict
from sls_access import _public
from sls_access._cache import ExpiringCache
from .sibling import _helper


class Ours(ExpiringCache):
    def method(self, other):
        self._x, type(self)._y, _public.PUBLIC, ExpiringCache._z, _helper._q, super()._lock
        return other._secret


class Session(botocore.session.Session):
    def method(self):
        return super()._register_components()


os.environ._data, botocore.session.Session()._components, os.environ.__class__
getattr(os.environ, "_data", None), getattr(_public, "_x"), hasattr(os, "name"), setattr(obj, "_y", 1)
"""
    uses = private_uses(source)

    assert uses == [
        "4: import importlib._bootstrap",
        "5: from json import _default_encoder",
        "6: from urllib3._collections import HTTPHeaderDict",
        "14: type(self)._y",
        "15: other._secret",
        "20: super()._register_components",
        "23: os.environ._data",
        "23: botocore.session.Session()._components",
        "24: getattr(os.environ, '_data', None)",
        "24: setattr(obj, '_y', 1)",
    ]


def test_the_exempt_module_exists() -> None:
    assert set(_modules()) >= EXEMPT


# --- one table of public names ------------------------------------------------------------------


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.unparse(stmt)
                for alias in stmt.names:
                    assert alias.asname == alias.name, f"{alias.name}: re-exported as 'import X as X'"
                    found[alias.name] = stmt.module or ""
    return found


def test_the_type_checking_imports_are_the_table_of_public_names() -> None:
    assert _type_checking_imports() == PUBLIC
    assert sls_access.__all__ == list(PUBLIC)


@pytest.mark.parametrize("name", sls_access.__all__)
def test_every_public_name_loads_from_the_module_the_table_names(name: str) -> None:
    value = getattr(sls_access, name)
    assert value is getattr(importlib.import_module(PUBLIC[name]), name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__ == "sls_access", value.__module__


def test_public_names_show_their_public_path_whichever_module_is_imported_first() -> None:
    # A new interpreter that imports each defining module alone, before the package loads its names.
    code = (
        "import importlib, inspect, json\n"
        f"table = {PUBLIC!r}\n"
        "shown = {}\n"
        "for name, where in table.items():\n"
        "    value = getattr(importlib.import_module(where), name)\n"
        "    if inspect.isclass(value) or inspect.isfunction(value):\n"
        "        shown[name] = value.__module__\n"
        "print(json.dumps(shown))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
    ).stdout
    shown = json.loads(out)
    assert shown, "no class or function in the table: the test reads nothing"
    assert set(shown.values()) == {"sls_access"}, shown


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sls_access.nope


# --- every sls_access.X that messages and docs name exists ---------------------------------------

REPO = PACKAGE.parent
_DOTTED = re.compile(r"(?<![\w.])sls_access(?:\.[A-Za-z_]\w*)+")


def _logger_names() -> set[str]:
    """The package's logger names (``logging.getLogger("sls_access.cache")``): named in docs, not attributes."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)  # LOGGER = "sls_access.audit"
                and any(isinstance(target, ast.Name) and "LOGGER" in target.id for target in node.targets)
            ):
                names.add(str(node.value.value))
    return names


def _strings(path: Path) -> Iterator[str]:
    """Every string literal of a module (messages, docstrings, f-string parts)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def _named() -> dict[str, set[str]]:
    """Every dotted ``sls_access.x.y`` the package's strings and the docs name, with where."""
    named: dict[str, set[str]] = {}
    texts: list[tuple[str, Iterator[str] | list[str]]] = [
        (str(path.relative_to(REPO)), _strings(path)) for path in PACKAGE.rglob("*.py")
    ]
    texts += [
        (str(path.relative_to(REPO)), [path.read_text()])
        for path in [*(REPO / "docs").rglob("*.md"), REPO / "README.md"]
        if path.exists()
    ]
    for where, strings in texts:
        for text in strings:
            for match in _DOTTED.finditer(text):
                named.setdefault(match.group(0).rstrip("."), set()).add(where)
    return named


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                value = getattr(value, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_sls_access_name_that_messages_and_docs_name_exists() -> None:
    named = _named()
    assert "sls_access.registry.clear" in named, "the scan misses a name the docs give"
    loggers = _logger_names()
    assert "sls_access.plugins" in loggers
    missing = {name: sorted(where) for name, where in named.items() if name not in loggers and not _resolves(name)}
    assert missing == {}


def test_the_name_checker_tells_a_missing_name() -> None:
    assert _resolves("sls_access.registry.clear")
    assert _resolves("sls_access.plugin.sts")
    assert not _resolves("sls_access.registry.forget")
