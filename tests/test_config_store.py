"""LazyConfigStore: botocore's configuration store, each default chain built on first use, same answers."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import botocore.configprovider
import botocore.session
import pytest
from botocore.configprovider import ChainProvider, ConfigValueStore, ConstantProvider
from support import in_threads

from sls_access._config_store import LazyConfigStore, default_names

SPECS = botocore.configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES


def _names(names: object) -> list[object]:
    return names if isinstance(names, list) else [names]


def _env_names() -> Iterator[str]:
    for config_names, env_names, _, _ in SPECS.values():
        del config_names
        if env_names is not None:
            yield from (str(name) for name in _names(env_names))


def _config_file(path: Path, value: str) -> None:
    """Write a default profile that sets every config file name of botocore's table to *value*."""
    plain: dict[str, str] = {}
    sections: dict[str, dict[str, str]] = {}
    for config_names, _, _, _ in SPECS.values():
        for key in _names(config_names) if config_names is not None else []:
            if isinstance(key, tuple):
                sections.setdefault(key[0], {})[key[1]] = value
            else:
                plain[str(key)] = value
    lines = ["[default]", *(f"{key} = {val}" for key, val in plain.items())]
    for section, keys in sections.items():
        lines += [f"{section} =", *(f"    {key} = {val}" for key, val in keys.items())]
    path.write_text("\n".join(lines) + "\n")


def _outcome(store: ConfigValueStore, name: str) -> object:
    try:
        return store.get_config_variable(name)
    except Exception as exc:  # the outcome compared is the error's type
        return type(exc)


def _assert_same_answers(session: botocore.session.Session) -> None:
    eager = ConfigValueStore(mapping=botocore.configprovider.create_botocore_default_config_mapping(session))
    lazy = LazyConfigStore(session)
    for name in sorted(default_names()):
        assert _outcome(lazy, name) == _outcome(eager, name), name


def test_default_names_are_those_of_botocores_mapping() -> None:
    mapping = botocore.configprovider.create_botocore_default_config_mapping(botocore.session.Session())
    assert default_names() == set(mapping)


def test_every_name_answers_as_botocores_chain_with_nothing_set() -> None:
    _assert_same_answers(botocore.session.Session())


@pytest.mark.parametrize("value", ["true", "false", "7", ""])
def test_every_name_answers_as_botocores_chain_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                                  value: str) -> None:
    for env in _env_names():
        if env not in {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"}:
            monkeypatch.setenv(env, value)
    _assert_same_answers(botocore.session.Session())


@pytest.mark.parametrize("value", ["true", "false", "7"])
def test_every_name_answers_as_botocores_chain_from_the_config_file(aws_env: Path, value: str) -> None:
    _config_file(Path(os.environ["AWS_CONFIG_FILE"]), value)
    _assert_same_answers(botocore.session.Session())


@pytest.mark.parametrize("value", ["true", "7", 3])
def test_every_name_answers_as_botocores_chain_from_instance_variables(value: object) -> None:
    session = botocore.session.Session()
    for name in SPECS:
        if name not in {"config_file", "credentials_file", "profile"}:
            session.set_config_variable(name, value)
    _assert_same_answers(session)


def test_a_missing_profile_fails_as_in_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    session = botocore.session.Session()
    assert _outcome(LazyConfigStore(session), "retry_mode") is botocore.exceptions.ProfileNotFound
    _assert_same_answers(session)


def test_a_chain_asked_for_is_the_one_botocore_builds() -> None:
    session = botocore.session.Session()
    eager = botocore.configprovider.create_botocore_default_config_mapping(session)
    lazy = LazyConfigStore(session)
    for name in sorted(default_names()):
        assert repr(lazy.get_config_provider(name)) == repr(eager[name]), name


def test_an_unknown_name_has_no_value_and_no_provider() -> None:
    lazy = LazyConfigStore(botocore.session.Session())
    assert lazy.get_config_variable("no_such_name") is None
    assert lazy.get_config_provider("no_such_name") is None


def test_an_override_wins_and_hides_the_provider() -> None:
    lazy = LazyConfigStore(botocore.session.Session())
    lazy.set_config_variable("max_attempts", 9)
    assert lazy.get_config_variable("max_attempts") == 9
    assert lazy.get_config_provider("max_attempts") is None


def test_a_provider_set_is_used() -> None:
    lazy = LazyConfigStore(botocore.session.Session())
    lazy.set_config_provider("retry_mode", ConstantProvider("adaptive"))
    assert lazy.get_config_variable("retry_mode") == "adaptive"


def test_a_copy_is_lazy_and_keeps_what_was_set() -> None:
    original = LazyConfigStore(botocore.session.Session())
    original.set_config_variable("max_attempts", 9)
    original.set_config_provider("retry_mode", ConstantProvider("adaptive"))
    copied = copy.copy(original)
    assert isinstance(copied, LazyConfigStore)
    assert copied.get_config_variable("max_attempts") == 9
    assert copied.get_config_variable("retry_mode") == "adaptive"
    assert isinstance(copied.get_config_provider("region"), ChainProvider)


def test_a_change_to_a_copy_stays_in_the_copy() -> None:
    original = LazyConfigStore(botocore.session.Session())
    copied = copy.copy(original)
    copied.set_config_variable("max_attempts", 9)
    copied.set_config_provider("retry_mode", ConstantProvider("adaptive"))
    assert original.get_config_variable("max_attempts") is None
    assert original.get_config_variable("retry_mode") != "adaptive"


def test_a_deep_copy_keeps_what_was_set_and_shares_no_chain() -> None:
    original = LazyConfigStore(botocore.session.Session())
    original.set_config_variable("max_attempts", 9)
    original.set_config_provider("retry_mode", ChainProvider([ConstantProvider("adaptive")]))
    deep = copy.deepcopy(original)
    assert deep.get_config_variable("max_attempts") == 9
    assert deep.get_config_variable("retry_mode") == "adaptive"
    assert deep.get_config_provider("retry_mode") is not original.get_config_provider("retry_mode")


def test_threads_asking_one_store_at_once_get_one_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    store = LazyConfigStore(botocore.session.Session())

    def ask() -> tuple[object, object, str]:
        return (store.get_config_variable("max_attempts"), store.get_config_variable("s3"),
                type(store.get_config_provider("retry_mode")).__name__)

    answers, errors = in_threads(32, ask)
    assert errors == []
    assert set(answers) == {(4, None, "ChainProvider")}


def test_an_environment_without_cpythons_encoded_dict_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is read through the dict behind os.environ when there is one; a
    # mapping without it (here a plain dict put in its place) is read directly.
    store = LazyConfigStore(botocore.session.Session())
    monkeypatch.setattr(os, "environ", {"AWS_MAX_ATTEMPTS": "3", "AWS_RETRY_MODE": ""})
    assert (store.get_config_variable("max_attempts"), store.get_config_variable("retry_mode")) == (3, "")


def test_a_variable_removed_from_the_environment_is_no_longer_read(monkeypatch: pytest.MonkeyPatch) -> None:
    store = LazyConfigStore(botocore.session.Session())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    assert store.get_config_variable("max_attempts") == 3
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")
    assert store.get_config_variable("max_attempts") is None
