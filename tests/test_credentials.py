from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sls_access import Credentials

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN"


def test_repr_and_str_never_show_the_secret_or_token() -> None:
    creds = Credentials(access_key_id="AKIAEXAMPLE", secret_access_key=SECRET, session_token=TOKEN)
    for text in (repr(creds), str(creds)):
        assert "AKIAEXAMPLE" in text
        assert SECRET not in text
        assert TOKEN not in text


def test_naive_expiration_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Credentials(access_key_id="a", secret_access_key="b", expiration=datetime(2030, 1, 1))


def test_remaining_is_time_to_expiry_or_none() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    creds = Credentials(access_key_id="a", secret_access_key="b", expiration=now + timedelta(hours=1))
    assert creds.remaining(now) == timedelta(hours=1)
    assert Credentials(access_key_id="a", secret_access_key="b").remaining(now) is None


def test_to_env_gives_the_aws_variables() -> None:
    exp = datetime(2030, 1, 1, tzinfo=UTC)
    creds = Credentials(access_key_id="a", secret_access_key="b", session_token="t", expiration=exp)
    assert creds.to_env() == {
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_SESSION_TOKEN": "t",
        "AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z",
    }


def test_key_hint_shows_only_the_last_four_characters() -> None:
    assert Credentials(access_key_id="AKIAEXAMPLE1234", secret_access_key="s").key_hint == "****1234"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("secret_access_key", "secret\nNODE_OPTIONS=--require=/tmp/x.js"),
        ("session_token", "token with space"),
        ("access_key_id", "AKIA\n"),
        ("region", "eu-west-1\nX=1"),
    ],
)
def test_a_value_that_could_smuggle_a_line_is_refused_without_naming_it(field: str, value: str) -> None:
    fields = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cret", field: value}
    with pytest.raises(ValueError, match=field.split("_", maxsplit=1)[0]) as raised:
        Credentials(**fields)  # type: ignore[arg-type]
    assert "NODE_OPTIONS" not in str(raised.value)
    assert "with space" not in str(raised.value)
