"""Real tools as ``sls-access exec`` children, reading the credentials exec serves on loopback.

The AWS CLI (its own virtual environment, see ``test_interop``), the AWS SDK for
JavaScript v3 (npm, into pytest's cache directory), Terraform with the ``hashicorp/aws``
provider from a filesystem mirror on this machine, and botocore across a key rotation.
The Serverless Framework v3 (npm, ~40 s to install once) calls sts.amazonaws.com through
``HTTPS_PROXY``: a CONNECT proxy that terminates TLS with a throwaway CA (trusted through
``NODE_EXTRA_CA_CERTS``) sends it to the loopback STS, so it runs offline. A missing tool
fails its test: CI has the same tools.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import StsProxy, TlsProxy, _locked, make_ca
from test_interop import aws_cli  # noqa: F401 - aws_cli is a fixture, shared with test_interop

PROD_ASSUMED = "arn:aws:sts::111111111111:assumed-role/sls-access-prod/sls-acme.shop.prod"
JS_PACKAGES = ("@aws-sdk/client-sts@3", "@aws-sdk/credential-providers@3")
# The Framework, and next to it the credentials plugin its users add (tests/test_serverless_framework.py).
FRAMEWORK_PACKAGES = ("serverless@3", "serverless-better-credentials@2")
# Where an offline mirror of the hashicorp/aws provider may be (a filesystem_mirror layout).
# Where an offline filesystem mirror of the hashicorp/aws provider may be: TF_PLUGIN_MIRROR
# when set, else Terraform's own plugin directories, else any directory directly under /opt.
TF_MIRRORS = ("~/.terraform.d/plugins", "/usr/local/share/terraform/plugins", "/usr/share/terraform/plugins", "/opt/*")
QUIET = {
    "CHECKPOINT_DISABLE": "1",
    "SLS_TELEMETRY_DISABLED": "1",
    "SLS_NOTIFICATIONS_MODE": "off",
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
}


def sls_exec(dashboard: Path, *command: str, region: str | None = None, stage: str = "prod") -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "sls_access.cli",
        "exec",
        "--org",
        "acme",
        "--app",
        "shop",
        "--stage",
        stage,
        "--dashboard",
        str(dashboard),
    ]
    if region:
        argv += ["--region", region]
    return [*argv, "--", *command]


def run(
    argv: list[str], *, cwd: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, **QUIET, **(env or {})},
    )


def npm_install(base: Path, packages: tuple[str, ...]) -> Path:
    """Install *packages* with npm into *base* once (locked, marked ready); return its node_modules."""
    ready = base / "sls-access-ready"
    with _locked(base.parent / f"{base.name}.lock"):
        if not ready.exists() or ready.read_text() != " ".join(packages):
            npm = shutil.which("npm")
            if npm is None:
                pytest.fail("npm is not installed (CI installs Node.js and npm)")
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir(parents=True)
            (base / "package.json").write_text('{"private": true}\n')
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *packages],
                cwd=base,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
                env={**os.environ, **QUIET},
            )
            if done.returncode != 0:
                pytest.fail(f"npm install {' '.join(packages)} failed:\n{done.stderr[-3000:]}")
            ready.write_text(" ".join(packages))
    return base / "node_modules"


def cache_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    cache: pytest.Cache | None = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
    return cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def aws_sdk_js(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose node_modules hold the AWS SDK for JavaScript v3 (STS client, credential providers)."""
    base = cache_dir(pytestconfig, tmp_path_factory, "sls-access-aws-sdk-js") / "pkg"
    npm_install(base, JS_PACKAGES)
    return base


