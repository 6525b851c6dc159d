"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``, ``bench``, ``demo``."""

from __future__ import annotations

import glob
import os
import shutil
import sys

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]
# A session whose interpreter is missing is an error, never a skip: a run that tested
# nothing must not pass.
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
SUPPORTED = ("3.11", "3.12", "3.13")


def _python() -> str:
    """The first supported CPython on PATH (3.11 first), else the one running nox if supported.

    When none is there, "3.11" is asked for and nox fails with a missing interpreter.
    """
    for version in SUPPORTED:
        if shutil.which(f"python{version}"):
            return version
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return running if running in SUPPORTED else SUPPORTED[0]


PYTHON = _python()


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


# The programs the tests start that pip cannot install: PostgreSQL (the service's state on
# PostgreSQL, started by a fixture) and Chromium with its driver (the web UI's browser tests).
SYSTEM_PACKAGES = {
    "postgresql": lambda: bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")),
    "chromium": lambda: bool(shutil.which("chromium")),
    "chromium-driver": lambda: bool(shutil.which("chromedriver")),
}


def _system_packages(session: nox.Session) -> None:
    """Install the Debian packages the tests need when they are missing; fail when that cannot be done.

    A missing server or browser is never a skipped test: the run stops here, naming what to install.
    """
    missing = [name for name, present in SYSTEM_PACKAGES.items() if not present()]
    if not missing:
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        session.error(
            f"the tests need these Debian packages (or their equivalents): {' '.join(missing)}; "
            "install them, or run this session as root on Debian to have it install them"
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-q", external=True, env=env)
    session.run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, external=True, env=env)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite against a loopback STS (moto's server, started by the tests)."""
    _system_packages(session)
    session.install("-e", ".[boto3,server,serverless,link]", *_group("test"))
    # The OIDC plugin, installed with pip as a user would (tests/test_plugin_oidc.py).
    session.install("./plugins/sls-access-oidc")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint with ruff, and check that ``ruff format`` would change nothing."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package and the tests with mypy --strict."""
    session.install("-e", ".[boto3,server,serverless,link]", *_group("typecheck"), *_group("test"))
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs site (Sphinx, MyST Markdown, furo) into docs/_build/html; warnings are errors."""
    session.install("-e", ".[boto3]", *_group("docs"))
    session.install("./plugins/sls-access-oidc")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Start a local STS, write a demo dashboard file, resolve demo/hello/dev and show the trail."""
    session.install("-e", ".", "moto[server]")
    session.run("python", "docs/examples/demo.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark against botocore and the assume-role libraries; print the table, write bench-results.json."""
    session.install(*PYPROJECT["project"]["dependencies"], *_group("bench"))
    # A regular (not editable) install of this checkout, bytecode compiled, as users get it.
    session.install("--no-deps", "--force-reinstall", ".")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHON)
def bench_server(session: nox.Session) -> None:
    """Load-test the dashboard service against the bare stack; first vend after start (wrk when installed)."""
    session.install("-e", ".[server]", "moto[server]")
    session.run("python", "benchmarks/server_load.py", *session.posargs)


@nox.session(python=PYTHON)
def bench_state(session: nox.Session) -> None:
    """The state in a database: vends/s on SQLite and PostgreSQL over files, revocation delay, AssumeRole count."""
    session.install("-e", ".[server]", "moto[server]")
    session.run("python", "benchmarks/state_load.py", *session.posargs)
