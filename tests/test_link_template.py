"""The access role's CloudFormation template: its trust, duration, policies, names and YAML."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sls_access._values import EXTERNAL_ID
from sls_access.link.template import (
    DEPLOY_POLICY_NAME,
    RoleSpec,
    legacy_role_name,
    legacy_stack_name,
    new_external_id,
    role_name,
    stack_name,
    template,
    to_yaml,
)

CALLER = "arn:aws:iam::123456789012:user/alice"


def spec(**changes: object) -> RoleSpec:
    values: dict[str, object] = {
        "org": "acme",
        "profile": "prod",
        "account_id": "123456789012",
        "trust": (CALLER,),
        "external_id": "sls-abcdef",
    }
    values.update(changes)
    return RoleSpec(**values)  # type: ignore[arg-type]


def role(body: Any) -> dict[str, Any]:
    properties = body["Resources"]["AccessRole"]["Properties"]
    assert isinstance(properties, dict)
    return properties


def test_the_trust_policy_names_the_principals_and_requires_the_external_id() -> None:
    (statement,) = role(template(spec(trust=(CALLER, "arn:aws:iam::999999999999:role/ci"))))[
        "AssumeRolePolicyDocument"
    ]["Statement"]
    assert statement["Principal"] == {"AWS": [CALLER, "arn:aws:iam::999999999999:role/ci"]}
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "sls-abcdef"}}


def test_session_actions_are_added_to_the_trust_statement() -> None:
    body = template(spec(session_actions=("sts:SetSourceIdentity", "sts:TagSession")))
    (statement,) = role(body)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]


@pytest.mark.parametrize(("duration", "maximum"), [(900, 3600), (3600, 3600), (7200, 7200), (43200, 43200)])
def test_max_session_duration_is_at_least_the_profiles_duration_and_iams_floor(duration: int, maximum: int) -> None:
    assert role(template(spec(duration_seconds=duration)))["MaxSessionDuration"] == maximum


def test_without_policies_the_role_gets_the_inline_deploy_policy_and_no_administrator_access() -> None:
    properties = role(template(spec()))
    assert "ManagedPolicyArns" not in properties
    (policy,) = properties["Policies"]
    assert policy["PolicyName"] == DEPLOY_POLICY_NAME
    text = json.dumps(policy)
    assert "cloudformation:*" in text
    assert "iam:PassRole" in text
    assert "AdministratorAccess" not in json.dumps(template(spec()))
    assert '"Action": ["*"]' not in text
    assert '"Action": "*"' not in text


def test_policies_given_are_attached_instead_of_the_deploy_policy() -> None:
    properties = role(template(spec(policies=("arn:aws:iam::aws:policy/PowerUserAccess",))))
    assert properties["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/PowerUserAccess"]
    assert "Policies" not in properties


ACME_PROD = "sls-access-acme-prod-" + hashlib.sha256(b'["acme", "prod"]').hexdigest()[:12]


def test_the_role_is_named_after_org_and_profile_and_its_arn_is_known_in_advance() -> None:
    assert role(template(spec()))["RoleName"] == ACME_PROD
    assert spec().role_arn == f"arn:aws:iam::123456789012:role/{ACME_PROD}"
    assert template(spec())["Outputs"] == {"RoleArn": {"Value": {"Fn::GetAtt": ["AccessRole", "Arn"]}}}


def test_the_external_id_is_not_in_the_specs_repr() -> None:
    assert "sls-abcdef" not in repr(spec())


def test_the_yaml_reads_back_as_the_template() -> None:
    body = template(spec(session_actions=("sts:SetSourceIdentity",)))
    assert yaml.safe_load(to_yaml(body)) == body


@given(
    st.recursive(
        st.text() | st.integers() | st.booleans(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=12,
    ).filter(lambda value: isinstance(value, dict))
)
def test_the_yaml_emitter_round_trips_any_mapping_of_its_shapes(value: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


def test_new_external_ids_are_valid_for_sts_and_fresh() -> None:
    ids = {new_external_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(EXTERNAL_ID.fullmatch(value) for value in ids)


@pytest.mark.parametrize(
    ("org", "profile", "readable"),
    [
        ("acme", "prod", "sls-access-acme-prod-"),
        ("ac_me", "p.x", "sls-access-ac-me-p-x-"),
    ],
)
def test_stack_names_follow_cloudformations_rules(org: str, profile: str, readable: str) -> None:
    name = stack_name(org, profile)
    assert name.startswith(readable)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", name)


def test_a_former_stack_keeps_its_role_name() -> None:
    assert spec(legacy_name=True).role_name == legacy_role_name("acme", "prod") == "sls-access-acme-prod"
    assert legacy_stack_name("ac_me", "p.x") == "sls-access-ac-me-p-x"


def test_pairs_that_read_alike_get_different_names() -> None:
    # The former names were the same for both: a second org's link updated the first's stack.
    assert legacy_stack_name("acme", "prod-eu") == legacy_stack_name("acme-prod", "eu")
    assert stack_name("acme", "prod-eu") != stack_name("acme-prod", "eu")
    assert role_name("acme", "prod-eu") != role_name("acme-prod", "eu")
    assert role_name("acme", "p/x") != role_name("acme", "p-x")  # replaced characters too
    assert role_name("Acme", "prod").lower() != role_name("acme", "prod").lower()  # IAM ignores case


_NAMES = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=150)


@given(_NAMES, _NAMES, _NAMES, _NAMES)
def test_names_are_unique_per_pair_and_within_the_limits(
    org: str, profile: str, other_org: str, other_profile: str
) -> None:
    role, stack = role_name(org, profile), stack_name(org, profile)
    assert re.fullmatch(r"[\w+=,.@-]{1,64}", role, re.ASCII)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", stack)
    if (org, profile) != (other_org, other_profile):
        assert role_name(other_org, other_profile) != role
        assert stack_name(other_org, other_profile) != stack


def test_long_names_are_cut_with_a_hash_that_keeps_them_distinct() -> None:
    first, second = role_name("a" * 70, "one"), role_name("a" * 70, "two")
    assert len(first) == len(second) == 64
    assert first != second
    assert len(stack_name("o" * 200, "p")) == 128
