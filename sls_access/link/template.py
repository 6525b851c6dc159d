"""The access role's CloudFormation template: a pure function of the link's parameters.

The template is emitted as YAML by :func:`to_yaml`, a small emitter for this template's
shape only (mappings, lists, strings, integers, booleans; every string double-quoted), so
that no YAML library is needed to review or deploy it. The same text is printed by
``--template`` and sent to CloudFormation by ``--deploy``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence

import attrs

from sls_access._values import ACCOUNT_ID, EXTERNAL_ID

__all__ = [
    "DEPLOY_POLICY_NAME",
    "MAX_DURATION",
    "MIN_DURATION",
    "RoleSpec",
    "deploy_policy",
    "legacy_role_name",
    "legacy_stack_name",
    "new_external_id",
    "pair_digest",
    "role_name",
    "stack_name",
    "template",
    "to_yaml",
]

MIN_DURATION = 900
MAX_DURATION = 43200
DEPLOY_POLICY_NAME = "sls-access-deploy"

Yaml = Mapping[str, "Yaml"] | Sequence["Yaml"] | str | int | bool


@attrs.frozen(kw_only=True)
class RoleSpec:
    """What the access role is: who may enter it, how, for how long, and with which policies.

    :ivar trust: the principal ARNs that may assume the role (the trust policy).
    :ivar external_id: the ``sts:ExternalId`` every ``AssumeRole`` must present.
    :ivar session_actions: ``sts:SetSourceIdentity`` / ``sts:TagSession`` when the role
        sessions set a SourceIdentity or tags.
    :ivar policies: managed policy ARNs to attach; empty means the inline deploy policy.
    :ivar legacy_name: keep the role name of a stack made before names were unique per
        (org, profile) (:func:`legacy_role_name`), so that updating it keeps its role.
    """

    org: str
    profile: str
    account_id: str = attrs.field(validator=attrs.validators.matches_re(ACCOUNT_ID))
    trust: tuple[str, ...] = attrs.field(validator=attrs.validators.min_len(1))
    external_id: str = attrs.field(repr=False, validator=attrs.validators.matches_re(EXTERNAL_ID))
    duration_seconds: int = 3600
    session_actions: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    legacy_name: bool = False

    @property
    def role_name(self) -> str:
        """The IAM role's name (see :func:`role_name`; :func:`legacy_role_name` for a stack made before it)."""
        return (legacy_role_name if self.legacy_name else role_name)(self.org, self.profile)

    @property
    def role_arn(self) -> str:
        """The ARN the role gets in ``account_id`` (known before it exists: the name is fixed)."""
        return f"arn:aws:iam::{self.account_id}:role/{self.role_name}"


def new_external_id() -> str:
    """Return a fresh random external ID (``sls-`` and 32 URL-safe characters: valid for STS)."""
    value = f"sls-{secrets.token_urlsafe(24)}"
    assert EXTERNAL_ID.fullmatch(value)  # noqa: S101 - token_urlsafe's alphabet is a subset
    return value


_DIGEST_LENGTH = 12