@pytest.fixture(scope="session")
def serverless_framework(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``serverless`` executable of the Serverless Framework v3."""
    base = cache_dir(pytestconfig, tmp_path_factory, "sls-access-serverless") / "pkg"
    return npm_install(base, FRAMEWORK_PACKAGES) / ".bin" / "serverless"


def test_aws_cli_reads_the_served_credentials(aws_cli: Path, dashboard: Path, sts: StsProxy) -> None:  # noqa: F811
    script = (
        f'test -z "$AWS_ACCESS_KEY_ID" || exit 9; {aws_cli} configure list; '
        f"{aws_cli} sts get-caller-identity --output json"
    )
    result = run(sls_exec(dashboard, "sh", "-c", script))
    assert result.returncode == 0, result.stderr
    listing, _, identity = result.stdout.partition("{")
    assert "container-role" in listing  # the AWS CLI's own name for where its keys come from
    assert json.loads("{" + identity)["Arn"] == PROD_ASSUMED
    assert sts.calls["AssumeRole"] == 1


JS_WHOAMI = """
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
const { fromNodeProviderChain } = require("@aws-sdk/credential-providers");
(async () => {
  const client = new STSClient({ credentials: fromNodeProviderChain() });
  const identity = await client.send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({ arn: identity.Arn, envKey: process.env.AWS_ACCESS_KEY_ID ?? null }));
})().catch((err) => { console.error(String(err)); process.exit(1); });
"""


def test_the_aws_sdk_for_javascript_v3_reads_the_served_credentials(
    aws_sdk_js: Path, dashboard: Path, sts: StsProxy
) -> None:
    # SDK v3 honours AWS_ENDPOINT_URL (the loopback STS) and needs AWS_REGION, which exec sets.
    script = aws_sdk_js / "whoami.js"
    script.write_text(JS_WHOAMI)
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    result = run(sls_exec(dashboard, node, str(script), region="us-east-1"), cwd=aws_sdk_js)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"arn": PROD_ASSUMED, "envKey": None}
    assert sts.calls["AssumeRole"] == 1


def terraform_mirror() -> Path:
    explicit = os.environ.get("TF_PLUGIN_MIRROR")
    patterns = (explicit,) if explicit else TF_MIRRORS
    for pattern in patterns:
        for path in sorted(Path("/").glob(str(Path(pattern).expanduser()).lstrip("/"))):
            if (path / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
                return path
    pytest.fail(f"no filesystem mirror of registry.terraform.io/hashicorp/aws in {', '.join(TF_MIRRORS)}")


TERRAFORM_CONFIG = """
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}
provider "aws" {{
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {{
    sts = "{sts}"
  }}
}}
data "aws_caller_identity" "current" {{}}
output "arn" {{
  value = data.aws_caller_identity.current.arn
}}
"""


@pytest.fixture
def terraform_dir(tmp_path: Path, sts: StsProxy) -> tuple[Path, dict[str, str]]:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform is not installed")
    workdir = tmp_path / "tf"
    workdir.mkdir()
    (workdir / "main.tf").write_text(TERRAFORM_CONFIG.format(sts=sts.url))
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        textwrap.dedent(f"""
        provider_installation {{
          filesystem_mirror {{
            path    = "{terraform_mirror()}"
            include = ["registry.terraform.io/hashicorp/aws"]
          }}
        }}
    """)
    )
    env = {
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_DATA_DIR": str(tmp_path / "tf-data"),
    }
    init = run([terraform, "init", "-no-color"], cwd=workdir, env=env)
    assert init.returncode == 0, init.stderr
    return workdir, env


def test_terraform_reads_the_served_credentials(
    terraform_dir: tuple[Path, dict[str, str]], dashboard: Path, sts: StsProxy
) -> None:
    workdir, env = terraform_dir
    applied = run(sls_exec(dashboard, "terraform", "apply", "-auto-approve", "-no-color"), cwd=workdir, env=env)
    assert applied.returncode == 0, applied.stderr
    output = run(["terraform", "output", "-raw", "arn"], cwd=workdir, env=env)
    assert output.stdout == PROD_ASSUMED
    assert sts.calls["AssumeRole"] == 1
    assert sts.calls["GetCallerIdentity"] >= 1  # the provider, with the served keys


SHORT_LIVED = """
[orgs.acme.deployment_profiles.short]
role_arn = "arn:aws:iam::111111111111:role/sls-access-short"
duration_seconds = 900

