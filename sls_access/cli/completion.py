"""``sls-access completion SHELL``: a shell completion script for bash, zsh or fish.

The script is generated from the command line's own parser, so it completes exactly the
commands and flags this version has: ``source <(sls-access completion bash)`` in
``~/.bashrc``, the same with ``zsh`` in ``~/.zshrc`` (through zsh's bash completion
layer), ``sls-access completion fish > ~/.config/fish/completions/sls-access.fish``.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from sls_access.cli._common import CliParser, Subcommands

__all__ = ["SHELLS", "add_parser", "commands_and_flags", "handle", "script"]

SHELLS = ("bash", "zsh", "fish")
_FUNCTION = "_sls_access_complete"


def add_parser(subparsers: Subcommands) -> None:
    """Register ``completion``."""
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for SHELL: 'source <(sls-access completion bash)' in "
        "~/.bashrc (zsh: the same in ~/.zshrc); 'sls-access completion fish > "
        "~/.config/fish/completions/sls-access.fish'.",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(handler=handle)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return dict(parser.commands) if isinstance(parser, CliParser) else {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    recorded = parser.option_strings if isinstance(parser, CliParser) else []
    return sorted(option for option in recorded if option.startswith("--"))


def commands_and_flags(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Return each command (``agent run`` for a nested one) and its flags; ``""`` is the top level."""
    table: dict[str, list[str]] = {"": [*_subcommands(parser), *_flags(parser)]}
    for name, sub in _subcommands(parser).items():
        nested = _subcommands(sub)
        table[name] = [*nested, *_flags(sub)]
        for inner, leaf in nested.items():
            table[f"{name} {inner}"] = _flags(leaf)
    return table


def _bash(table: dict[str, list[str]]) -> str:
    cases = "\n".join(
        f"        {shlex.quote(command)}) words={shlex.quote(' '.join(words))} ;;"
        for command, words in table.items()
        if command
    )
    known = "|" + "|".join(command for command in table if command) + "|"
    return f"""# sls-access completion for bash (and zsh through bashcompinit)
{_FUNCTION}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" command="" candidate word i words
    local known={shlex.quote(known)}
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case "$word" in
            --) break ;;
            -*) ;;
            *)  # a command, or a nested one; anything else is a flag's value
                candidate="${{command:+$command }}$word"
                if [[ "$known" == *"|$candidate|"* ]]; then command="$candidate"; fi ;;
        esac
    done
    case "$command" in
        "") words={shlex.quote(" ".join(table[""]))} ;;
{cases}
        *) words="" ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F {_FUNCTION} sls-access
"""


def _zsh(table: dict[str, list[str]]) -> str:
    return (
        "# sls-access completion for zsh, through its bash completion layer\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + _bash(table)
    )


def _fish(table: dict[str, list[str]]) -> str:
    lines = ["# sls-access completion for fish", "complete -c sls-access -f"]
    lines += [
        f"complete -c sls-access -n __fish_use_subcommand -a {shlex.quote(command)}"
        for command in table[""]
        if not command.startswith("-")
    ]
    for command, words in table.items():
        if not command or " " in command:
            continue
        seen = f"__fish_seen_subcommand_from {shlex.quote(command)}"
        for word in words:
            if word.startswith("--"):
                lines.append(f"complete -c sls-access -n {shlex.quote(seen)} -l {shlex.quote(word[2:])}")
            else:
                lines.append(f"complete -c sls-access -n {shlex.quote(seen)} -a {shlex.quote(word)}")
    return "\n".join(lines) + "\n"


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """Return the completion script for *shell* from *parser*."""
    table = commands_and_flags(parser)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](table)


def handle(args: argparse.Namespace) -> int:
    """Print the completion script."""
    from sls_access.cli import build_parser  # noqa: PLC0415 - the whole parser, built here

    sys.stdout.write(script(args.shell, build_parser()))
    return 0
