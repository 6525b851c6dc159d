"""Test support for the admin API and the web UI: a served org with keys, STS that honours trust policies, the AWS CLI."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import textwrap
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import boto3
from support import DashboardServer, StsProxy, sts_error

from sls_access.service.keys import KeyStore

ACCOUNT = "123456789012"  # moto's account
CALLER = f"arn:aws:iam::{ACCOUNT}:user/moto"  # the service's vending identity in moto
AWS_CLI = Path("/work/venv/bin/aws")


def new_org() -> str:
    """An org name of the test's own: the tests share one moto, where role names are global."""
    return f"t{uuid.uuid4().hex[:10]}"


def dashboard_text(org: str) -> str:
    return textwrap.dedent(f"""\
        # {org}'s dashboard: every change is reviewed.
        [orgs.{org}]
        deployment_profile = "sandbox"

        [orgs.{org}.deployment_profiles.sandbox]
        role_arn = "arn:aws:iam::222222222222:role/sls-access-sandbox"

        [orgs.{org}.deployment_profiles.prod]
        role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"

        [orgs.{org}.apps.shop.stages.prod]
        deployment_profile = "prod"
        """)


class Org:
    """A dashboard file for a fresh org, its admin and deploy keys, and ``sls-access serve`` for it."""

    def __init__(self, tmp_path: Path, *, edit: bool = True, extra_args: list[str] | None = None,
                 name: str | None = None) -> None:
        self.name = name or new_org()
        self.dashboard = tmp_path / "dashboard.toml"
        self.dashboard.write_text(dashboard_text(self.name))
        store = KeyStore(tmp_path / "dashboard.keys.json")
        _, self.admin_key = store.create(self.name, "lead", role="admin")
        _, self.deploy_key = store.create(self.name, "ci")
        workdir = tmp_path / "server"
        workdir.mkdir()
        args = (["--edit-dashboard"] if edit else []) + (extra_args or [])
        self.server = DashboardServer(self.dashboard, workdir, extra_args=args)

    def __enter__(self) -> Org:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, method: str, path: str, *, key: str | None = None, body: object = None,
             raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        """Send an admin API request (*path* under ``/v1/admin/orgs/ORG``); return status and JSON (or {})."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            headers = {"Authorization": f"Bearer {self.admin_key if key is None else key}"}
            data = raw if raw is not None else None if body is None else json.dumps(body).encode()
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, f"/v1/admin/orgs/{self.name}{path}", body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, json.loads(payload) if payload else {}
        finally:
            conn.close()


def trust_enforcing(proxy: StsProxy, moto_url: str):  # noqa: ANN201 - a support.Fault
    """Return an STS fault that refuses ``AssumeRole`` as real STS would, which moto does not.

    Stub: moto lets any caller assume any role ARN, even one that does not exist, and
    ignores the trust policy; real STS refuses until the role exists and trusts the caller
    with that external id. This answers AccessDenied unless moto's IAM has the role and its
    trust policy's ``sts:ExternalId`` is the one presented; otherwise moto answers.
    """
    iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106

    def fault(action: str) -> tuple[int, bytes] | None:
        if action != "AssumeRole":
            return None
        params = proxy.requests[-1]
        name = params.get("RoleArn", "").rsplit("/", 1)[-1]
        try:
            policy = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        except iam.exceptions.NoSuchEntityException:
            policy = None
        if isinstance(policy, str):
            policy = json.loads(urllib.parse.unquote(policy))
        wanted = re.findall(r'"sts:ExternalId": "([^"]*)"', json.dumps(policy)) if policy else []
        if params.get("ExternalId") in wanted:
            return None
        return sts_error("AccessDenied", f"User: {CALLER} is not authorized to perform: sts:AssumeRole on "
                                         f"resource: {params.get('RoleArn')}")

    return fault


def run_shown_command(command: str, template: str, directory: Path, moto_url: str, template_file: str) -> str:
    """Run the ``aws cloudformation deploy`` command the service showed, with the real AWS CLI against moto."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / template_file).write_text(template)
    argv = shlex.split(command)
    assert argv[:3] == ["aws", "cloudformation", "deploy"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory),
           "AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(directory / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(directory / "none")}
    done = subprocess.run([str(AWS_CLI), *argv[1:]], cwd=directory, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout
