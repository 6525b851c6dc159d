"""The ``interop`` marker: every test that installs or runs an external tool carries it, and no other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def collected(*args: str) -> set[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
            "tests/test_interop.py",
            "tests/test_exec_tools.py",
        ],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {line.split("::", 1)[1].split("[")[0] for line in result.stdout.splitlines() if "::" in line}


def test_tests_that_use_the_aws_cli_npm_or_terraform_are_marked_interop_and_others_not() -> None:
    interop = collected("-m", "interop")
    assert {
        "test_aws_cli_gets_the_assumed_role_through_credential_process",
        "test_terraform_reads_the_served_credentials",
        "test_the_aws_sdk_for_javascript_v3_reads_the_served_credentials",
        "test_the_serverless_framework_v3_resolves_aws_account_id_with_the_served_credentials",
    } <= interop
    others = collected("-m", "not interop")
    assert "test_the_console_script_is_installed" in others
    assert "test_botocore_credential_process_support_in_process" in others
    assert not interop & others
