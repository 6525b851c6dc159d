"""The embedded default, end to end: a local STS, a demo dashboard file, one session.

Run it with ``nox -s demo`` (or ``python docs/examples/demo.py`` where sls-access and
``moto[server]`` are installed). It starts moto's STS on a free loopback port, writes a
dashboard file linking org ``demo`` / app ``hello`` / stage ``dev`` to an access role,
and prints who ``sls_access.session("demo", "hello", "dev")`` is, with the trail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sls_access

DASHBOARD = """\
[orgs.demo]
deployment_profile = "sandbox"

[orgs.demo.deployment_profiles.sandbox]
role_arn = "arn:aws:iam::123456789012:role/sls-access-demo"
external_id = "demo-external-id"
region = "us-east-1"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    """Run the demo; return the process exit code."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            dashboard = Path(tmp) / "dashboard.toml"
            dashboard.write_text(DASHBOARD)
            # The caller's own keys: moto accepts any; a real deploy uses SSO, a role, etc.
            os.environ.update(
                {
                    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                    "AWS_ACCESS_KEY_ID": "AKIADEMOCALLER000000",
                    "AWS_SECRET_ACCESS_KEY": "demo-caller-secret",
                    "AWS_EC2_METADATA_DISABLED": "true",
                }
            )
            session = sls_access.session("demo", "hello", "dev", dashboard=str(dashboard))
            identity = session.create_client("sts").get_caller_identity()
            print(f"demo/hello/dev is {identity['Arn']} (account {identity['Account']})")
            print(f"region: {session.get_config_variable('region')}")
            print(sls_access.explain("demo", "hello", "dev", dashboard=str(dashboard)))
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
