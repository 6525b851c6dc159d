"""Project files another user owns or could replace are never used nor trusted (issue 23, item 4).

The tests run as root, for whom root's files are fine and ``nobody``'s are another user's.
The attack itself runs for real: a second local user (made once with ``useradd``) works
under a world-writable sticky directory, as ``/tmp`` is, where ``nobody`` planted a
project file; ``runuser`` runs the CLI as that user.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from conftest import DEMO_DASHBOARD

import sls_access
from sls_access import ConfigError
from sls_access.cli import main
from sls_access.dashboard.locate import find_project_file
from sls_access.dashboard.owner import owner_problem
from sls_access.dashboard.trust import load_trusted, trust

NOBODY = pwd.getpwnam("nobody")
TEST_USER = "sls-access-test"
PLANTED = """
[orgs.acme.deployment_profiles.evil]
role_arn = "arn:aws:iam::999999999999:role/planted"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "evil"
"""


def chown(path: Path, user: pwd.struct_passwd) -> Path:
    os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``tmp_path/a/b``, all root's, the current directory being ``b``."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    return work


def planted(path: Path, text: str = PLANTED) -> Path:
    """Write *text* to *path* and give it to ``nobody``."""
    path.write_text(text)
    return chown(path, NOBODY)


def test_a_file_another_user_planted_in_a_parent_is_refused(tree: Path) -> None:
    path = planted(tree.parent / "sls-access.toml")
    with pytest.raises(
        ConfigError,
        match=r"the project dashboard file is owned by user 'nobody' \(uid 65534\), "
        r"not by you",
    ) as caught:
        find_project_file(tree)
    assert caught.value.path == str(path)


def test_a_directory_of_another_user_on_the_way_up_is_refused(tree: Path) -> None:
    (tree.parent.parent / "sls-access.toml").write_text(textwrap.dedent(DEMO_DASHBOARD))
    chown(tree.parent, NOBODY)  # could rename b away and put its own b, or replace the file above
    with pytest.raises(ConfigError, match=f"the directory {tree.parent} is owned by user 'nobody'"):
        find_project_file(tree)


def test_a_directory_of_another_user_holding_the_file_is_refused(tree: Path) -> None:
    (tree / "sls-access.toml").write_text(textwrap.dedent(DEMO_DASHBOARD))
    chown(tree, NOBODY)
    with pytest.raises(ConfigError, match=f"the directory {tree} is owned by user 'nobody'"):
        find_project_file(tree)


def test_a_link_to_another_users_file_is_refused(tree: Path, tmp_path: Path) -> None:
    (tree / "sls-access.toml").symlink_to(planted(tmp_path / "theirs.toml"))
    assert owner_problem(tree / "sls-access.toml", tree) is not None
    with pytest.raises(ConfigError, match="the file the project dashboard file points to is owned by user 'nobody'"):
        trust(tree / "sls-access.toml")
    assert load_trusted() == {}


def test_directories_above_the_file_do_not_count(tree: Path) -> None:
    (tree / "sls-access.toml").write_text(textwrap.dedent(DEMO_DASHBOARD))
    chown(tree.parent, NOBODY)
    assert find_project_file(tree) == tree / "sls-access.toml"


def test_roots_and_the_users_own_files_are_used(tree: Path) -> None:
    (tree.parent / "sls-access.toml").write_text(textwrap.dedent(DEMO_DASHBOARD))
    assert owner_problem(tree.parent / "sls-access.toml", tree, uid=NOBODY.pw_uid) is None  # root's: fine for all
    chown(tree.parent / "sls-access.toml", NOBODY)
    chown(tree.parent, NOBODY)
    chown(tree, NOBODY)
    assert owner_problem(tree.parent / "sls-access.toml", tree, uid=NOBODY.pw_uid) is None  # nobody's own


def test_trust_names_the_owner_and_records_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = planted(tree / "sls-access.toml")
    assert main(["trust", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"sls-access: error: {path}: the project dashboard file is owned by user 'nobody'")
    assert err.count("\n") == 1
    assert load_trusted() == {}


def test_trust_revoke_forgets_a_file_another_user_owns_now(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tree / "sls-access.toml"
    project.write_text(textwrap.dedent(DEMO_DASHBOARD))
    trust(project)
    chown(project, NOBODY)
    monkeypatch.chdir(tree)
    assert main(["trust", "--revoke"]) == 0
    assert capsys.readouterr().out == f"revoked trust in {project}\n"
    assert load_trusted() == {}


# -- as a second, unprivileged user -----------------------------------------------------


@attrs.frozen
class LocalUser:
    """A local user and the Python interpreter (with this checkout's sls_access) it can run.

    The interpreter runs with ``-S``: only this checkout and the test environment's
    packages are on its path, not a system Python's own.
    """

    account: pwd.struct_passwd
    python: str
    pythonpath: str

    def run(self, *argv: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
        """Run ``sls-access ARGV`` as this user in *cwd*, with *home* as HOME and nothing else of ours."""
        env = {
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": self.pythonpath,
            "LANG": "C.UTF-8",
            "SLS_ACCESS_AGENT": "off",
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
        }
        argv_env = [f"{name}={value}" for name, value in env.items()]
        return subprocess.run(
            [
                "runuser",
                "-u",
                self.account.pw_name,
                "--",
                "env",
                "-i",
                *argv_env,
                self.python,
                "-S",
                "-m",
                "sls_access.cli",
                *argv,
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="session")
def local_user() -> LocalUser:
    """The unprivileged user ``sls-access-test`` (created once, kept), and a Python it can run."""
    if os.geteuid() != 0:
        pytest.fail("these tests create a local user: run them as root (CI runs them in a container)")
    try:
        account = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", TEST_USER], check=False, capture_output=True, timeout=30)
        account = pwd.getpwnam(TEST_USER)  # made now, or by a concurrent run
    pythonpath = os.pathsep.join(
        [str(Path(sls_access.__file__).resolve().parents[1]), sysconfig.get_paths()["purelib"]]
    )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                TEST_USER,
                "--",
                "env",
                "-i",
                f"PYTHONPATH={pythonpath}",
                python,
                "-S",
                "-c",
                "import sys, sls_access.cli; print('%d.%d' % sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return LocalUser(account=account, python=python, pythonpath=pythonpath)
    pytest.fail(f"no Python {version} that {TEST_USER} can run with this checkout's sls_access")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A world-writable sticky directory, as /tmp is (tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="sa-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def users_dir(path: Path, user: pwd.struct_passwd) -> Path:
    path.mkdir()
    return chown(path, user)


def test_a_file_planted_in_a_shared_directory_is_not_trusted_nor_used_by_another_user(
    local_user: LocalUser, shared: Path
) -> None:
    path = planted(shared / "sls-access.toml")
    home = users_dir(shared / "home", local_user.account)
    work = users_dir(shared / "work", local_user.account)

    trusted = local_user.run("trust", cwd=work, home=home)  # a bare trust used to trust the planted file
    assert (trusted.returncode, trusted.stdout) == (2, ""), trusted.stderr
    assert trusted.stderr == (
        f"sls-access: error: {path}: the project dashboard file is owned by user "
        "'nobody' (uid 65534), not by you: a project dashboard file another user owns or "
        "could replace is never used (it would choose the role your keys enter); remove "
        "it, or name your dashboard with --dashboard / SLS_ACCESS_DASHBOARD\n"
    )
    assert not (home / ".local" / "state" / "sls-access" / "trusted.json").exists()

    explained = local_user.run(
        "explain", "--offline", "--json", "--org", "acme", "--app", "shop", "--stage", "prod", cwd=work, home=home
    )
    assert explained.returncode == 0, explained.stderr
    trail = json.loads(explained.stdout)
    assert "owned by user 'nobody'" in json.dumps(trail)
    assert "999999999999" not in explained.stdout  # the planted role is never planned


def test_the_users_own_file_and_roots_are_trusted_by_that_user(local_user: LocalUser, shared: Path) -> None:
    home = users_dir(shared / "home", local_user.account)
    work = users_dir(shared / "work", local_user.account)
    own = work / "sls-access.toml"
    own.write_text(textwrap.dedent(DEMO_DASHBOARD))
    chown(own, local_user.account)
    result = local_user.run("trust", cwd=work, home=home)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"trusted {own} (sha256 ")
    own.unlink()
    (shared / "sls-access.toml").write_text(textwrap.dedent(DEMO_DASHBOARD))  # root's, in root's /tmp-like dir
    result = local_user.run("trust", cwd=work, home=home)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"trusted {shared / 'sls-access.toml'} (sha256 ")
