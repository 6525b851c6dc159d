"""The README's shell blocks, as a newcomer pastes them: install, try it without AWS, the two commands.

A block the README marks with ``<!-- readme-test: NAME -->`` on the line before its fence is
run here (or, for the two nox commands, checked against the noxfile and ``.ci/run``):

- ``install`` runs as written, for real: from the directory above a copy of the
  checkout named ``sls-access``, ``python3 -m venv .venv`` and pip installing the clone
  into it (from the package index pip is configured with; its cache is kept in pytest's
  cache directory, so it runs once in about 20 s);
- ``sts`` and ``try`` run without a virtual environment of their own: ``.venv`` is a link
  to the environment running the tests (which has sls-access and moto), the
  ``pip install`` line is not run (the test checks that it installs what the block
  uses), and moto listens on a free port instead of the README's;
- the README's Python snippet runs against the README's own dashboard file, with no
  region configured anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import StsProxy, free_port
from test_noxfile import load_noxfile

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKED = re.compile(
    r"^(?P<indent> *)<!-- readme-test: (?P<name>[\w-]+) -->\n(?P=indent)```sh\n(?P<code>.*?)\n *```$",
    re.MULTILINE | re.DOTALL,
)
VENV_NOX = "python3 -m venv .venv && .venv/bin/python -m pip install nox && .venv/bin/python -m nox -s "
README_PORT = 5123  # moto's port in the README (not 5000: macOS AirPlay listens there)
TRY_ROLE = "arn:aws:sts::111111111111:assumed-role/sls-access/sls-acme.shop.prod"


def block(name: str) -> str:
    """Return the README's shell block marked *name* (dedented), which must be there once."""
    found = [textwrap.dedent(m["code"]) for m in MARKED.finditer(README) if m["name"] == name]
    assert len(found) == 1, f"the README has {len(found)} blocks marked {name!r}"
    return found[0]


def fenced(language: str) -> str:
    """Return the README's first fenced block in *language*."""
    return README.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no AWS or sls-access settings, a fresh home."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "SLS_ACCESS_", "SERVERLESS_"))
    }
    env.update(
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_STATE_HOME=str(home / ".local" / "state"), **extra
    )
    return env


# -- Install -------------------------------------------------------------------------------


@pytest.fixture
def pip_cache(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache: pytest.Cache | None = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
    return cache.mkdir("sls-access-pip") if cache is not None else tmp_path_factory.mktemp("pip")


def test_the_install_block_installs_sls_access_from_the_clone_into_a_venv(
    tmp_path: Path, pip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)  # a newcomer's shell: only the venv gives sls_access
    clone = tmp_path / "sls-access"
    clone.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(ROOT / "sls_access", clone / "sls_access", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block("install")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=clean_env(tmp_path / "home", PIP_CACHE_DIR=str(pip_cache), PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.fullmatch(r"sls-access \S+\n", result.stdout.splitlines(keepends=True)[-1]), result.stdout
    venv_python = clone / ".venv" / "bin" / "python"
    imported = subprocess.run(
        [str(venv_python), "-c", "import boto3, sls_access; print(sls_access.__file__)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(tmp_path / "home"),
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(clone / ".venv"))  # installed into the venv, not used from the clone


# -- Try it without AWS ---------------------------------------------------------------------


def _wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"moto_server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"moto_server did not listen on {port} within {timeout} s")


@pytest.fixture
def readme_sts(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Run the README's ``sts`` block (its moto_server line) in *tmp_path*; yield the clone and the port."""
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(sys.prefix)  # the environment running the tests: sls-access and moto
    lines = [line for line in block("sts").splitlines() if line.strip()]
    assert lines[0].split("#")[0].split() == [".venv/bin/python", "-m", "pip", "install", "'moto[server]'"]
    import moto.server  # noqa: F401, PLC0415 - what the pip line installs is here

    port = free_port()
    command = lines[1].replace(f"-p {README_PORT}", f"-p {port}")
    assert command != lines[1]
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=clone,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=clean_env(tmp_path / "home"),
    )
    try:
        _wait_listening(port, proc)
        yield clone, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the process group this fixture started, by its id
        proc.wait(timeout=30)


def test_the_try_it_block_gets_the_roles_keys_from_a_local_sts(readme_sts: tuple[Path, int], tmp_path: Path) -> None:
    clone, port = readme_sts
    script = block("try")
    assert f"127.0.0.1:{README_PORT}" in script
    script = script.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{port}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=clean_env(tmp_path / "home"),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "acme/shop/prod: credentials from dashboard (region us-east-1)" in out  # explain
    assert f"dashboard: {clone}/try-dashboard.toml" in out
    assert f"Arn:     {TRY_ROLE}" in out  # whoami: the role entered, not the dummy keys' user
    assert '"Source": "dashboard"' in out  # credentials
    assert '"AccessKeyId": "ASIA' in out
    assert TRY_ROLE in README  # what the README says whoami prints


# -- The README's Python snippet, with no region configured ------------------------------------


def test_the_readme_snippet_runs_against_the_readme_toml_with_no_region_set(tmp_path: Path, sts: StsProxy) -> None:
    home = tmp_path / "newcomer"
    (home / ".config" / "sls-access").mkdir(parents=True)
    (home / ".config" / "sls-access" / "dashboard.toml").write_text(fenced("toml"))  # the default location
    work = tmp_path / "snippet"
    work.mkdir()
    env = clean_env(
        home,
        AWS_ENDPOINT_URL=sts.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert not {"AWS_DEFAULT_REGION", "AWS_REGION"} & set(env)
    result = subprocess.run(
        [sys.executable, "-c", fenced("python")],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("acme/shop/prod: credentials from dashboard (region eu-west-1)\n"), result.stdout
    assert "role: arn:aws:iam::111111111111:role/sls-access" in result.stdout
    assert sts.calls["AssumeRole"] >= 1


# -- The two commands --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo", "checks"])
def test_each_of_the_two_commands_installs_nox_into_its_own_venv(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the noxfile reads pyproject.toml from the project directory
    command = block(name)
    assert command.startswith(VENV_NOX), command  # never `python3 -m pip install` (PEP 668 refuses it)
    assert "python3 -m pip" not in command
    sessions = command.removeprefix(VENV_NOX).split()
    load_noxfile()
    import nox  # noqa: PLC0415 - after the noxfile registered its sessions

    assert set(sessions) <= set(nox.registry.get()), sessions
    if name == "demo":
        assert sessions == ["demo"]


def test_ci_runs_the_readmes_second_command_word_for_word() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-1] == block("checks")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
