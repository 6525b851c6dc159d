"""``sls-access completion``: scripts generated from the parser, loaded by a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


def script(shell: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sls_access.cli", "completion", shell],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout


def complete(words: list[str]) -> list[str]:
    """Load the bash script in a real bash and complete the last of *words*."""
    bash = shutil.which("bash")
    assert bash is not None, "bash is needed to test bash completion"
    line = " ".join(f"'{word}'" for word in words)
    program = (
        f"{script('bash')}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        '_sls_access_complete; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completes_a_command() -> None:
    assert complete(["sls-access", "exp"]) == ["explain"]


def test_bash_completes_a_commands_flag_after_a_flags_value() -> None:
    assert complete(["sls-access", "explain", "--org", "acme", "--re"]) == ["--region", "--require-role"]


def test_bash_completes_a_nested_command_and_its_flag() -> None:
    assert complete(["sls-access", "agent", "st"]) == ["status", "stop"]
    assert complete(["sls-access", "agent", "run", "--id"]) == ["--idle-timeout"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell: str) -> None:
    from sls_access.cli import COMMANDS  # noqa: PLC0415

    text = script(shell)
    assert all(name.replace("_", "-") in text for name in COMMANDS)


def test_flags_of_groups_and_mutually_exclusive_groups_are_completed() -> None:
    from sls_access.cli import build_parser  # noqa: PLC0415
    from sls_access.cli.completion import commands_and_flags  # noqa: PLC0415

    table = commands_and_flags(build_parser())

    assert {"--org", "--app", "--stage", "--region"} <= set(table["credentials"])  # the target group
    assert {"--template", "--deploy"} <= set(table["link"])  # a mutually exclusive group
    assert {"--idle-timeout", "--debug"} <= set(table["agent run"])  # a nested command's own
    assert "--version" in table[""]
