"""The Serverless Framework v3 without ``exec``: a ``credential_process`` profile, read two ways.

- With the npm plugin ``serverless-better-credentials`` (installed next to the Framework,
  see ``test_exec_tools``), ``--aws-profile`` naming a profile whose ``credential_process``
  is sls-access;
- without any plugin, a ``[default]`` profile whose ``credential_process`` is sls-access,
  with ``AWS_SDK_LOAD_CONFIG=1`` (the Framework finds no keys of its own and its AWS SDK v2
  takes the default chain, which runs the process).

Both run ``serverless print`` resolving ``${aws:accountId}`` (an STS GetCallerIdentity the
Framework signs with the keys it got) through the TLS proxy to the loopback STS, as the
``exec`` test does; the account printed is the linked role's, not the base keys'.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID, BASE_SECRET
from support import StsProxy, TlsProxy, make_ca
from test_exec_tools import run, serverless_framework  # noqa: F401 - serverless_framework is a fixture

SERVICE = """
service: shop-api
frameworkVersion: "3"
{plugins}
provider:
  name: aws
  region: us-east-1
custom:
  account: ${{aws:accountId}}
"""


def credential_process(dashboard: Path, *flags: str) -> str:
    return shlex.join(
        [
            sys.executable,
            "-m",
            "sls_access.cli",
            "credential-process",
            "--org",
            "acme",
            "--app",
            "shop",
            "--stage",
            "prod",
            "--dashboard",
            str(dashboard),
            "--require-role",
            *flags,
        ]
    )


def print_service(
    serverless: Path, service: Path, tmp_path: Path, sts: StsProxy, env: dict[str, str], *args: str
) -> tuple[str, list[str]]:
    """Run ``serverless print`` in *service* through a TLS proxy to the loopback STS; return stdout and hosts."""
    ca, cert, key = make_ca(tmp_path, ["sts.amazonaws.com", "*.amazonaws.com", "*.us-east-1.amazonaws.com"])
    proxy = TlsProxy(sts.url, cert, key)
    try:
        proxies = {
            "HTTPS_PROXY": proxy.url,
            "https_proxy": proxy.url,
            "HTTP_PROXY": proxy.url,
            "http_proxy": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "NODE_EXTRA_CA_CERTS": str(ca),
            "CI": "1",
        }
        result = run([str(serverless), "print", "--stage", "prod", *args], cwd=service, env={**proxies, **env})
    finally:
        proxy.close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout, proxy.hosts


@pytest.fixture
def service(tmp_path: Path, serverless_framework: Path) -> Path:  # noqa: F811 - the fixture, imported
    directory = tmp_path / "service"
    directory.mkdir()
    # The Framework loads a service's plugins from its node_modules, where npm installed them.
    (directory / "node_modules").symlink_to(serverless_framework.parent.parent)
    return directory


def test_the_framework_with_serverless_better_credentials_signs_with_the_profiles_role(
    serverless_framework: Path,  # noqa: F811
    service: Path,
    dashboard: Path,
    aws_env: Path,
    tmp_path: Path,
    sts: StsProxy,
) -> None:
    (service / "serverless.yml").write_text(SERVICE.format(plugins="plugins:\n  - serverless-better-credentials"))
    (aws_env / "aws-config").write_text(
        f"[profile acme-shop-prod]\ncredential_process = {credential_process(dashboard)}\n"
    )
    out, hosts = print_service(
        serverless_framework, service, tmp_path, sts, {"AWS_SDK_LOAD_CONFIG": "1"}, "--aws-profile", "acme-shop-prod"
    )
    assert "account: '111111111111'" in out  # the prod link's role, not the base keys' account
    assert set(hosts) == {"sts.amazonaws.com:443"}
    assert (sts.calls["AssumeRole"], sts.calls["GetCallerIdentity"]) == (1, 1)


def test_the_framework_without_a_plugin_reads_a_default_credential_process_profile(
    serverless_framework: Path,  # noqa: F811
    service: Path,
    dashboard: Path,
    aws_env: Path,
    tmp_path: Path,
    sts: StsProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (service / "serverless.yml").write_text(SERVICE.format(plugins=""))
    # The Framework takes AWS_* keys before its SDK's chain: the base keys go to sls-access only,
    # from a profile of their own (its default chain would otherwise run [default], itself, again).
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (aws_env / "aws-credentials").write_text(
        f"[base]\naws_access_key_id = {BASE_KEY_ID}\naws_secret_access_key = {BASE_SECRET}\n"
    )
    command = credential_process(dashboard, "--base-profile", "base")
    (aws_env / "aws-config").write_text(f"[default]\ncredential_process = {command}\n")
    out, hosts = print_service(serverless_framework, service, tmp_path, sts, {"AWS_SDK_LOAD_CONFIG": "1"})
    assert "account: '111111111111'" in out
    assert set(hosts) == {"sts.amazonaws.com:443"}
    assert sts.calls["GetCallerIdentity"] == 1
