"""The package's shape: no import cycles between its packages, one public plugin namespace."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import sls_access
import sls_access.plugin

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
                return [*stack[stack.index(nxt):], nxt]
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
    assert {"Credentials", "DeploymentProfile", "Options", "PluginInfo", "PluginLoadWarning", "RoleSession",
            "Skip", "Source", "Target", "TrailEntry"} <= set(PLUGIN_TYPES)


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
