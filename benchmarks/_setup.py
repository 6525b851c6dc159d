"""The benchmark's world: an isolated AWS setup, a loopback STS, and one target in each library.

STS is moto's server on loopback behind the counting proxy of ``tests/support.py`` (the
same one the tests use), so every library's AssumeRole calls are counted the same way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import FakeClock, StsProxy, moto_server


class FrozenClock(FakeClock):
    """A simulated clock that moves only when advanced: real time spent on STS calls
    (which differs between the libraries compared) does not move it."""

    def __init__(self) -> None:
        super().__init__()
        self.start = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.start + self.shift


__all__ = ["BASE_KEY_ID", "ROLE_ARN", "TARGET", "FrozenClock", "StsProxy", "World", "world"]

BASE_KEY_ID = "AKIABASEKEY000000001"
BASE_SECRET = "base-secret-0123456789abcdefghijklmnopqrstuv"
ROLE_ARN = "arn:aws:iam::111111111111:role/sls-access-prod"
TARGET = ("acme", "shop", "prod")

DASHBOARD = f"""
[orgs.acme.deployment_profiles.prod]
role_arn = "{ROLE_ARN}"
region = "us-east-1"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "prod"
"""

# What users do today without sls-access: a role profile that assumes the same role
# with the environment's keys.
AWS_CONFIG = f"""
[default]
region = us-east-1

[profile role]
role_arn = {ROLE_ARN}
credential_source = Environment
role_session_name = bench
"""


class World:
    """Paths and the STS proxy of one benchmark run."""

    def __init__(self, root: Path, sts: StsProxy) -> None:
        self.root = root
        self.sts = sts
        self.dashboard = root / "dashboard.toml"


@contextlib.contextmanager
def world() -> Iterator[World]:
    """Set up an isolated environment (no real AWS files or keys) and a loopback STS."""
    saved = dict(os.environ)
    # The agent's socket lives in XDG_RUNTIME_DIR: a short path (Unix socket paths are short).
    with (
        tempfile.TemporaryDirectory(prefix="sls-access-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="sab-", dir="/tmp") as runtime,
    ):
        root = Path(tmp)
        for var in list(os.environ):
            if var.startswith(("AWS_", "SLS_ACCESS_", "SERVERLESS_")):
                del os.environ[var]
        (root / "home").mkdir()
        (root / "aws-config").write_text(AWS_CONFIG)
        os.environ.update(
            {
                "HOME": str(root / "home"),
                "XDG_CONFIG_HOME": str(root / "home" / ".config"),
                "AWS_CONFIG_FILE": str(root / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(root / "aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": BASE_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                "XDG_RUNTIME_DIR": runtime,
            }
        )
        try:
            with moto_server() as url:
                sts = StsProxy(url)
                os.environ["AWS_ENDPOINT_URL"] = sts.url
                w = World(root, sts)
                w.dashboard.write_text(DASHBOARD)
                try:
                    yield w
                finally:
                    sts.close()
        finally:
            os.environ.clear()
            os.environ.update(saved)
