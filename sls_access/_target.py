"""The target of a resolution: an org, app, stage and optional region."""

from __future__ import annotations

import re

import attrs

from sls_access._public import publish
from sls_access._values import name_problem, region_problem
from sls_access.errors import ConfigError

__all__ = ["Target", "env_prefix"]


def _check_name(instance: Target, attribute: attrs.Attribute[str], value: str) -> None:
    problem = name_problem(value)
    if problem is not None:
        raise ConfigError(problem, key=attribute.name)


def _check_region(instance: Target, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (problem := region_problem(value)) is not None:
        raise ConfigError(problem, key="region")


@attrs.frozen(kw_only=True, cache_hash=True)
class Target:
    """What credentials are asked for: a dashboard org, app and stage, and maybe a region.

    Names are validated: non-empty, printable, no whitespace and no ``/``; a bad one
    raises :class:`~sls_access.ConfigError` naming the field.
    """

    org: str = attrs.field(validator=_check_name)
    app: str = attrs.field(validator=_check_name)
    stage: str = attrs.field(validator=_check_name)
    region: str | None = attrs.field(default=None, validator=_check_region)

    def __str__(self) -> str:
        where = f" in {self.region}" if self.region else ""
        return f"{self.org}/{self.app}/{self.stage}{where}"


def env_prefix(stage: str) -> str:
    """Return the ``AWS_<STAGE>_`` prefix of a stage's variables.

    The stage is upper-cased and every character that is not an ASCII letter or digit
    becomes ``_``, so ``pre-prod`` reads ``AWS_PRE_PROD_ACCESS_KEY_ID``.
    """
    return "AWS_" + re.sub(r"[^A-Za-z0-9]", "_", stage).upper() + "_"


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
