"""Hostile and broken input: property tests over dashboard files, target names and env vars.

- A dashboard file, generated valid and then corrupted (wrong types, unknown keys, an
  out-of-range duration, a malformed ARN, an undefined deployment profile, duplicates,
  non-UTF-8 bytes, a huge file, random byte damage) gives a parsed file or a
  :class:`~sls_access.ConfigError` naming the file (and the key, when the file is TOML):
  nothing else, and never a fallback to local keys.
- A target name gives a valid ``RoleSessionName`` (as STS receives it) or a ``ConfigError``.
- Partial ``AWS_<STAGE>_*`` variables give a clear ``ConfigError``, never a mix of
  stage and plain keys.

Example counts are modest and derandomized: CI has two cores and the same seed every run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import StsProxy

from sls_access import ConfigError, Credentials, NoCredentialsError, Resolver, Target
from sls_access._role_session import default_session_name as role_session_name
from sls_access.dashboard.file import MAX_BYTES, load_dashboard_file

SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(SETTINGS, max_examples=15)
STS_SESSION_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")

# -- a generator of valid dashboard files ------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"])


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "role_arn": f"arn:aws:iam::{draw(st.from_regex(r'[0-9]{12}', fullmatch=True))}:role/{draw(names)}"
    }
    if draw(st.booleans()):
        body["external_id"] = draw(st.from_regex(r"[A-Za-z0-9=,.@:/-]{2,20}", fullmatch=True))
    if draw(st.booleans()):
        body["duration_seconds"] = draw(st.integers(900, 43200))
    if draw(st.booleans()):
        body["region"] = draw(regions)
    return body


@st.composite
def orgs(draw: st.DrawFn) -> dict[str, Any]:
    defined = draw(st.dictionaries(names, profiles(), min_size=1, max_size=3))
    refs = st.sampled_from(sorted(defined))
    org: dict[str, Any] = {"deployment_profiles": defined}
    if draw(st.booleans()):
        org["deployment_profile"] = draw(refs)
    apps: dict[str, Any] = {}
    for app in draw(st.lists(names, max_size=2, unique=True)):
        body: dict[str, Any] = {}
        if draw(st.booleans()):
            body["deployment_profile"] = draw(refs)
        stages: dict[str, Any] = {}
        for stage in draw(st.lists(names, max_size=2, unique=True)):
            stage_body: dict[str, Any] = {}
            if draw(st.booleans()):
                stage_body["deployment_profile"] = draw(refs)
            if draw(st.booleans()):
                stage_body["regions"] = {draw(regions): {"deployment_profile": draw(refs)}}
            stages[stage] = stage_body
        if stages:
            body["stages"] = stages
        apps[app] = body
    if apps:
        org["apps"] = apps
    return org


dashboards = st.dictionaries(names, orgs(), min_size=1, max_size=2).map(lambda o: {"orgs": o})


def _string(value: str) -> str:
    # A TOML basic string: JSON's escapes are TOML's, but DEL must be escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """Serialise nested dicts as TOML: a table's scalars first, then one [table] per sub-dict."""
    scalars = [f"{_string(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "[" + ".".join(_string(p) for p in prefix) + "]\n" if prefix else ""
    out += "".join(line + "\n" for line in scalars)
    for key, value in data.items():
        if isinstance(value, dict):
            out += "\n" + to_toml(value, (*prefix, key))
    return out


def paths(data: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path in *data*, tables and scalars alike."""
    found: list[tuple[str, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, key))
            found.extend(paths(value, (*prefix, key)))
    return found


def tables(data: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every table that has fixed keys (not a table of names)."""
    return [p for p in [(), *paths(data)] if _allowed(p) and isinstance(_get(data, p), dict)]


def _get(data: object, path: tuple[str, ...]) -> Any:
    for key in path:
        assert isinstance(data, dict)
        data = data[key]
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    _get(data, path[:-1])[path[-1]] = value


def _allowed(path: tuple[str, ...]) -> tuple[str, ...]:
    """The valid keys of the table at *path* (empty for tables of names, and for scalars)."""
    shape = tuple("*" if i % 2 else key for i, key in enumerate(path))
    return {
        (): ("orgs",),
        ("orgs", "*"): ("deployment_profile", "deployment_profiles", "apps"),
        ("orgs", "*", "deployment_profiles", "*"): ("role_arn", "external_id", "duration_seconds", "region"),
        ("orgs", "*", "apps", "*"): ("deployment_profile", "stages"),
        ("orgs", "*", "apps", "*", "stages", "*"): ("deployment_profile", "regions"),
        ("orgs", "*", "apps", "*", "stages", "*", "regions", "*"): ("deployment_profile",),
    }.get(shape, ())


def _wrong_values(current: object) -> st.SearchStrategy[object]:
    scalars: list[st.SearchStrategy[Any]] = [
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(names, st.integers(), max_size=1),
    ]
    if not isinstance(current, str):
        scalars.append(st.text(max_size=5))
    if isinstance(current, bool) or not isinstance(current, int):
        scalars.append(st.integers())
    if isinstance(current, dict):
        scalars.pop(3)  # a table for a table is not a wrong type
    return st.one_of(scalars)


def write(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "dashboard.toml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def load_outcome(path: Path) -> ConfigError | None:
    """Load *path*: None when valid, the ConfigError otherwise; any other exception fails the test."""
    error: ConfigError | None = None
    try:
        load_dashboard_file(path)
    except ConfigError as exc:
        error = exc
    if error is not None:
        assert error.path == str(path)
        assert str(path) in str(error)
    return error


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


# -- dashboard files ------------------------------------------------------------------


@SETTINGS
@given(data=dashboards)
def test_generated_files_round_trip(tmp_path: Path, data: dict[str, Any]) -> None:
    path = write(tmp_path, to_toml(data))
    parsed = load_dashboard_file(path)
    assert set(parsed.orgs) == set(data["orgs"])
    for org, body in data["orgs"].items():
        for app, app_body in body.get("apps", {}).items():
            for stage in app_body.get("stages", {}):
                link = parsed.link(Target(org=org, app=app, stage=stage))
                if link is not None:
                    assert link.profile.name in body["deployment_profiles"]


@SETTINGS
@given(data=dashboards, choice=st.data())
def test_a_wrong_type_anywhere_is_a_config_error_naming_that_key(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject
) -> None:
    where = choice.draw(st.sampled_from(paths(data)))
    current = _get(data, where)
    _set(data, where, choice.draw(_wrong_values(current)))
    error = load_outcome(write(tmp_path, to_toml(data)))
    assert error is not None
    assert error.key == dotted(where)


@SETTINGS
@given(data=dashboards, choice=st.data())
def test_an_unknown_key_names_itself_and_the_nearest_valid_one(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject
) -> None:
    table = choice.draw(st.sampled_from(tables(data)))
    valid = choice.draw(st.sampled_from(_allowed(table)))
    letters = [i for i, ch in enumerate(valid) if ch.isalpha()]
    at = choice.draw(st.sampled_from(letters))
    typo = valid[:at] + valid[at].upper() + valid[at + 1 :]  # a one-letter slip
    _get(data, table)[typo] = 1
    error = load_outcome(write(tmp_path, to_toml(data)))
    assert error is not None
    assert error.key == dotted((*table, typo))
    assert f"did you mean {valid!r}?" in str(error)


@SETTINGS
@given(data=dashboards, choice=st.data(), duration=st.one_of(st.integers(max_value=899), st.integers(min_value=43201)))
def test_out_of_range_duration_is_a_config_error(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject, duration: int
) -> None:
    org = choice.draw(st.sampled_from(sorted(data["orgs"])))
    name = choice.draw(st.sampled_from(sorted(data["orgs"][org]["deployment_profiles"])))
    assume(-(2**63) <= duration < 2**63)  # TOML integers are 64-bit
    data["orgs"][org]["deployment_profiles"][name]["duration_seconds"] = duration
    error = load_outcome(write(tmp_path, to_toml(data)))
    assert error is not None
    assert error.key == f"orgs.{org}.deployment_profiles.{name}.duration_seconds"
    assert "900..43200" in str(error)


@SETTINGS
@given(
    data=dashboards,
    choice=st.data(),
    arn=st.one_of(
        st.text(max_size=80),
        st.from_regex(r"arn:aws:iam::[0-9]{1,11}:role/x", fullmatch=True),
        st.from_regex(r"arn:aws:iam::[0-9]{12}:user/[a-z]{1,5}", fullmatch=True),
        st.from_regex(r"arn:aws:iam::[0-9]{12}:role/", fullmatch=True),
        st.just("arn:aws:iam::123456789012:role/bad name"),
    ),
)
def test_malformed_role_arn_is_a_config_error(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject, arn: str
) -> None:
    assume(not ROLE_ARN.match(arn))
    org = choice.draw(st.sampled_from(sorted(data["orgs"])))
    name = choice.draw(st.sampled_from(sorted(data["orgs"][org]["deployment_profiles"])))
    data["orgs"][org]["deployment_profiles"][name]["role_arn"] = arn
    error = load_outcome(write(tmp_path, to_toml(data)))
    assert error is not None
    assert error.key == f"orgs.{org}.deployment_profiles.{name}.role_arn"


@SETTINGS
@given(data=dashboards, choice=st.data(), missing=names)
def test_undefined_deployment_profile_is_a_config_error(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject, missing: str
) -> None:
    org = choice.draw(st.sampled_from(sorted(data["orgs"])))
    assume(missing not in data["orgs"][org]["deployment_profiles"])
    refs = [p for p in paths(data["orgs"][org], ("orgs", org)) if p[-1] == "deployment_profile"]
    where = choice.draw(st.sampled_from([*refs, ("orgs", org, "deployment_profile")]))
    _set(data, where, missing)
    error = load_outcome(write(tmp_path, to_toml(data)))
    assert error is not None
    assert error.key == dotted(where)
    assert f"{missing!r} is not defined" in str(error)


@SETTINGS
@given(data=dashboards, choice=st.data())
def test_duplicate_tables_and_keys_are_config_errors(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject
) -> None:
    lines = to_toml(data).splitlines()
    candidates = [line for line in lines if line.strip()]
    line = choice.draw(st.sampled_from(candidates))
    at = lines.index(line) + 1  # right after itself: the same table, defined twice
    text = "\n".join([*lines[:at], line, *lines[at:]]) + "\n"
    error = load_outcome(write(tmp_path, text))
    assert error is not None  # TOML forbids defining a table or a key twice
    assert "not valid TOML" in str(error)


@SETTINGS
@given(data=dashboards, choice=st.data(), junk=st.binary(min_size=1, max_size=4).filter(lambda b: not _utf8(b)))
def test_non_utf8_bytes_are_a_config_error(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject, junk: bytes
) -> None:
    raw = to_toml(data).encode()
    at = choice.draw(st.integers(0, len(raw)))
    error = load_outcome(write(tmp_path, raw[:at] + junk + raw[at:]))
    assert error is not None
    assert "UTF-8" in str(error) or "not valid TOML" in str(error)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FEW
@given(data=dashboards, choice=st.data())
def test_random_byte_damage_gives_a_file_or_a_config_error(
    tmp_path: Path, data: dict[str, Any], choice: st.DataObject
) -> None:
    raw = bytearray(to_toml(data).encode())
    for _ in range(choice.draw(st.integers(1, 8))):
        raw[choice.draw(st.integers(0, len(raw) - 1))] = choice.draw(st.integers(0, 255))
    load_outcome(write(tmp_path, bytes(raw)))  # asserts: nothing but ConfigError escapes


def test_huge_file_is_a_config_error_read_only_to_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "# padding\n" * (MAX_BYTES // 10 + 10))
    error = load_outcome(path)
    assert error is not None
    assert "larger than" in str(error)


def test_deeply_nested_junk_is_a_config_error(tmp_path: Path) -> None:
    error = load_outcome(write(tmp_path, "orgs = " + "[" * 5000 + "]" * 5000 + "\n"))
    assert error is not None


@pytest.mark.parametrize("corrupt", ["wrong-type", "unknown-key", "bad-arn", "undefined", "duplicate", "non-utf8"])
def test_a_broken_dashboard_file_never_falls_back_to_local_keys(tmp_path: Path, corrupt: str) -> None:
    good = to_toml(
        {
            "orgs": {
                "acme": {
                    "deployment_profile": "p",
                    "deployment_profiles": {"p": {"role_arn": "arn:aws:iam::111111111111:role/r"}},
                }
            }
        }
    )
    broken: bytes = {
        "wrong-type": good.replace('"deployment_profile" = "p"', '"deployment_profile" = 7'),
        "unknown-key": good.replace('"role_arn"', '"Role_arn"'),
        "bad-arn": good.replace("111111111111:role", "1111:role"),
        "undefined": good.replace('"deployment_profile" = "p"', '"deployment_profile" = "q"'),
        "duplicate": good + good,
        "non-utf8": good,
    }[corrupt].encode()
    if corrupt == "non-utf8":
        broken = b"\xff\xfe" + broken
    path = write(tmp_path, broken)
    with pytest.raises(ConfigError) as info:
        Resolver(dashboard=str(path)).credentials("acme", "shop", "prod")
    assert info.value.path == str(path)


# -- target names ----------------------------------------------------------------------

hostile_names = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "\t",
            "a b",
            "/",
            "a/b",
            "\x00",
            "a\x1b[31m",
            "\u202eevil",
            "\u200b",
            "x" * 10_000,
            "日本",
            "ünïcødé",
            "😀",
            "..",
            "-",
            "@=+,",
            "a" * 64,
            "a\nb",
        ]
    ),
)


@settings(SETTINGS, max_examples=300)
@given(org=hostile_names, app=hostile_names, stage=hostile_names)
def test_any_target_name_gives_a_valid_session_name_or_config_error(org: str, app: str, stage: str) -> None:
    try:
        target = Target(org=org, app=app, stage=stage)
    except ConfigError as exc:
        bad: ConfigError | None = exc
    else:
        bad = None
    if bad is not None:
        assert bad.key in {"org", "app", "stage"}
        return
    name = role_session_name(target)
    assert STS_SESSION_NAME.fullmatch(name), name


printable_names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Co", "Cn")), min_size=1, max_size=120
).filter(lambda s: "/" not in s and s.isprintable())


