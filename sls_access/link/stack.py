"""Create, update or delete the access role's stack and follow it to the end, showing its events.

Events are read with ``DescribeStackEvents`` (newest first, paged) and reported oldest
first, each once, as they arrive. Waiting is bounded by a deadline; a stack that ends in a
rollback is a :class:`~sls_access.link.LinkError` quoting the first failing resource's
``ResourceStatusReason``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import botocore.exceptions

from sls_access import _redact
from sls_access.link import LinkError

__all__ = [
    "CAPABILITIES",
    "ORG_TAG",
    "PROFILE_TAG",
    "Stack",
    "StackEvent",
    "describe_error",
    "find_stack",
    "owner_tags",
]

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
ORG_TAG = "sls-access:org"
PROFILE_TAG = "sls-access:deployment-profile"
_MAX_PAGES = 20
_SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
_BROKEN = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"}


@attrs.frozen(kw_only=True)
class StackEvent:
    """One stack event, as the progress line shows it."""

    event_id: str
    timestamp: datetime
    logical_id: str
    resource_type: str
    status: str
    reason: str | None = None

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.timestamp:%H:%M:%S} {self.status:<22} {self.resource_type} {self.logical_id}{reason}"


def describe_error(exc: BaseException, action: str) -> str:
    """Return what a failed CloudFormation *action* means, in one line and without a response body."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return f"{action}: no AWS credentials (botocore's default chain found none; log in or set AWS_PROFILE)"
    if isinstance(exc, botocore.exceptions.ClientError):
        info = exc.response.get("Error", {})
        return f"{action}: AWS said {info.get('Code')}: {' '.join(str(info.get('Message', '')).split())[:300]}"
    return f"{action}: {type(exc).__name__}: {_redact.redact(str(exc))[:300]}"


def owner_tags(org: str, profile: str) -> dict[str, str]:
    """Return the tags that say which (org, deployment profile) a stack belongs to."""
    return {ORG_TAG: org, PROFILE_TAG: profile}


def _owner_problem(name: str, current: Mapping[str, Any], owner: Mapping[str, str]) -> str | None:
    """Return why the stack *current* is not *owner*'s (its ``sls-access:*`` tags), or None when it is."""
    tags = {str(tag.get("Key")): str(tag.get("Value")) for tag in current.get("Tags") or ()}
    found = {key: tags.get(key) for key in owner}
    if found == dict(owner):
        return None
    if all(value is None for value in found.values()):
        return f"stack {name} has no sls-access tags: sls-access link did not make it"
    return (
        f"stack {name} belongs to org {found.get(ORG_TAG)!r}, deployment profile "
        f"{found.get(PROFILE_TAG)!r} (its sls-access tags), not org {owner.get(ORG_TAG)!r}, "
        f"deployment profile {owner.get(PROFILE_TAG)!r}"
    )


def _missing(exc: botocore.exceptions.ClientError) -> bool:
    info = exc.response.get("Error", {})
    return info.get("Code") == "ValidationError" and "does not exist" in str(info.get("Message", ""))


@attrs.define
class Stack:
    """One stack, through a botocore CloudFormation *client*.

    :ivar on_event: called with each new event, oldest first.
    :ivar timeout: seconds to wait for the stack to settle, then :class:`LinkError`.
    """

    client: Any
    name: str
    on_event: Callable[[StackEvent], None]
    timeout: float = 900.0
    poll: float = 2.0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _seen: set[str] = attrs.field(factory=set, init=False)

    def _call(self, action: str, **kwargs: Any) -> Any:  # noqa: ANN401 - botocore's answers
        try:
            return getattr(self.client, action)(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                raise
            raise LinkError(
                describe_error(exc, f"CloudFormation {action} of stack {self.name}"), stack_name=self.name
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise LinkError(
                describe_error(exc, f"CloudFormation {action} of stack {self.name}"), stack_name=self.name
            ) from None

    def status(self) -> Mapping[str, Any] | None:
        """Return the stack's description, or None when there is no such stack."""
        try:
            stacks = self._call("describe_stacks", StackName=self.name)["Stacks"]
        except botocore.exceptions.ClientError:  # only "does not exist" gets here
            return None
        return stacks[0] if stacks else None

    def _events(self) -> list[StackEvent]:
        """Return the events not reported yet, oldest first."""
        new: list[StackEvent] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            kwargs: dict[str, Any] = {"StackName": self.name}
            if token:
                kwargs["NextToken"] = token
            try:
                page = self._call("describe_stack_events", **kwargs)
            except botocore.exceptions.ClientError:  # deleted: nothing more to tell
                break
            for raw in page.get("StackEvents", []):
                if raw["EventId"] in self._seen:
                    token = None
                    break
                new.append(
                    StackEvent(
                        event_id=raw["EventId"],
                        timestamp=raw["Timestamp"],
                        logical_id=raw.get("LogicalResourceId", ""),
                        resource_type=raw.get("ResourceType", ""),
                        status=raw.get("ResourceStatus", ""),
                        reason=raw.get("ResourceStatusReason"),
                    )
                )
            else:
                token = page.get("NextToken")
            if not token:
                break
        new.reverse()
        self._seen.update(event.event_id for event in new)
        return new

    def _report(self) -> list[StackEvent]:
        events = self._events()
        for event in events:
            self.on_event(event)
        return events

    def belongs_to(self, owner: Mapping[str, str]) -> Mapping[str, Any] | None:
        """Return the stack's description when it exists and its tags name *owner*; None when there is none.

        :raises LinkError: the stack exists, and its ``sls-access:*`` tags (:func:`owner_tags`)
            name another org or deployment profile, or are missing: it is not to be updated
            or deleted on *owner*'s behalf.
        """
        current = self.status()
        if current is not None:
            problem = _owner_problem(self.name, current, owner)
            if problem is not None:
                raise LinkError(f"{problem}: refused, nothing was changed", stack_name=self.name)
        return current

    def deploy(self, template_body: str, tags: Mapping[str, str]) -> dict[str, str]:
        """Create the stack, or update it when it exists and its tags name the same owner; return its outputs.

        :raises LinkError: the stack is another org's or profile's (see :meth:`belongs_to`),
            CloudFormation refused, the stack rolled back (with the first failing
            resource's reason), or it did not settle within :attr:`timeout`.
        """
        current = self.belongs_to({key: tags[key] for key in (ORG_TAG, PROFILE_TAG)})
        kwargs: dict[str, Any] = {
            "StackName": self.name,
            "TemplateBody": template_body,
            "Capabilities": CAPABILITIES,
            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
        }
        if current is None:
            self._call("create_stack", **kwargs)
        else:
            state = str(current.get("StackStatus", ""))
            if state in _BROKEN or state.endswith("_IN_PROGRESS"):
                raise LinkError(
                    f"stack {self.name} is {state}: wait for it, or delete it "
                    f"('sls-access unlink --delete-stack' or the CloudFormation console), "
                    "then link again",
                    stack_name=self.name,
                )
            self._events()  # earlier operations' events are not this one's
            try:
                self.client.update_stack(**kwargs)
            except botocore.exceptions.ClientError as exc:
                if "No updates are to be performed" not in str(exc.response.get("Error", {}).get("Message", "")):
                    raise LinkError(
                        describe_error(exc, f"CloudFormation update_stack of stack {self.name}"), stack_name=self.name
                    ) from None
            except botocore.exceptions.BotoCoreError as exc:
                raise LinkError(
                    describe_error(exc, f"CloudFormation update_stack of stack {self.name}"), stack_name=self.name
                ) from None
        final = self._wait(_SUCCESS, gone_ok=False)
        assert final is not None  # noqa: S101 - gone_ok=False raises instead
        return {str(out["OutputKey"]): str(out["OutputValue"]) for out in final.get("Outputs", [])}

    def delete(self, owner: Mapping[str, str]) -> bool:
        """Delete the stack and wait until it is gone; return False when there was none.

        :raises LinkError: the stack's tags do not name *owner* (see :meth:`belongs_to`).
        """
        if self.belongs_to(owner) is None:
            return False
        self._events()
        self._call("delete_stack", StackName=self.name)
        self._wait({"DELETE_COMPLETE"}, gone_ok=True)
        return True

    def _wait(self, success: set[str], *, gone_ok: bool) -> Mapping[str, Any] | None:
        deadline = self.monotonic() + self.timeout
        events: list[StackEvent] = []
        while True:
            events.extend(self._report())
            current = self.status()
            if current is None:
                if gone_ok:
                    return None
                raise LinkError(f"stack {self.name} disappeared while it was being deployed", stack_name=self.name)
            state = str(current.get("StackStatus", ""))
            if not state.endswith("_IN_PROGRESS"):
                events.extend(self._report())
                if state in success:
                    return current
                raise LinkError(self._failure(state, current, events), stack_name=self.name)
            if self.monotonic() >= deadline:
                raise LinkError(
                    f"stack {self.name} is still {state} after {self.timeout:g} s; it goes on in "
                    "CloudFormation: follow it in the console, then run link again "
                    "(the dashboard file is unchanged)",
                    stack_name=self.name,
                )
            self.sleep(self.poll)

    def _failure(self, state: str, current: Mapping[str, Any], events: list[StackEvent]) -> str:
        failed = next(
            (
                event
                for event in events
                if event.status.endswith("_FAILED") and event.reason and event.logical_id != self.name
            ),
            None,
        )
        if failed is not None:
            why = f"{failed.logical_id} ({failed.resource_type}) {failed.status}: {failed.reason}"
        else:
            why = str(current.get("StackStatusReason") or "no reason given")
        return f"stack {self.name} ended {state}: {' '.join(why.split())}"


def find_stack(
    client: Any,  # noqa: ANN401 - a botocore client
    org: str,
    profile: str,
    *,
    name: str | None,
    on_event: Callable[[StackEvent], None],
    timeout: float,
) -> tuple[Stack, bool]:
    """Return the stack of (*org*, *profile*), and whether its role has the former name.

    *name* (``--stack-name``) is used as it is. Otherwise the name unique to the pair
    (:func:`~sls_access.link.template.stack_name`); when there is no such stack, one made
    under the former name ``sls-access-ORG-PROFILE`` is this pair's only if its tags say so
    (another pair may have that name); a stack of another pair is never returned for the
    former name, and is refused by :meth:`Stack.deploy` and :meth:`Stack.delete` otherwise.
    """
    from sls_access.link.template import legacy_role_name, legacy_stack_name, stack_name  # noqa: PLC0415

    legacy_default = legacy_stack_name(org, profile)
    candidates = [name] if name is not None else [stack_name(org, profile), legacy_default]
    owner = owner_tags(org, profile)
    for candidate in candidates:
        stack = Stack(client=client, name=candidate, on_event=on_event, timeout=timeout)
        current = stack.status()
        if current is None:
            continue
        if name is None and candidate == legacy_default and _owner_problem(candidate, current, owner) is not None:
            continue  # another pair's stack under the former, ambiguous name: not ours to touch
        role_arns = [
            str(out.get("OutputValue")) for out in current.get("Outputs") or () if out.get("OutputKey") == "RoleArn"
        ]
        legacy = any(arn.endswith(f":role/{legacy_role_name(org, profile)}") for arn in role_arns)
        return stack, legacy
    return Stack(client=client, name=candidates[0], on_event=on_event, timeout=timeout), False
