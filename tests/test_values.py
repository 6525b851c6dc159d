"""The value rules of ``sls_access._values``: slips of a known name; STS session values; caller principals."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sls_access._values import (
    _distance_within,
    caller_principal,
    iso_utc,
    near_name,
    parse_iso_utc,
    session_field,
    session_field_problem,
    session_tag_value,
    source_identity_of_arn,
)


def reference_distance(a: str, b: str) -> int:
    """Optimal string alignment distance, the whole table: what the banded version must agree with."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        table[i][0] = i
    for j in range(len(b) + 1):
        table[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[len(a)][len(b)]


@pytest.mark.parametrize(
    ("name", "known", "near"),
    [
        ("acmee", ["acme", "solo"], "acme"),  # one letter too many
        ("acm", ["acme"], "acme"),  # one too few
        ("pord", ["prod"], "prod"),  # two neighbours swapped
        ("prid", ["prod"], "prod"),  # one substituted
        ("Acme", ["acme"], "acme"),  # letter case
        ("PROD", ["dev", "prod"], "prod"),  # letter case, however many letters
        ("Q", ["q"], "q"),  # letter case counts even for short names
        ("stagign", ["staging"], "staging"),  # two edits in a name of 7
        ("x" * 201, ["x" * 200], "x" * 200),  # long names are compared in a band, not skipped
    ],
)
def test_a_slip_names_the_known_name(name: str, known: list[str], near: str) -> None:
    assert near_name(name, known) == near


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("prod", ["prod", "prd"]),  # known exactly: no slip, however close another is
        ("dev", ["prod"]),  # distance 4
        ("test", ["dev"]),  # distance 3
        ("demo", ["dev"]),  # distance 2, but 4 letters allow 1
        ("pre", ["prod"]),  # distance 2 again
        ("stage", ["staging"]),  # distance 3
        ("production", ["prod"]),  # 6 letters more
        ("qa", ["ci"]),  # under 3 letters: only letter case counts
        ("a", ["b"]),
        ("other", ["acme", "solo"]),
        ("web", ["api"]),
    ],
)
def test_distinct_names_are_not_slips(name: str, known: list[str]) -> None:
    assert near_name(name, known) is None


def test_the_closest_known_name_wins() -> None:
    assert near_name("stagingg", ["stagin", "staging"]) == "staging"


def test_letter_case_beats_a_one_letter_slip() -> None:
    assert near_name("Prod", ["prad", "prod"]) == "prod"


@given(st.text("abcd", max_size=9), st.text("abcd", max_size=9), st.integers(min_value=0, max_value=3))
def test_the_banded_distance_agrees_with_the_whole_table(a: str, b: str, limit: int) -> None:
    expected = reference_distance(a, b)
    assert _distance_within(a, b, limit) == (expected if expected <= limit else None)


# -- STS role session values: made valid, never passed through ------------------------------

STS_SESSION_FIELD = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")
"""STS's rule for RoleSessionName and SourceIdentity, written out here independently."""


def sts_accepts_tag_value(value: str) -> bool:
    """STS's rule for a session tag value: up to 256 of [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@] (UTF-16 units)."""
    return len(value.encode("utf-16-le")) // 2 <= 256 and all(
        ch in "_.:/=+-@" or unicodedata.category(ch)[0] in "LZN" for ch in value
    )


@given(st.text(max_size=300))
def test_a_session_field_always_satisfies_sts(raw: str) -> None:
    value = session_field(raw)
    assert STS_SESSION_FIELD.fullmatch(value), value
    assert not value.lower().startswith("aws:")
    assert session_field_problem("SourceIdentity", value) is None


@given(st.from_regex(STS_SESSION_FIELD, fullmatch=True).filter(lambda s: not s.lower().startswith("aws:")))
def test_a_valid_session_field_is_kept_as_it_is(raw: str) -> None:
    assert session_field(raw) == raw


@given(st.text(max_size=200), st.text(max_size=200))
def test_two_different_names_never_get_one_session_field(one: str, two: str) -> None:
    assume(one != two)
    assert session_field(one) != session_field(two)