[orgs.acme.apps.shop.stages.long]
deployment_profile = "short"
"""

# Calls STS until the keys it gets from the endpoint changed twice, or 150 s passed; prints
# every key id it used and every call's outcome.
KEEP_CALLING = """
import json, sys, time, botocore.session
session = botocore.session.Session()
client = session.create_client("sts", region_name="us-east-1")
keys, outcomes, deadline = [], [], time.monotonic() + 150
while time.monotonic() < deadline and len(set(keys)) < 2:
    keys.append(session.get_credentials().get_frozen_credentials().access_key)
    outcomes.append(client.get_caller_identity()["Arn"])
    time.sleep(1)
print(json.dumps({"keys": keys, "outcomes": sorted(set(outcomes))}))
"""


def test_a_child_that_keeps_calling_sts_across_a_key_rotation_keeps_working(dashboard: Path, sts: StsProxy) -> None:
    # The proxy makes each AssumeRole answer claim the keys live 70 s (900 s after a clock
    # 830 s behind): the resolver's cache refreshes them half way, botocore in the child
    # asks the endpoint on every call (less than its 10-minute mandatory window left).
    with dashboard.open("a") as handle:
        handle.write(SHORT_LIVED)
    sts.clock = lambda: datetime.now(UTC) - timedelta(seconds=830)
    result = run(sls_exec(dashboard, sys.executable, "-c", KEEP_CALLING, stage="long"), timeout=240)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert len(set(seen["keys"])) == 2  # rotated once, while the child ran
    assert set(seen["keys"]) <= set(sts.issued)
    assert seen["outcomes"] == ["arn:aws:sts::111111111111:assumed-role/sls-access-short/sls-acme.shop.long"]
    assert sts.calls["AssumeRole"] == 2


SERVICE = """
service: shop-api
org: acme
app: shop
frameworkVersion: "3"
provider:
  name: aws
  region: us-east-1
custom:
  account: ${aws:accountId}
"""


@pytest.mark.parametrize("stage_flag", [("--stage", "prod"), ("-s", "prod")], ids=["long", "short"])
def test_the_serverless_framework_v3_resolves_aws_account_id_with_the_served_credentials(
    serverless_framework: Path, dashboard: Path, tmp_path: Path, sts: StsProxy, stage_flag: tuple[str, str]
) -> None:
    # No target flags: org and app from serverless.yml, the stage from the Framework's own flag,
    # long or short, after exec's "--" separator (which once hid -s: the default's account).
    service = tmp_path / "service"
    service.mkdir()
    (service / "serverless.yml").write_text(SERVICE)
    ca, cert, key = make_ca(tmp_path, ["sts.amazonaws.com", "*.amazonaws.com", "*.us-east-1.amazonaws.com"])
    proxy = TlsProxy(sts.url, cert, key)
    try:
        # Everything the Framework sends over HTTP(S) goes to the proxy, which forwards only
        # tunnels, and only to the loopback STS: nothing leaves the machine.
        env = {
            "HTTPS_PROXY": proxy.url,
            "https_proxy": proxy.url,
            "HTTP_PROXY": proxy.url,
            "http_proxy": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "NODE_EXTRA_CA_CERTS": str(ca),
            "SLS_ACCESS_DASHBOARD": str(dashboard),
            "CI": "1",
        }
        result = run(
            [sys.executable, "-m", "sls_access.cli", "exec", "--", str(serverless_framework), "print", *stage_flag],
            cwd=service,
            env=env,
        )
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr
    assert "account: '111111111111'" in result.stdout  # the prod link's role, not the base keys' account
    assert set(proxy.hosts) == {"sts.amazonaws.com:443"}
    assert (sts.calls["AssumeRole"], sts.calls["GetCallerIdentity"]) == (1, 1)