@FEW
@given(org=printable_names, stage=printable_names)
def test_sts_receives_a_valid_session_name_for_any_accepted_target(
    tmp_path: Path, sts: StsProxy, org: str, stage: str
) -> None:
    assume(not any(ch.isspace() for ch in org + stage))
    toml = to_toml(
        {
            "orgs": {
                org: {
                    "deployment_profile": "p",
                    "deployment_profiles": {"p": {"role_arn": "arn:aws:iam::111111111111:role/r"}},
                }
            }
        }
    )
    path = write(tmp_path, toml)
    before = len(sts.requests)
    creds = Resolver(dashboard=str(path)).credentials(org, "app", stage)
    assert creds.source == "dashboard"
    (request,) = [r for r in sts.requests[before:] if r.get("Action") == "AssumeRole"]
    assert STS_SESSION_NAME.fullmatch(request["RoleSessionName"])
    assert "SourceIdentity" not in request or STS_SESSION_NAME.fullmatch(request["SourceIdentity"])


# -- environment variables -------------------------------------------------------------

ENV_VARS = [
    "AWS_PRE_PROD_ACCESS_KEY_ID",
    "AWS_PRE_PROD_SECRET_ACCESS_KEY",
    "AWS_PRE_PROD_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
]


def _env_value(var: str) -> str:
    kind = {"ACCESS_KEY_ID": "key", "SECRET_ACCESS_KEY": "secret", "SESSION_TOKEN": "token"}
    return ("stage-" if "PRE_PROD" in var else "plain-") + next(v for k, v in kind.items() if var.endswith(k))