def _bounded(name: str, limit: int) -> str:
    """Cut *name* to *limit* characters, ending it with a hash of the whole so distinct names stay distinct."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: limit - len(digest) - 1]}-{digest}"


def pair_digest(org: str, profile: str) -> str:
    """Return a short hash of the exact (org, profile) pair (12 hex digits), unambiguous whatever they hold."""
    return hashlib.sha256(json.dumps([org, profile]).encode()).hexdigest()[:_DIGEST_LENGTH]


def _unique(org: str, profile: str, disallowed: str, limit: int) -> str:
    """Return ``sls-access-ORG-PROFILE-DIGEST`` within *limit*: readable, and one name per (org, profile).

    The readable part replaces characters outside the rules with ``-`` and is cut to fit;
    the digest of the exact pair keeps ``acme``/``prod-eu`` and ``acme-prod``/``eu`` apart.
    """
    digest = pair_digest(org, profile)
    readable = re.sub(disallowed, "-", f"sls-access-{org}-{profile}", flags=re.ASCII)
    return f"{readable[: limit - len(digest) - 1]}-{digest}"


def role_name(org: str, profile: str) -> str:
    r"""Return the IAM role name ``sls-access-ORG-PROFILE-DIGEST``: ``[\w+=,.@-]``, at most 64 characters."""
    return _unique(org, profile, r"[^\w+=,.@-]", 64)


def stack_name(org: str, profile: str) -> str:
    """Return the stack name ``sls-access-ORG-PROFILE-DIGEST`` under CloudFormation's rules.

    Letters, digits and ``-``, starting with a letter, at most 128 characters.
    """
    return _unique(org, profile, r"[^A-Za-z0-9-]", 128)


def legacy_role_name(org: str, profile: str) -> str:
    """Return the role name ``link`` gave before names were unique per (org, profile): ``sls-access-ORG-PROFILE``.

    Only to recognise a stack made then (its ``sls-access:*`` tags must name the same
    pair): another pair can map to the same name.
    """
    return _bounded(re.sub(r"[^\w+=,.@-]", "-", f"sls-access-{org}-{profile}", flags=re.ASCII), 64)


def legacy_stack_name(org: str, profile: str) -> str:
    """Return the stack name ``link`` gave before names were unique per pair (see :func:`legacy_role_name`)."""
    return _bounded(re.sub(r"[^A-Za-z0-9-]", "-", f"sls-access-{org}-{profile}"), 128)


def _sub(arn: str) -> dict[str, str]:
    return {"Fn::Sub": arn}


def deploy_policy() -> dict[str, Yaml]:
    """Return the inline policy for CloudFormation-based deploys (the Serverless Framework's needs).

    CloudFormation itself; the deployment buckets; the functions' IAM roles (create,
    change, pass to Lambda only); Lambda, CloudWatch Logs, API Gateway and EventBridge
    rules in every region; the Framework v4's SSM parameters under ``/serverless-framework/``.
    Documented in ``docs/how-to/link-aws-account.md``; narrow it with ``--policy``.
    """
    # Every region: the role is global, and one account's stages deploy to several regions.
    account = "arn:${AWS::Partition}:{service}:*:${AWS::AccountId}"
    buckets = (
        "arn:${AWS::Partition}:s3:::*serverlessdeploymentbucket*",
        "arn:${AWS::Partition}:s3:::serverless-framework-deployments-*",
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "CloudFormation", "Effect": "Allow", "Action": ["cloudformation:*"], "Resource": "*"},
            {
                "Sid": "DeploymentBuckets",
                "Effect": "Allow",
                "Action": ["s3:*"],
                "Resource": [_sub(arn) for bucket in buckets for arn in (bucket, f"{bucket}/*")],
            },
            {
                "Sid": "FunctionRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:TagRole",
                    "iam:UntagRole",
                ],
                "Resource": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"),
            },
            {
                "Sid": "PassFunctionRolesToLambda",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"),
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
            {
                "Sid": "Functions",
                "Effect": "Allow",
                "Action": ["lambda:*"],
                "Resource": _sub(account.replace("{service}", "lambda") + ":function:*"),
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:*"],
                "Resource": _sub(account.replace("{service}", "logs") + ":log-group:/aws/lambda/*"),
            },
            {
                "Sid": "ApiGateway",
                "Effect": "Allow",
                "Action": [
                    "apigateway:GET",
                    "apigateway:POST",
                    "apigateway:PUT",
                    "apigateway:PATCH",
                    "apigateway:DELETE",
                ],
                "Resource": _sub("arn:${AWS::Partition}:apigateway:*::/*"),
            },
            {
                "Sid": "EventRules",
                "Effect": "Allow",
                "Action": ["events:*"],
                "Resource": _sub(account.replace("{service}", "events") + ":rule/*"),
            },
            {
                "Sid": "FrameworkParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                "Resource": _sub(account.replace("{service}", "ssm") + ":parameter/serverless-framework/*"),
            },
        ],
    }


def template(spec: RoleSpec) -> dict[str, Yaml]:
    """Return the CloudFormation template of the access role *spec* describes."""
    actions = ["sts:AssumeRole", *spec.session_actions]
    properties: dict[str, Yaml] = {
        "RoleName": spec.role_name,
        "Description": f"sls-access access role of org {spec.org}, deployment profile {spec.profile}",
        # IAM's floor is 3600; STS refuses DurationSeconds above the role's maximum.
        "MaxSessionDuration": max(3600, spec.duration_seconds),
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DeployersThroughSlsAccess",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(spec.trust)},
                    "Action": actions,
                    "Condition": {"StringEquals": {"sts:ExternalId": spec.external_id}},
                }
            ],
        },
        "Tags": [
            {"Key": "sls-access:org", "Value": spec.org},
            {"Key": "sls-access:deployment-profile", "Value": spec.profile},
        ],
    }
    if spec.policies:
        properties["ManagedPolicyArns"] = list(spec.policies)
    else:
        properties["Policies"] = [{"PolicyName": DEPLOY_POLICY_NAME, "PolicyDocument": deploy_policy()}]
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"sls-access: access role for org {spec.org}, deployment profile {spec.profile}",
        "Resources": {"AccessRole": {"Type": "AWS::IAM::Role", "Properties": properties}},
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["AccessRole", "Arn"]}}},
    }


_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Plain words YAML 1.1 reads as booleans or null.
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# What YAML does not allow raw in a double-quoted scalar (its non-printables, and line
# breaks, which would be folded): written as \uXXXX, which YAML and JSON read the same.
_ESCAPE = re.compile("[^\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")


def _quoted(text: str) -> str:
    """Return *text* as a YAML double-quoted scalar (JSON's escapes; other characters as they are)."""
    inner = json.dumps(text, ensure_ascii=False)[1:-1]
    return '"' + _ESCAPE.sub(lambda match: f"\\u{ord(match.group()):04x}", inner) + '"'


def _scalar(value: Yaml) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, Mapping):
        return "{}"  # only ever empty here
    return "[]"


def _is_block(value: Yaml) -> bool:
    return isinstance(value, Mapping | list | tuple) and bool(value)


def _key(key: str) -> str:
    plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED
    return key if plain else _quoted(key)


def _block(value: Yaml, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            if _is_block(item):
                lines.append(f"{pad}{_key(key)}:")
                lines.extend(_block(item, indent + 2))
            else:
                lines.append(f"{pad}{_key(key)}: {_scalar(item)}")
        return lines
    if isinstance(value, list | tuple) and value:
        for item in value:
            if _is_block(item):
                inner = _block(item, indent + 2)
                lines.append(f"{pad}- {inner[0][indent + 2 :]}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return lines
    return [pad + _scalar(value)]


def to_yaml(value: Mapping[str, Yaml]) -> str:
    """Return *value* as block-style YAML; every string double-quoted, keys plain when safe."""
    return "\n".join(_block(value, 0)) + "\n"
