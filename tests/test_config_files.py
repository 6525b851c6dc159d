"""The AWS config and credentials files: parsed once per version, each session given its own copy."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.configloader
import botocore.exceptions
import botocore.session
import pytest

from sls_access._botocore_session import new_session


def settle(path: Path) -> None:
    """Nothing to wait for: the parse is shared by the files' bytes, not by their times."""
    del path


def config_file() -> Path:
    return Path(os.environ["AWS_CONFIG_FILE"]).expanduser()


def credentials_file() -> Path:
    return Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).expanduser()


def write_config(region: str) -> Path:
    path = config_file()
    path.write_text(f"[default]\nregion = {region}\n\n[profile other]\nregion = ap-south-1\n")
    return path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count botocore's parses per file (a spy: botocore's own parser still does the work)."""
    seen: Counter[str] = Counter()
    parse: Callable[..., dict[str, Any]] = botocore.configloader.raw_config_parse

    def counting(config_filename: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        seen[os.path.expanduser(config_filename)] += 1
        return parse(config_filename, *args, **kwargs)

    monkeypatch.setattr(botocore.configloader, "raw_config_parse", counting)
    return seen


def region(session: botocore.session.Session) -> object:
    return session.get_scoped_config().get("region")


def test_unchanged_files_are_parsed_once_for_many_sessions(aws_env: Path, parses: Counter[str]) -> None:
    path = write_config("eu-west-1")
    assert [region(new_session()) for _ in range(3)] == ["eu-west-1"] * 3
    assert parses[str(path)] == 1


def test_a_file_rewritten_at_once_with_the_same_size_and_times_is_read_again(aws_env: Path) -> None:
    # Within one tick of the file system's clock (or with its server's clock behind), a
    # rewrite can keep every time and the size: the bytes tell.
    path = write_config("eu-west-1")
    before = path.stat()
    assert region(new_session()) == "eu-west-1"
    write_config("eu-west-2")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert region(new_session()) == "eu-west-2"


def test_a_config_file_that_is_not_a_regular_file_is_left_to_botocore(aws_env: Path) -> None:
    os.mkfifo(config_file())  # botocore takes it for no file; opening it would block
    assert region(new_session()) is None


def test_a_changed_file_is_read_by_the_next_session(aws_env: Path) -> None:
    write_config("eu-west-1")
    assert region(new_session()) == "eu-west-1"
    write_config("eu-west-2")
    assert region(new_session()) == "eu-west-2"


def test_a_file_rewritten_with_the_same_size_and_modification_time_is_read_again(aws_env: Path) -> None:
    path = write_config("eu-west-1")
    before = path.stat()
    assert region(new_session()) == "eu-west-1"
    write_config("eu-west-2")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    settle(path)
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert region(new_session()) == "eu-west-2"


def test_a_file_replaced_by_another_of_the_same_size_and_times_is_read_again(aws_env: Path, tmp_path: Path) -> None:
    path = write_config("eu-west-1")
    before = path.stat()
    assert region(new_session()) == "eu-west-1"
    other = tmp_path / "replacement"
    other.write_text(path.read_text().replace("eu-west-1", "eu-west-2"))
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    other.replace(path)
    settle(path)
    assert region(new_session()) == "eu-west-2"


def test_a_credentials_file_created_later_is_seen(aws_env: Path) -> None:
    write_config("eu-west-1")
    assert "extra" not in new_session().available_profiles
    credentials_file().write_text("[extra]\naws_access_key_id = AKIDEXAMPLE\n")
    settle(credentials_file())
    assert "extra" in new_session().available_profiles


def test_a_removed_file_is_seen(aws_env: Path) -> None:
    path = write_config("eu-west-1")
    assert region(new_session()) == "eu-west-1"
    path.unlink()
    settle(path)
    assert region(new_session()) is None


def test_each_session_gets_its_own_copy(aws_env: Path) -> None:
    write_config("eu-west-1")
    first = new_session()  # parses, and keeps a copy of the parse for the next ones
    mine, other = new_session(), new_session()
    first.full_config["profiles"]["default"]["region"] = "changed first"
    mine.full_config["profiles"]["default"]["region"] = "changed"
    assert region(mine) == "changed"
    assert region(other) == "eu-west-1"
    assert region(new_session()) == "eu-west-1"


def test_the_parse_is_botocores_with_the_credentials_files_profiles(aws_env: Path) -> None:
    write_config("eu-west-1")
    credentials_file().write_text("[other]\naws_access_key_id = AKIDEXAMPLE\n[extra]\nregion = sa-east-1\n")
    settle(credentials_file())
    new_session().full_config  # noqa: B018 - the first session parses and keeps the parse
    assert new_session().full_config == botocore.session.Session().full_config


def test_a_broken_file_fails_every_session(aws_env: Path) -> None:
    config_file().write_text("[default\nregion = eu-west-1\n")
    settle(config_file())
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ConfigParseError):
            new_session()


def test_the_file_is_found_through_home_at_each_session(aws_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "~/aws-config")
    write_config("eu-west-1")
    assert region(new_session()) == "eu-west-1"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "aws-config").write_text("[default]\nregion = eu-north-1\n")
    settle(elsewhere / "aws-config")
    monkeypatch.setenv("HOME", str(elsewhere))
    assert region(new_session()) == "eu-north-1"
