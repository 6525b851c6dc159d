"""The value rules of ``sls_access._values``: what counts as a slip of a known name; caller principals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sls_access._values import _distance_within, caller_principal, near_name


def reference_distance(a: str, b: str) -> int:
    """Optimal string alignment distance, the whole table: what the banded version must agree with."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        table[i][0] = i
    for j in range(len(b) + 1):
        table[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                              table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[len(a)][len(b)]


@pytest.mark.parametrize(
    ("name", "known", "near"),
    [
        ("acmee", ["acme", "solo"], "acme"),      # one letter too many
        ("acm", ["acme"], "acme"),                # one too few
        ("pord", ["prod"], "prod"),               # two neighbours swapped
        ("prid", ["prod"], "prod"),               # one substituted
        ("Acme", ["acme"], "acme"),               # letter case
        ("PROD", ["dev", "prod"], "prod"),        # letter case, however many letters
        ("Q", ["q"], "q"),                        # letter case counts even for short names
        ("stagign", ["staging"], "staging"),      # two edits in a name of 7
        ("x" * 201, ["x" * 200], "x" * 200),      # long names are compared in a band, not skipped
    ],
)
def test_a_slip_names_the_known_name(name: str, known: list[str], near: str) -> None:
    assert near_name(name, known) == near


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("prod", ["prod", "prd"]),        # known exactly: no slip, however close another is
        ("dev", ["prod"]),                # distance 4
        ("test", ["dev"]),                # distance 3
        ("demo", ["dev"]),                # distance 2, but 4 letters allow 1
        ("pre", ["prod"]),                # distance 2 again
        ("stage", ["staging"]),           # distance 3
        ("production", ["prod"]),         # 6 letters more
        ("qa", ["ci"]),                   # under 3 letters: only letter case counts
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


@pytest.mark.parametrize(("arn", "principal"), [
    ("arn:aws:sts::123456789012:assumed-role/Deployer/alice@example.com",
     "arn:aws:iam::123456789012:role/Deployer"),
    ("arn:aws-cn:sts::123456789012:assumed-role/ci/run-7", "arn:aws-cn:iam::123456789012:role/ci"),
    ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
    ("arn:aws:iam::123456789012:role/path/ci", "arn:aws:iam::123456789012:role/path/ci"),
    ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),
    ("arn:aws:sts::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),  # moto's answer
])
def test_caller_principal_is_what_a_trust_policy_names(arn: str, principal: str) -> None:
    assert caller_principal(arn) == principal


@pytest.mark.parametrize("arn", [
    "arn:aws:sts::123456789012:federated-user/bob",
    "arn:aws:iam::123456789012:group/admins",
    "arn:aws:iam::12345678901:user/short",
    "not an arn",
])
def test_caller_principal_is_none_for_what_a_trust_policy_cannot_name(arn: str) -> None:
    assert caller_principal(arn) is None
