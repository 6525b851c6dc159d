from __future__ import annotations

import logging
import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import AgentProcesses, DashboardServer, FakeClock, PluginSite, PostgresCluster, StsProxy, moto_server

import sls_access._api

BASE_KEY_ID = "AKIABASEKEY000000001"
BASE_SECRET = "base-secret-0123456789abcdefghijklmnopqrstuv"

DEMO_DASHBOARD = """
[orgs.acme]
deployment_profile = "sandbox"

[orgs.acme.deployment_profiles.sandbox]
role_arn = "arn:aws:iam::222222222222:role/sls-access-sandbox"
external_id = "acme-7f3c"
duration_seconds = 3600
region = "us-east-1"

[orgs.acme.deployment_profiles.prod]
role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"

[orgs.acme.deployment_profiles.eu]
role_arn = "arn:aws:iam::333333333333:role/sls-access-eu"
region = "eu-west-1"

[orgs.acme.deployment_profiles.shop]
role_arn = "arn:aws:iam::444444444444:role/sls-access-shop"

[orgs.acme.apps.shop]
deployment_profile = "shop"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "prod"

[orgs.acme.apps.shop.stages.prod.regions.eu-west-1]
deployment_profile = "eu"

[orgs.solo.deployment_profiles.only]
role_arn = "arn:aws:iam::555555555555:role/solo"

[orgs.solo.apps.api.stages.dev]
deployment_profile = "only"
"""


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def _proxy(moto_url: str) -> Iterator[StsProxy]:
    proxy = StsProxy(moto_url)
    yield proxy
    proxy.close()


@pytest.fixture
def sts(_proxy: StsProxy) -> StsProxy:
    """The loopback STS (moto behind a counting proxy), with counts reset for this test."""
    _proxy.reset()
    return _proxy


@pytest.fixture
def _runtime_dir() -> Iterator[Path]:
    """A short per-test XDG_RUNTIME_DIR: a Unix socket path must fit in 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _proxy: StsProxy, _runtime_dir: Path) -> Path:
    """Isolate every test from the user's AWS setup; point botocore at the loopback STS.

    Base keys (the caller that assumes roles) are in the plain AWS_* variables. The
    agent is off (``SLS_ACCESS_AGENT=off``: ``credential-process`` resolves in-process)
    and its directory would be in a per-test XDG_RUNTIME_DIR; the ``agent`` fixture
    turns it on.
    """
    for var in list(os.environ):
        if var.startswith(("AWS_", "SLS_ACCESS_", "SERVERLESS_")):
            monkeypatch.delenv(var)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))  # trusted project files
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", _proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", BASE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BASE_SECRET)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(_runtime_dir))
    monkeypatch.setenv("SLS_ACCESS_AGENT", "off")
    _proxy.reset()
    sls_access._api.registry.clear()  # the module functions' shared resolvers
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    """The demo dashboard file, written to a temporary path."""
    path = tmp_path / "dashboard.toml"
    path.write_text(textwrap.dedent(DEMO_DASHBOARD))
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dashboard_server(dashboard: Path, tmp_path: Path, sts: StsProxy) -> Iterator[DashboardServer]:
    """``sls-access serve`` for the demo dashboard on loopback, STS the loopback one; no keys yet."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    server = DashboardServer(dashboard, workdir).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _logging_record_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put logging's record switches back after each test: the service's worker factory turns them off."""
    for flag in ("logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, flag, getattr(logging, flag))


@pytest.fixture(autouse=True)
def _no_ci_oidc_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide a CI runner's own OIDC token endpoint (GitHub Actions) from every test.

    With the sls-access-oidc plugin installed, a job with ``id-token: write`` would
    otherwise enter every test's roles with the runner's real token.
    """
    for var in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSite]:
    """A site directory on sys.path to install test plugins into (unimported afterwards)."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    plugins = PluginSite(path)
    yield plugins
    plugins.forget()


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch, _runtime_dir: Path) -> Iterator[AgentProcesses]:
    """The agent switched on for this test (``SLS_ACCESS_AGENT`` unset); every agent it starts is killed after."""
    monkeypatch.delenv("SLS_ACCESS_AGENT")
    agents = AgentProcesses(_runtime_dir / "sls-access")
    yield agents
    agents.stop_all()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL server for the session (loopback, a temporary directory); a missing one fails the run."""
    cluster = PostgresCluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_state(postgres: PostgresCluster) -> str:
    """The URL of a fresh, empty PostgreSQL database on the session's server."""
    return postgres.create_database()


INTEROP_FIXTURES = frozenset({"aws_cli", "aws_sdk_js", "serverless_framework", "terraform_dir"})
"""Fixtures that install or run an external tool (the AWS CLI, npm packages, Terraform)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``interop`` every test that uses an external tool (they still run by default)."""
    for item in items:
        if INTEROP_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.interop)