@pytest.mark.parametrize(
    "raw", ["x" * 65, "aws:ci", "AWS:ci", "ci déploy", "alice smith", "ops/alice", "a", "", "ci\nadmin", "é"]
)
def test_names_sts_would_reject_are_changed_with_a_hash_of_the_original(raw: str) -> None:
    value = session_field(raw)
    assert value != raw
    assert STS_SESSION_FIELD.fullmatch(value)
    assert re.search(r"-[0-9a-f]{10}$", value)
    assert session_field(raw) == value  # deterministic


@given(st.text(max_size=400))
def test_a_session_tag_value_always_satisfies_sts(raw: str) -> None:
    assert sts_accepts_tag_value(session_tag_value(raw))


@given(st.text(st.characters(categories=("L", "N", "Zs")), max_size=256))
def test_a_valid_session_tag_value_is_kept_as_it_is(raw: str) -> None:
    assume(all(ord(ch) <= 0xFFFF for ch in raw))
    assert session_tag_value(raw) == raw


@pytest.mark.parametrize("raw", ["x" * 257, "a;b", "tab\there", "emoji\U0001f600", "line\u2028break"])
def test_tag_values_sts_would_reject_are_changed(raw: str) -> None:
    value = session_tag_value(raw)
    assert value != raw
    assert sts_accepts_tag_value(value)


@pytest.mark.parametrize(
    ("arn", "identity"),
    [
        ("arn:aws:iam::111111111111:user/ops/alice", "alice"),
        ("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com", "alice@example.com"),
        ("arn:aws:sts::111111111111:assumed-role/ci/i-0abc", "i-0abc"),
        ("arn:aws:sts::111111111111:federated-user/bob", "bob"),
        ("arn:aws:iam::111111111111:root", "root"),
    ],
)
def test_the_source_identity_of_a_caller_is_the_last_part_of_its_arn(arn: str, identity: str) -> None:
    assert source_identity_of_arn(arn) == identity


@given(st.text(max_size=200))
def test_the_source_identity_of_any_arn_satisfies_sts(tail: str) -> None:
    value = source_identity_of_arn(f"arn:aws:sts::111111111111:assumed-role/r/{tail}")
    assert STS_SESSION_FIELD.fullmatch(value)


@pytest.mark.parametrize(
    ("arn", "principal"),
    [
        (
            "arn:aws:sts::123456789012:assumed-role/Deployer/alice@example.com",
            "arn:aws:iam::123456789012:role/Deployer",
        ),
        ("arn:aws-cn:sts::123456789012:assumed-role/ci/run-7", "arn:aws-cn:iam::123456789012:role/ci"),
        ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
        ("arn:aws:iam::123456789012:role/path/ci", "arn:aws:iam::123456789012:role/path/ci"),
        ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),
        ("arn:aws:sts::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),  # moto's answer
    ],
)
def test_caller_principal_is_what_a_trust_policy_names(arn: str, principal: str) -> None:
    assert caller_principal(arn) == principal


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sts::123456789012:federated-user/bob",
        "arn:aws:iam::123456789012:group/admins",
        "arn:aws:iam::12345678901:user/short",
        "not an arn",
    ],
)
def test_caller_principal_is_none_for_what_a_trust_policy_cannot_name(arn: str) -> None:
    assert caller_principal(arn) is None


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)))
def test_parse_iso_utc_reads_back_what_iso_utc_wrote(value: datetime) -> None:
    assert parse_iso_utc(iso_utc(value)) == value.replace(microsecond=0)
    assert parse_iso_utc(iso_utc(value)).tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-1-02T03:04:05Z",  # strptime takes a month of one digit; the files are written with two
        "2026-02-30T00:00:00Z",  # no such day
        "2026-01-02T24:00:00Z",
        "2026-01-02T03:04:05Z\n",
        "2026-01-02T03:04:05",
        "2026-01-02T03:04:05+00:00",
        "2026-01-02 03:04:05Z",
        "\uff12026-01-02T03:04:05Z",  # a fullwidth digit
        "",
    ],
)
def test_parse_iso_utc_refuses_any_other_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a UTC time|out of range|must be in"):
        parse_iso_utc(text)
