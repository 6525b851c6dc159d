"""root with another user's HOME (``sudo -E``, a CI step with ``HOME=/home/ci``) starts no agent there.

When the runtime or cache directory (or the home it would be created in) belongs to
another user, ``credential-process`` resolves in-process and creates nothing: no
root-owned ``~/.cache`` and no socket in that user's home. Real processes as root, with
directories owned by the unprivileged ``nobody``.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from support import AgentProcesses, StsProxy, console_script

TARGET = ("--org", "acme", "--app", "shop", "--stage", "prod")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attack needs root and a second user")


def _nobody() -> tuple[int, int]:
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


@pytest.mark.parametrize("layout", ["home-without-cache", "home-with-cache", "runtime-dir"])
def test_root_with_another_users_home_resolves_in_process_and_creates_nothing(
    agent: AgentProcesses, dashboard: Path, tmp_path: Path, sts: StsProxy, layout: str
) -> None:
    uid, gid = _nobody()
    home = tmp_path / "ci-home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_CACHE_HOME", None)
    if layout == "runtime-dir":
        runtime = tmp_path / "run-ci"
        runtime.mkdir(mode=0o700)
        os.chown(runtime, uid, gid)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        watched = runtime
    else:
        env.pop("XDG_RUNTIME_DIR")
        if layout == "home-with-cache":
            (home / ".cache").mkdir()
            os.chown(home / ".cache", uid, gid)
        watched = home
    os.chown(home, uid, gid)
    before = sorted(watched.rglob("*"))
    leftover = AgentProcesses(watched / ("sls-access" if layout == "runtime-dir" else ".cache/sls-access"))
    try:
        result = subprocess.run(
            [str(console_script()), "credential-process", *TARGET, "--dashboard", str(dashboard)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=env,
        )
    finally:
        leftover.stop_all()  # an agent started there (the bug) is not left running
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)) == [
        "AccessKeyId",
        "Expiration",
        "SecretAccessKey",
        "SessionToken",
        "Version",
    ]
    assert sts.requests[-1]["RoleArn"] == "arn:aws:iam::111111111111:role/sls-access-prod"
    assert sorted(watched.rglob("*")) == before  # nothing created: no ~/.cache, no socket, no lock
    assert all(path.stat().st_uid == uid for path in (watched, *before))
