"""The service's memo of links: the dashboard's own answers, forgotten when the dashboard changes."""

from __future__ import annotations

import pytest

from sls_access._target import Target
from sls_access.dashboard.file import UNKNOWN_TARGET, DashboardFile, TargetError, parse_dashboard_file
from sls_access.service._links import LinkMemo

FIRST = b"""
[orgs.acme.deployment_profiles.prod]
role_arn = "arn:aws:iam::111111111111:role/prod"
[orgs.acme.deployment_profiles.dev]
role_arn = "arn:aws:iam::222222222222:role/dev"
[orgs.acme.apps.shop.stages.prod]
deployment_profile = "prod"
[orgs.acme.apps.shop.stages.dev]
deployment_profile = "dev"
"""


def dashboard(text: bytes = FIRST) -> DashboardFile:
    return parse_dashboard_file(text, "dashboard.toml")


PROD = Target(org="acme", app="shop", stage="prod")
DEV = Target(org="acme", app="shop", stage="dev")


def test_it_answers_what_the_dashboard_answers() -> None:
    memo, current = LinkMemo(), dashboard()
    for target in (PROD, DEV, Target(org="other", app="shop", stage="prod")):
        assert memo.link(current, target) == current.link(target)
        assert memo.link(current, target) == current.link(target)  # remembered: the same answer
    assert memo.link(current, PROD).profile.role_arn.endswith(":role/prod")  # type: ignore[union-attr]


def test_a_changed_dashboard_is_answered_from_itself_not_from_the_old_answers() -> None:
    memo = LinkMemo()
    assert memo.link(dashboard(), PROD).profile.name == "prod"  # type: ignore[union-attr]
    relinked = dashboard(
        FIRST.replace(b'stages.prod]\ndeployment_profile = "prod"', b'stages.prod]\ndeployment_profile = "dev"')
    )
    link = memo.link(relinked, PROD)
    assert link is not None
    assert link.profile.name == "dev"
    unlinked = dashboard(FIRST.split(b"[orgs.acme.apps")[0])
    assert memo.link(unlinked, PROD) is None


def test_a_refused_target_raises_every_time() -> None:
    memo, current = LinkMemo(), dashboard()
    slip = Target(org="acme", app="shopp", stage="prod")
    for _ in range(2):
        with pytest.raises(TargetError) as caught:
            memo.link(current, slip)
        assert caught.value.code == UNKNOWN_TARGET


def test_past_its_size_it_starts_anew_and_still_answers_right() -> None:
    memo, current = LinkMemo(maxsize=2), dashboard()
    targets = [PROD, DEV, Target(org="acme", app="shop", stage="prod", region="eu-west-1")] * 3
    answers = []
    for target in targets:
        answers.append(memo.link(current, target))
        assert 1 <= len(memo) <= 2
    assert answers == [current.link(target) for target in targets]


def test_it_remembers_each_target_once_and_forgets_them_with_their_dashboard() -> None:
    memo, current = LinkMemo(), dashboard()
    for target in (PROD, DEV, PROD, DEV):
        memo.link(current, target)
    assert len(memo) == 2
    memo.link(dashboard(), PROD)  # an equal dashboard, but another object: the state replaced it
    assert len(memo) == 1
