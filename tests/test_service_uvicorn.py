"""The one module built on uvicorn's internals (``sls_access/service/_protocol.py``) against the installed uvicorn.

These fail, saying what changed, when a uvicorn release changes what the guard relies
on: its protocol classes, the methods the guard overrides (their signatures), the
attributes it reads, or the version the ``server`` extra is capped at. On such a
failure: re-test the module against that uvicorn, adapt it, and move the cap.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path

import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sls_access.service import _protocol

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
GUARDED = [(_protocol.GuardedH11, H11Protocol, "h11"), (_protocol.GuardedHttpTools, HttpToolsProtocol, "httptools")]
# What the guard overrides, as the uvicorn release it was written for declares it.
OVERRIDDEN = {
    "connection_made": ["self", "transport"],
    "data_received": ["self", "data"],
    "on_response_complete": ["self"],
    "connection_lost": ["self", "exc"],
    "send_400_response": ["self", "msg"],
}
ADVICE = (
    "sls_access/service/_protocol.py relies on it: re-test that module against this uvicorn, adapt it, "
    "and move the cap in pyproject.toml's server extra"
)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_installed_uvicorn_is_within_the_server_extras_cap() -> None:
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["server"]
    (requirement,) = [entry for entry in extra if entry.startswith("uvicorn")]
    match = re.fullmatch(r"uvicorn>=([\d.]+),<([\d.]+)", requirement)
    assert match, f"the server extra must cap uvicorn (uvicorn>=X,<Y), not {requirement!r}: {ADVICE}"
    installed = importlib.metadata.version("uvicorn")
    low, high = version_tuple(match.group(1)), version_tuple(match.group(2))
    assert low <= version_tuple(installed) < high, (
        f"uvicorn {installed} is outside the tested range {requirement!r}: {ADVICE}"
    )


@pytest.mark.parametrize(("guarded", "base", "http"), GUARDED, ids=["h11", "httptools"])
def test_the_guard_sits_before_uvicorns_protocol_class(guarded: type, base: type, http: str) -> None:
    mro = guarded.__mro__
    assert base in mro, f"{guarded.__name__} no longer derives from uvicorn's {base.__name__}: {ADVICE}"
    assert mro.index(_protocol._HeaderGuard) < mro.index(base), f"the guard must come first: {ADVICE}"
    assert _protocol.protocol_path(http).endswith(guarded.__name__)


@pytest.mark.parametrize(("guarded", "base", "http"), GUARDED, ids=["h11", "httptools"])
@pytest.mark.parametrize("method", sorted(OVERRIDDEN))
def test_every_method_the_guard_overrides_is_uvicorns_with_the_same_parameters(
    guarded: type, base: type, http: str, method: str
) -> None:
    theirs = getattr(base, method, None)
    assert callable(theirs), (
        f"uvicorn's {base.__name__} has no {method} any more, so the guard's is never called: {ADVICE}"
    )
    parameters = list(inspect.signature(theirs).parameters)
    assert parameters == OVERRIDDEN[method], (
        f"uvicorn's {base.__name__}.{method} now takes {parameters}, not {OVERRIDDEN[method]}: {ADVICE}"
    )
    assert method in vars(_protocol._HeaderGuard)


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_the_startup_check_finds_every_attribute_the_guard_reads(http: str) -> None:
    _protocol.check(http)  # raises ConfigError naming what is missing


@pytest.mark.parametrize(("guarded", "base", "http"), GUARDED, ids=["h11", "httptools"])
def test_uvicorns_constructor_still_takes_what_the_startup_check_passes(guarded: type, base: type, http: str) -> None:
    parameters = inspect.signature(base).parameters
    missing = [name for name in ("config", "server_state", "app_state", "_loop") if name not in parameters]
    assert not missing, f"uvicorn's {base.__name__}() no longer takes {missing}: {ADVICE}"
