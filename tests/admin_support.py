"""Test support for the admin API and the web UI: a served org with keys, STS as it treats trust policies, the CLI."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from support import DashboardServer, Fault, StateServer, StsProxy, install_aws_cli, sts_error, until

from sls_access.dashboard.file import load_dashboard_file
from sls_access.dashboard.model import DeploymentProfile
from sls_access.service.keys import KeyStore
from sls_access.service.store.base import Role, Store
from sls_access.service.store.files import FileStore
from sls_access.service.store.url import open_store

ACCOUNT = "123456789012"  # moto's account
CALLER = f"arn:aws:iam::{ACCOUNT}:user/moto"  # the service's vending identity in moto


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
    """A fresh org with its admin and deploy keys, and ``sls-access serve`` for it.

    By default the org's profiles and links are in a SQLite state (imported from
    :func:`dashboard_text`), where the admin side edits them; with ``edit=False`` they are
    a dashboard file under review (the key file and dashboard file of earlier releases).
    """

    def __init__(
        self, tmp_path: Path, *, edit: bool = True, extra_args: list[str] | None = None, name: str | None = None
    ) -> None:
        self.name = name or new_org()
        self.dashboard = tmp_path / "dashboard.toml"
        self.dashboard.write_text(dashboard_text(self.name))
        workdir = tmp_path / "server"
        workdir.mkdir()
        self.state: str | None = None
        if edit:
            self.state = f"sqlite:///{tmp_path / 'state' / 'service.db'}"
            with contextlib.closing(open_store(self.state)) as store:
                store.replace_dashboard(load_dashboard_file(self.dashboard))
                _, self.admin_key = store.create_key(self.name, "lead", role=Role.ADMIN)
                _, self.deploy_key = store.create_key(self.name, "ci")
            self.server: DashboardServer = StateServer(self.state, workdir, extra_args=extra_args)
        else:
            keys = KeyStore(tmp_path / "dashboard.keys.json")
            _, self.admin_key = keys.create(self.name, "lead", role="admin")
            _, self.deploy_key = keys.create(self.name, "ci")
            self.server = DashboardServer(self.dashboard, workdir, extra_args=extra_args)

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """The org's state, opened in the test's process (what the service reads)."""
        store: Store = open_store(self.state) if self.state else FileStore(self.dashboard)
        try:
            yield store
        finally:
            store.close()

    def vend(self, app: str, stage: str, key: str, status: int) -> dict[str, Any]:
        """Ask for a target's keys until the answer is *status*: a change reaches every worker within 1 s."""
        last: list[tuple[int, dict[str, object]]] = []

        def check() -> bool:
            last[:] = [self.server.credentials(self.name, app, stage, key)]
            return last[0][0] == status

        until(check, 3.0, f"{self.name}/{app}/{stage} answers {status}")
        return dict(last[0][1])

    def profiles(self) -> dict[str, DeploymentProfile]:
        """The org's deployment profiles as the state holds them now."""
        with self.store() as store:
            return {p.name: p for p in store.profiles(self.name)}

    def __enter__(self) -> Org:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def call(
        self, method: str, path: str, *, key: str | None = None, body: object = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
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


def trust_enforcing(proxy: StsProxy, moto_url: str) -> Fault:
    """Return an STS fault that refuses ``AssumeRole`` as real STS would, which moto does not.

    Stub: moto lets any caller assume any role ARN, even one that does not exist, and
    ignores the trust policy; real STS refuses until the role exists and trusts the caller
    with that external id, and refuses a ``SourceIdentity`` or session tags the trust does
    not allow (``sts:SetSourceIdentity``, ``sts:TagSession``). This answers AccessDenied
    unless moto's IAM has the role, its trust policy's ``sts:ExternalId`` is the one
    presented and its actions allow what the request sets; otherwise moto answers.
    """
    iam = boto3.client(
        "iam",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def fault(action: str) -> tuple[int, bytes] | str | None:
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
        actions = json.dumps(policy) if policy else ""
        needs = [
            action
            for action, asked in (
                ("sts:SetSourceIdentity", "SourceIdentity" in params),
                ("sts:TagSession", any(name.startswith("Tags.member.") for name in params)),
            )
            if asked
        ]
        if params.get("ExternalId") in wanted and all(f'"{action}"' in actions for action in needs):
            return None
        return sts_error(
            "AccessDenied",
            f"User: {CALLER} is not authorized to perform: sts:AssumeRole on resource: {params.get('RoleArn')}",
        )

    return fault


def find_aws_cli(base: Path) -> Path:
    """Return the real AWS CLI: the ``aws`` beside this Python when installed there, else one of its own.

    A missing CLI that cannot be installed fails the test (never a skip).
    """
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return beside
    try:
        return install_aws_cli(base)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def run_shown_command(
    aws: Path, command: str, template: str, directory: Path, moto_url: str, template_file: str
) -> str:
    """Run the ``aws cloudformation deploy`` command the service showed, with the real AWS CLI against moto."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / template_file).write_text(template)
    argv = shlex.split(command)
    assert argv[:3] == ["aws", "cloudformation", "deploy"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(directory / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(directory / "none"),
    }
    done = subprocess.run(
        [str(aws), *argv[1:]], cwd=directory, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
