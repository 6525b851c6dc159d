"""``sls-access plugins``: the chain's sources in order, and the plugins behind them.

Lists the built-in sources and the installed plugins (``sls_access`` entry points)
with their distributions and versions, as a resolver with the given options sees them:
``--sources`` and ``--disable-plugins`` apply. A plugin that is disabled or failed to
load is listed with that status.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sls_access.cli._common import add_option_arguments, make_resolver, print_json
from sls_access.plugin._manager import PluginInfo

__all__ = ["add_parser", "handle", "listing"]


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
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


def _plugin_of(name: str, source: object, plugins: tuple[PluginInfo, ...]) -> PluginInfo | None:
    """Return the plugin that added the source: the one naming it, else the one defining its class."""
    for info in plugins:
        if name in getattr(info, "sources", ()):
            return info
    module = type(source).__module__
    for info in plugins:
        root = info.module.split(":", 1)[0]
        if module == root or module.startswith(root + "."):
            return info
    return None


def _status(info: PluginInfo) -> str:
    if info.error:
        return f"failed: {info.error}"
    if getattr(info, "disabled", False):
        return "disabled"
    return "built-in" if info.builtin else "installed"


def listing(chain_sources: tuple[object, ...], names: tuple[str, ...],
            plugins: tuple[PluginInfo, ...]) -> dict[str, list[dict[str, object]]]:
    """Return the JSON form: ``chain`` (sources in order, with their plugin) and ``plugins``."""
    chain: list[dict[str, object]] = []
    for position, (name, source) in enumerate(zip(names, chain_sources, strict=True), start=1):
        info = _plugin_of(name, source, plugins)
        chain.append({"position": position, "source": name, "plugin": None if info is None else info.name,
                      "builtin": bool(info and info.builtin)})
    return {
        "chain": chain,
        "plugins": [{"name": info.name, "module": info.module, "distribution": info.distribution,
                     "version": info.version, "builtin": info.builtin, "status": _status(info),
                     "error": info.error, "hooks": list(getattr(info, "hooks", ()))}
                    for info in plugins],
    }


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def handle(args: argparse.Namespace) -> int:
    """Print the chain and the plugins."""
    resolver = make_resolver(args)
    chain = resolver.chain
    data = listing(chain.sources, chain.names, resolver.plugins)
    if args.json:
        print_json(data)
        return 0
    lines = ["sources, in chain order:"]
    lines += _columns([(f"{row['position']}.", str(row["source"]),
                        "built-in" if row["builtin"] else f"from plugin {row['plugin'] or '?'}")
                       for row in data["chain"]] or [("(none)",)])
    lines += ["", "plugins:"]
    lines += _columns([(str(p["name"]), f"{p['distribution'] or '?'} {p['version'] or '?'}", str(p["status"]))
                       for p in data["plugins"]])
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