@settings(SETTINGS, max_examples=64)
@given(present=st.sets(st.sampled_from(ENV_VARS)))
def test_stage_and_plain_variables_never_mix(monkeypatch: pytest.MonkeyPatch, present: set[str]) -> None:
    with monkeypatch.context() as env:
        for var in ENV_VARS:
            env.delenv(var, raising=False)
        for var in present:
            env.setenv(var, _env_value(var))
        stage_keys = {v for v in present if "PRE_PROD" in v and "TOKEN" not in v}
        plain_keys = {v for v in present if "PRE_PROD" not in v and "TOKEN" not in v}

        def outcome() -> Credentials:
            return Resolver().credentials("acme", "web", "pre-prod")

        if len(stage_keys) == 2:
            creds = outcome()
            assert (creds.access_key_id, creds.secret_access_key) == ("stage-key", "stage-secret")
            assert creds.session_token == ("stage-token" if "AWS_PRE_PROD_SESSION_TOKEN" in present else None)
        elif stage_keys or "AWS_PRE_PROD_SESSION_TOKEN" in present:
            with pytest.raises(ConfigError) as info:
                outcome()
            assert info.value.key is not None
            assert info.value.key.startswith("AWS_PRE_PROD_")
            assert "set both or neither" in str(info.value)
        elif len(plain_keys) == 2:
            creds = outcome()
            assert (creds.access_key_id, creds.secret_access_key) == ("plain-key", "plain-secret")
            assert creds.session_token == ("plain-token" if "AWS_SESSION_TOKEN" in present else None)
        elif plain_keys:
            with pytest.raises(ConfigError, match="set both or neither"):
                outcome()
        else:
            with pytest.raises(NoCredentialsError):
                outcome()
