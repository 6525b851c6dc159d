"""``sls-access plugins``: the chain's sources in order, and the plugins behind them.

Lists the built-in sources and the installed plugins (``sls_access`` entry points)
with their distributions, versions and hooks, in chain order (the plugins that add sources
by their first source, then those that only implement other hooks), as a resolver with
the given options sees them:
``--sources`` and ``--disable-plugins`` apply. A plugin that is disabled or failed to
load is listed with that status.
"""

from __future__ import annotations

import argparse
import sys

from sls_access.cli._common import Subcommands, add_option_arguments, make_resolver, print_json
from sls_access.plugin._manager import PluginInfo

__all__ = ["add_parser", "handle", "listing"]


def add_parser(subparsers: Subcommands) -> None:
    """Register ``plugins``."""
    parser = subparsers.add_parser(
        "plugins",
        help="list the chain's sources and the installed plugins, with versions",
        description="List the sources in chain order and the built-in and installed plugins with "
        "their distributions and versions.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_option_arguments(parser)
    parser.set_defaults(handler=handle)


def _plugin_of(name: str, plugins: tuple[PluginInfo, ...]) -> PluginInfo | None:
    """Return the plugin that added the source *name*."""
    return next((info for info in plugins if name in info.sources), None)


def _status(info: PluginInfo) -> str:
    if info.error:
        return f"failed: {info.error}"
    if info.disabled:
        return "disabled"
    return "built-in" if info.builtin else "installed"


def _in_chain_order(plugins: tuple[PluginInfo, ...], names: tuple[str, ...]) -> list[PluginInfo]:
    """Plugins that add sources in the order of their first source in the chain, then the rest."""

    def position(item: tuple[int, PluginInfo]) -> tuple[int, int]:
        index, info = item
        places = [names.index(source) for source in info.sources if source in names]
        return (min(places), index) if places else (len(names), index)

    return [info for _, info in sorted(enumerate(plugins), key=position)]


def listing(names: tuple[str, ...], plugins: tuple[PluginInfo, ...]) -> dict[str, list[dict[str, object]]]:
    """Return the JSON form: ``chain`` (sources in order, with their plugin) and ``plugins``."""
    chain: list[dict[str, object]] = []
    for position, name in enumerate(names, start=1):
        info = _plugin_of(name, plugins)
        chain.append(
            {
                "position": position,
                "source": name,
                "plugin": None if info is None else info.name,
                "builtin": bool(info and info.builtin),
            }
        )
    return {
        "chain": chain,
        "plugins": [
            {
                "name": info.name,
                "module": info.module,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "status": _status(info),
                "error": info.error,
                "sources": list(info.sources),
                "hooks": list(info.hooks),
            }
            for info in _in_chain_order(plugins, names)
        ],
    }


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def handle(args: argparse.Namespace) -> int:
    """Print the chain and the plugins."""
    resolver = make_resolver(args)
    names = resolver.chain.names
    plugins = resolver.plugins
    if args.json:
        print_json(listing(names, plugins))
        return 0
    lines = ["sources, in chain order:"]
    rows: list[tuple[str, ...]] = []
    for position, name in enumerate(names, start=1):
        info = _plugin_of(name, plugins)
        origin = "built-in" if info is not None and info.builtin else f"from plugin {info.name if info else '?'}"
        rows.append((f"{position}.", name, origin))
    lines += _columns(rows or [("(none)",)])
    lines += ["", "plugins:"]
    lines += _columns(
        [
            (info.name, f"{info.distribution or '?'} {info.version or '?'}", _status(info), ", ".join(info.hooks))
            for info in _in_chain_order(plugins, names)
        ]
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
