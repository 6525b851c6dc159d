"""The ASGI app in process (no HTTP server): the failed-authentication throttle, the key file, healthz.

The app is called the way uvicorn calls it (scope, receive, send); STS is the loopback moto.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import json
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import FakeClock, StsProxy, sts_error

from sls_access import ConfigError
from sls_access.service import App, KeyStore, create_app
from sls_access.service._throttle import Penalty, Throttle
from sls_access.service.app import from_env
from sls_access.service.keys import hash_key, presented_key
from sls_access.service.store.files import FileStore

CREDENTIALS = "/v1/orgs/acme/apps/shop/stages/prod/credentials"


def call(
    app: App,
    path: str,
    key: str | None = None,
    client: str = "198.51.100.7",
    method: str = "GET",
    headers: Sequence[tuple[bytes, Any]] = (),
) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = [(b"host", b"test"), *headers]
    if key is not None:
        headers.append((b"authorization", key.encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": (client, 40000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, json.loads(body["body"]))


async def ask_with_headers(app: App, key: str, client: str = "198.51.100.7") -> tuple[int, dict[str, str]]:
    """Ask *app* for CREDENTIALS with *key*, in the running event loop; return the status and headers."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": CREDENTIALS,
        "raw_path": CREDENTIALS.encode(),
        "query_string": b"",
        "headers": [(b"authorization", key.encode())],
        "client": (client, 40000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"]), {k.decode(): v.decode() for k, v in sent[0]["headers"]}


async def ask(app: App, key: str) -> int:
    return (await ask_with_headers(app, key))[0]


def test_repeated_failures_are_slowed_then_refused(dashboard: Path, sts: StsProxy) -> None:
    throttle = Throttle(free=2, lockout=5, base_delay=0.001, max_delay=0.002)
    app = create_app(dashboard, throttle=throttle)
    statuses = [call(app, CREDENTIALS, "wrong")[0] for _ in range(5)]
    assert statuses == [401] * 5
    assert throttle.delay("addr:198.51.100.7") > 0
    status, headers, body = call(app, CREDENTIALS, "wrong")
    assert (status, body["code"]) == (429, "throttled")
    assert "retry-after" in headers


def test_a_valid_key_is_answered_from_a_locked_out_address(dashboard: Path, sts: StsProxy) -> None:
    # Everyone behind a shared address (a NAT, a proxy) must not be locked out by one guesser.
    throttle = Throttle(free=2, lockout=5, base_delay=0.001, max_delay=0.002)
    app = create_app(dashboard, throttle=throttle)
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    for _ in range(6):
        call(app, CREDENTIALS, "wrong")
    assert call(app, CREDENTIALS, "wrong")[0] == 429
    assert call(app, CREDENTIALS, key)[0] == 200


def test_a_success_clears_no_failure(dashboard: Path, sts: StsProxy) -> None:
    throttle = Throttle(free=1, lockout=3, base_delay=0.001, max_delay=0.001)
    app = create_app(dashboard, throttle=throttle)
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    call(app, CREDENTIALS, "wrong")
    call(app, CREDENTIALS, "wrong")
    assert call(app, CREDENTIALS, key)[0] == 200
    assert throttle.failures("addr:198.51.100.7") == 2


def test_interleaving_a_valid_key_does_not_reset_the_failure_count(dashboard: Path, sts: StsProxy) -> None:
    throttle = Throttle(free=5, lockout=50, base_delay=0.0001, max_delay=0.0002)
    app = create_app(dashboard, throttle=throttle)
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    wrong: list[int] = []
    for _ in range(300):
        assert call(app, CREDENTIALS, key)[0] == 200
        wrong.append(call(app, CREDENTIALS, "wrong")[0])
    assert wrong[:50] == [401] * 50
    assert wrong[50:] == [429] * 250


def test_interleaving_a_valid_key_does_not_allow_unlimited_guesses(dashboard: Path, sts: StsProxy) -> None:
    # 8 clients behind one address, each sending its valid key and a wrong one in turn for
    # 0.6 s: past the 3 free failures every wrong key answered 401 waits its 0.05 s turn in
    # the queue, so at most 3 + 0.6 / 0.05 are, plus the 4 held when time is up; the others
    # are refused (429) at once, and every valid key is answered 200.
    app = create_app(dashboard, throttle=Throttle(free=2, lockout=10**9, base_delay=0.05, max_delay=0.05))
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    valid: list[int] = []
    wrong: list[int] = []

    async def client(deadline: float) -> None:
        while time.monotonic() < deadline:
            valid.append(await ask(app, key))
            wrong.append(await ask(app, "wrong"))
            await asyncio.sleep(0)  # an answer at once may not have yielded: let the held ones run

    async def clients() -> None:
        deadline = time.monotonic() + 0.6
        await asyncio.gather(*(client(deadline) for _ in range(8)))

    asyncio.run(clients())
    assert set(valid) == {200}
    assert set(wrong) == {401, 429}
    assert wrong.count(401) <= 3 + 12 + 4


def test_at_most_four_failing_answers_per_subject_are_held_the_rest_refused_at_once(
    dashboard: Path, sts: StsProxy
) -> None:
    app = create_app(dashboard, throttle=Throttle(free=0, lockout=1000, base_delay=0.2, max_delay=0.2))
    answered: list[tuple[int, float, dict[str, str]]] = []

    async def timed() -> None:
        started = time.monotonic()
        status, headers = await ask_with_headers(app, "wrong")
        answered.append((status, time.monotonic() - started, headers))

    async def all_at_once() -> None:
        await asyncio.gather(*(timed() for _ in range(10)))

    asyncio.run(all_at_once())
    held = sorted(elapsed for status, elapsed, _ in answered if status == 401)
    refused = [(elapsed, headers) for status, elapsed, headers in answered if status == 429]
    assert len(held) == 1 + 4  # the first failure (free), then four held ones
    assert held[-1] >= 4 * 0.2
    assert len(refused) == 5
    assert all(elapsed < 0.1 and headers["connection"] == "close" for elapsed, headers in refused)


def test_held_answers_are_bounded_across_subjects() -> None:
    now = [0.0]
    throttle = Throttle(free=0, lockout=1000, base_delay=1, max_delay=1, max_held=2, timer=lambda: now[0])
    first = [throttle.failed([f"addr:{n}"]) for n in range(3)]  # one free failure each
    second = [throttle.failed([f"addr:{n}"]) for n in range(3)]
    assert [p.hold for p in first] == [0, 0, 0]
    assert [(p.hold, p.refused) for p in second] == [(1, False), (1, False), (0, True)]
    assert throttle.held() == 2
    throttle.release(["addr:0"])
    assert (throttle.held(), throttle.held("addr:0")) == (1, 0)
    assert throttle.failed(["addr:2"]) == Penalty(hold=1, refused=False)  # its refusal queued nothing


def test_the_service_holds_at_most_a_quarter_of_its_connection_limit(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))
    monkeypatch.setenv("SLS_ACCESS_MAX_CONNECTIONS", "64")  # as serve --max-connections 64 sets it
    assert from_env().throttle.max_held == 16


def test_a_locked_out_subject_is_refused_without_a_hold() -> None:
    throttle = Throttle(free=0, lockout=3, base_delay=1, max_delay=1, timer=lambda: 0.0)
    for _ in range(3):
        throttle.failed(["addr:c"])
    assert throttle.failed(["addr:c"]) == Penalty(hold=0, refused=True)


def test_a_hold_gives_back_its_place_when_the_client_is_answered(dashboard: Path, sts: StsProxy) -> None:
    throttle = Throttle(free=0, lockout=1000, base_delay=0.01, max_delay=0.01)
    app = create_app(dashboard, throttle=throttle)
    statuses = [call(app, CREDENTIALS, "wrong")[0] for _ in range(6)]
    assert statuses == [401] * 6
    assert throttle.held() == 0


def test_a_hold_ends_and_gives_back_its_place_when_the_client_hangs_up(dashboard: Path, sts: StsProxy) -> None:
    throttle = Throttle(free=0, lockout=1000, base_delay=20.0, max_delay=20.0)
    throttle.failed(["addr:198.51.100.7"])  # an earlier failure: the next one is held 20 s
    app = create_app(dashboard, throttle=throttle)
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": CREDENTIALS,
        "raw_path": CREDENTIALS.encode(),
        "query_string": b"",
        "headers": [(b"authorization", b"wrong")],
        "client": ("198.51.100.7", 40000),
    }

    async def hang_up_while_held() -> tuple[int, int]:
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        messages.put_nowait({"type": "http.request", "body": b"", "more_body": False})

        async def receive() -> dict[str, Any]:
            return await messages.get()  # as a server's: waits after the request, until the peer goes

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        handler = asyncio.ensure_future(app(scope, receive, send))
        await asyncio.sleep(0.2)
        held_before = throttle.held()
        messages.put_nowait({"type": "http.disconnect"})
        await asyncio.wait_for(handler, timeout=10)  # well before the 20 s hold
        return held_before, throttle.held()

    assert asyncio.run(hang_up_while_held()) == (1, 0)
    assert throttle.failures("addr:198.51.100.7") == 2  # the failure still counts


def test_guesses_at_one_key_id_are_counted_across_addresses(dashboard: Path, sts: StsProxy) -> None:
    throttle = Throttle(free=2, lockout=5, base_delay=0.0001, max_delay=0.0002)
    app = create_app(dashboard, throttle=throttle)
    record, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    guess = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    statuses = [call(app, CREDENTIALS, guess, client=f"198.51.100.{n}")[0] for n in range(1, 8)]
    assert statuses == [401] * 5 + [429] * 2
    assert throttle.failures(f"key:{record.id}") == 7
    assert call(app, CREDENTIALS, key, client="198.51.100.99")[0] == 200


def test_concurrent_failures_each_pay_their_delay(dashboard: Path, sts: StsProxy) -> None:
    # 20 wrong keys at once: held one after another (0.05 s each past the first), not side by side.
    app = create_app(
        dashboard,
        throttle=Throttle(free=0, lockout=1000, base_delay=0.05, max_delay=0.05, max_held_per_subject=20, max_held=20),
    )

    async def ask() -> int:
        return (await ask_with_headers(app, "wrong"))[0]

    async def all_at_once() -> list[int]:
        return list(await asyncio.gather(*(ask() for _ in range(20))))

    started = time.monotonic()
    statuses = asyncio.run(all_at_once())
    assert statuses == [401] * 20
    assert time.monotonic() - started >= 19 * 0.05


def test_a_full_queue_is_refused_at_once() -> None:
    now = [0.0]
    throttle = Throttle(free=0, lockout=1000, base_delay=1, max_delay=1, max_wait=3, timer=lambda: now[0])
    penalties = [throttle.failed(["addr:c"]) for _ in range(5)]
    assert [(p.hold, p.refused) for p in penalties] == [(0, False), (1, False), (2, False), (3, False), (0, True)]


def test_throttle_delays_double_up_to_the_cap() -> None:
    now = [0.0]
    throttle = Throttle(free=2, lockout=100, window=60, base_delay=0.5, max_delay=3, timer=lambda: now[0])
    delays = []
    for _ in range(7):
        delays.append(throttle.delay("c"))
        throttle.failed(["c"])
        now[0] += 10  # past the previous hold: no queue
    assert delays == [0, 0, 0, 0.5, 1, 2, 3]
    now[0] += 61
    assert throttle.delay("c") == 0


def test_healthz_needs_no_key(dashboard: Path) -> None:
    status, _, body = call(create_app(dashboard), "/healthz")
    assert (status, body) == (200, {"status": "ok"})


def test_only_get_is_allowed(dashboard: Path) -> None:
    status, headers, _ = call(create_app(dashboard), CREDENTIALS, method="DELETE")
    assert status == 405
    assert headers["allow"] == "GET"


def test_parsed_paths_are_reused_and_a_refused_path_is_refused_each_time(dashboard: Path, sts: StsProxy) -> None:
    # The parsed-path cache keeps answers, never errors: a bad path is checked again each time.
    app = create_app(dashboard)
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    bad = "/v1/orgs/acme/apps/../stages/prod/credentials"
    answers = [call(app, path, key) for path in (bad, CREDENTIALS, bad, CREDENTIALS)]
    assert [(status, body.get("code")) for status, _, body in answers] == [
        (400, "bad_request"),
        (200, None),
        (400, "bad_request"),
        (200, None),
    ]
    assert answers[1][2]["AccessKeyId"] == answers[3][2]["AccessKeyId"]
    assert sts.calls["AssumeRole"] == 1


def test_a_broken_key_file_is_503_not_a_traceback(dashboard: Path) -> None:
    app = create_app(dashboard)
    dashboard.with_name("dashboard.keys.json").write_text("{not json")
    status, _, body = call(app, CREDENTIALS, "sls_0123456789ab_" + "a" * 43)
    assert (status, body["code"]) == (503, "dashboard_error")


def test_a_broken_dashboard_edit_is_503_until_fixed(dashboard: Path, sts: StsProxy) -> None:
    app = create_app(dashboard)
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    good = dashboard.read_text()
    dashboard.write_text(good + "\n[orgs.acme.apps.shop\n")
    assert call(app, CREDENTIALS, key)[0] == 503
    dashboard.write_text(good)
    assert call(app, CREDENTIALS, key)[0] == 200


def test_create_app_refuses_a_missing_or_invalid_dashboard(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        create_app(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[orgs.acme]\nnope = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        create_app(bad)


def test_the_key_file_holds_hashes_and_matches_only_the_whole_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "k.json")
    record, key = store.create("acme", "ci")
    text = (tmp_path / "k.json").read_text()
    assert key not in text
    assert hash_key(key) in text
    keys = store.current()
    assert keys.match(key) == record
    assert keys.match(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert keys.match(key + "x") is None
    assert keys.match(f"sls_{record.id}_") is None
    assert "sha256" not in repr(record)
    store.revoke("acme", "ci")
    matched = store.current().match(key)  # still recognised, so that the service can say it is revoked
    assert matched is not None
    assert matched.revoked is not None


def test_a_key_record_whose_time_is_not_iso_utc_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "k.json")
    store.create("acme", "ci")
    data = json.loads((tmp_path / "k.json").read_text())
    data["keys"][0]["created"] = data["keys"][0]["created"].replace("Z", "")
    (tmp_path / "k.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="malformed key record"):
        store.current()


def test_reading_the_key_file_does_not_import_strptime(tmp_path: Path) -> None:
    # The first strptime of a process imports and compiles its tables (about 2 ms): the
    # service's first request after a key is created would pay for it.
    store = KeyStore(tmp_path / "k.json")
    store.create("acme", "ci")
    store.revoke("acme", "ci")
    script = (
        "import sys; from sls_access.service.keys import KeyStore; "
        f"keys = KeyStore({str(tmp_path / 'k.json')!r}).current(); "
        "assert [k.revoked is not None for k in keys.keys.values()] == [True]; "
        "assert '_strptime' not in sys.modules, 'strptime imported'"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("org", "name"), [("acme", "has space"), ("acme", ""), ("ac/me", "ci"), ("acme", "ü")])
def test_key_names_are_validated(tmp_path: Path, org: str, name: str) -> None:
    with pytest.raises(ConfigError):
        KeyStore(tmp_path / "k.json").create(org, name)


LONG = """
[orgs.acme]
deployment_profile = "long"

[orgs.acme.deployment_profiles.long]
role_arn = "arn:aws:iam::222222222222:role/long"
duration_seconds = 7200
"""


def left(body: dict[str, Any], now: datetime) -> timedelta:
    return datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - now


@pytest.mark.parametrize(
    ("later", "refreshed"),
    [
        (timedelta(hours=1, minutes=38), False),  # 22 minutes left: served from the cache
        (timedelta(hours=1, minutes=42), True),  # 18 minutes left: refreshed by this request
        (timedelta(hours=1, minutes=45), True),  # 15 minutes left: never handed out
    ],
)
def test_vended_keys_keep_more_than_15_minutes(
    tmp_path: Path, sts: StsProxy, clock: FakeClock, later: timedelta, refreshed: bool
) -> None:
    sts.clock = clock  # STS issues keys by the same (fake) clock as the server's
    dashboard = tmp_path / "long.toml"
    dashboard.write_text(LONG)
    app = create_app(dashboard, clock=clock)
    _, key = KeyStore(tmp_path / "long.keys.json").create("acme", "ci")
    status, _, first = call(app, CREDENTIALS, key)
    assert status == 200
    assert left(first, clock()) > timedelta(hours=1, minutes=55)
    clock.advance(seconds=later.total_seconds())
    status, _, second = call(app, CREDENTIALS, key)
    assert status == 200
    assert (second["AccessKeyId"] != first["AccessKeyId"]) is refreshed
    assert sts.calls["AssumeRole"] == (2 if refreshed else 1)
    if refreshed:
        assert left(second, clock()) > timedelta(hours=1, minutes=55)
    else:
        assert left(second, clock()) >= timedelta(minutes=20)


# Every error path of the app, with the status and code it answers. Each case asks the app
# built by ``every_error`` (keys: "acme" and "solo", a throttle that locks out at 3 failures).
Ask = Callable[[App, dict[str, str], StsProxy], tuple[int, dict[str, str], dict[str, Any]]]
SOLO_PROD = "/v1/orgs/solo/apps/api/stages/prod/credentials"


def _locked_out(app: App, keys: dict[str, str], sts: StsProxy) -> tuple[int, dict[str, str], dict[str, Any]]:
    for _ in range(3):
        call(app, CREDENTIALS, "wrong")
    return call(app, CREDENTIALS, "wrong")


def _role_refused(app: App, keys: dict[str, str], sts: StsProxy) -> tuple[int, dict[str, str], dict[str, Any]]:
    sts.fault = lambda action: sts_error("AccessDenied", "not trusted") if action == "AssumeRole" else None
    return call(app, CREDENTIALS, keys["acme"])


def _key_file_broken(app: App, keys: dict[str, str], sts: StsProxy) -> tuple[int, dict[str, str], dict[str, Any]]:
    assert isinstance(app.state.store, FileStore)
    app.state.store.keys_path.write_text("{not json")
    return call(app, CREDENTIALS, keys["acme"])


def _protected_unlinked(app: App, keys: dict[str, str], sts: StsProxy) -> tuple[int, dict[str, str], dict[str, Any]]:
    assert app.state.store.managed_by_file is not None
    path = Path(app.state.store.managed_by_file)
    path.write_text(path.read_text().replace("[orgs.acme]\n", '[orgs.acme]\nprotected_stages = ["prod"]\n', 1))
    return call(app, "/v1/orgs/acme/apps/blog/stages/prod/credentials", keys["acme"])


ERROR_PATHS: list[tuple[str, int, str, Ask]] = [
    (
        "bad-name",
        400,
        "bad_request",
        lambda app, keys, sts: call(app, "/v1/orgs/acme/apps/%2e%2e/stages/prod/credentials", keys["acme"]),
    ),
    ("no-key", 401, "unauthorized", lambda app, keys, sts: call(app, CREDENTIALS)),
    ("other-org", 403, "forbidden", lambda app, keys, sts: call(app, CREDENTIALS, keys["solo"])),
    (
        "name-slip",
        400,
        "unknown_target",
        lambda app, keys, sts: call(app, "/v1/orgs/acme/apps/shpo/stages/prod/credentials", keys["acme"]),
    ),
    ("no-link", 404, "no_link", lambda app, keys, sts: call(app, SOLO_PROD, keys["solo"])),
    ("no-route", 404, "not_found", lambda app, keys, sts: call(app, "/v2/anything", keys["acme"])),
    ("method", 405, "method_not_allowed", lambda app, keys, sts: call(app, CREDENTIALS, method="POST")),
    (
        "body",
        413,
        "too_large",
        lambda app, keys, sts: call(app, CREDENTIALS, keys["acme"], headers=[(b"content-length", b"5")]),
    ),
    ("long-path", 414, "too_large", lambda app, keys, sts: call(app, "/" + "a/" * 600)),
    ("locked-out", 429, "throttled", _locked_out),
    ("headers", 431, "too_large", lambda app, keys, sts: call(app, CREDENTIALS, headers=[(b"x-h", b"v")] * 70)),
    # A header value that is not bytes: only a server breaking the ASGI protocol sends one,
    # and it is the one way to reach the app's catch-all without changing the app.
    ("internal", 500, "internal_error", lambda app, keys, sts: call(app, CREDENTIALS, headers=[(b"x-broken", None)])),
    ("protected-stage", 409, "protected_stage", _protected_unlinked),
    ("role-refused", 502, "role_error", _role_refused),
    ("key-file", 503, "dashboard_error", _key_file_broken),
]


@pytest.mark.parametrize(
    ("status", "code", "ask"), [case[1:] for case in ERROR_PATHS], ids=[case[0] for case in ERROR_PATHS]
)
def test_every_error_answer_has_a_code_and_a_message(
    dashboard: Path, sts: StsProxy, status: int, code: str, ask: Ask
) -> None:
    app = create_app(dashboard, throttle=Throttle(free=5, lockout=3, base_delay=0.001, max_delay=0.001))
    store = KeyStore(dashboard.with_name("dashboard.keys.json"))
    keys = {org: store.create(org, "ci")[1] for org in ("acme", "solo")}
    answer = ask(app, keys, sts)
    assert (answer[0], answer[2]["code"], bool(answer[2]["message"])) == (status, code, True)


def test_the_deprecated_error_key_repeats_the_code(dashboard: Path) -> None:
    status, _, body = call(create_app(dashboard), CREDENTIALS)
    assert (status, body["code"], body["error"]) == (401, "unauthorized", "unauthorized")


def test_keys_take_any_org_name_a_target_takes(tmp_path: Path) -> None:
    # One name rule: an org that resolves (acme+1) can have keys.
    record, _ = KeyStore(tmp_path / "keys.json").create("acme+1", "ci")
    assert record.org == "acme+1"


def test_rewriting_the_key_file_keeps_its_owner_group_and_mode(tmp_path: Path) -> None:
    # A service running as its own account must still read the file after `keys create` as root.
    store = KeyStore(tmp_path / "keys.json")
    store.create("acme", "first")
    os.chown(store.path, 65534, 65534)
    os.chmod(store.path, 0o640)
    store.create("acme", "second")
    st = os.stat(store.path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)
    assert [k.name for k in store.list()] == ["first", "second"]


def test_a_new_key_file_is_private(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.json")
    store.create("acme", "ci")
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_a_lock_file_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "keys.json.lock").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="lock"):
        KeyStore(tmp_path / "keys.json").create("acme", "ci")
    assert not elsewhere.exists()


def test_temporary_files_left_by_a_crashed_writer_are_removed(tmp_path: Path) -> None:
    orphan = tmp_path / ".tmp-keys.json.abc123"
    orphan.write_text("half a key file")
    KeyStore(tmp_path / "keys.json").create("acme", "ci")
    assert not orphan.exists()


@pytest.mark.parametrize("name", ["ci\n", "c\u0661", "ci "])
def test_key_names_are_matched_whole_and_in_ascii(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid name"):
        KeyStore(tmp_path / "keys.json").create("acme", name)


def test_the_server_extra_requires_an_h11_without_the_chunked_smuggling_bug() -> None:
    import tomllib  # noqa: PLC0415

    extra = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert "h11>=0.16" in extra["project"]["optional-dependencies"]["server"]
    installed = importlib.metadata.version("h11")  # what `serve --http h11` runs on here
    assert tuple(int(part) for part in installed.split(".")[:2]) >= (0, 16)


def lifespan_startup(app: App) -> list[str]:
    """Run the app's lifespan startup (as uvicorn does) and return the messages it sent."""
    sent: list[str] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    try:
        asyncio.run(app({"type": "lifespan"}, receive, send))
    finally:
        gc.unfreeze()  # the startup freezes what is loaded: not this test process's objects
    return sent


def test_startup_checks_the_base_credentials_with_one_sts_call_and_keeps_the_identity(
    dashboard: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(dashboard)
    assert app.vendor.vending_identity is None
    with caplog.at_level(logging.INFO, logger="sls_access.service"):
        assert lifespan_startup(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    identity = app.vendor.vending_identity
    assert identity is not None
    assert identity.account in identity.arn
    assert sts.calls == {"GetCallerIdentity": 1}
    assert f"vending as {identity.arn} (account {identity.account})" in caplog.messages


def test_the_first_vend_uses_the_sts_connection_opened_at_startup(dashboard: Path, sts: StsProxy) -> None:
    app = create_app(dashboard)
    _, key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    lifespan_startup(app)
    assert call(app, CREDENTIALS, key)[0] == 200
    assert sts.calls == {"GetCallerIdentity": 1, "AssumeRole": 1}
    assert list(sts.connections.values()) == [2]  # the connection opened at startup, and no other


def failed_startup(app: App) -> list[MutableMapping[str, Any]]:
    """Run the app's lifespan startup (as uvicorn does) and return what it sent."""
    sent: list[MutableMapping[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    return sent


def test_startup_fails_clearly_without_base_credentials(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    app = create_app(dashboard)
    failed = failed_startup(app)
    assert [message["type"] for message in failed] == ["lifespan.startup.failed"]
    assert failed[0]["message"] == (
        "cannot start: the service's base AWS credentials do not work (STS "
        "GetCallerIdentity): no base AWS credentials (botocore's default chain "
        "found none)"
    )
    assert app.vendor.vending_identity is None


def test_startup_fails_clearly_in_a_region_botocore_does_not_know(
    dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "xx-fake-9")
    failed = failed_startup(create_app(dashboard))
    assert [message["type"] for message in failed] == ["lifespan.startup.failed"]
    assert failed[0]["message"].startswith("cannot start: ")
    assert "xx-fake-9" in failed[0]["message"]
    assert sts.calls == {}


def test_the_files_are_read_at_startup_and_a_bad_one_is_reported_there(
    dashboard: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "bad.keys.json"
    keys.write_text('{"version": 1, "keys": []}\n')
    app = create_app(dashboard, keys=keys)
    keys.write_text("{not json")  # broken between the app's creation and its workers' startup
    with caplog.at_level(logging.WARNING, logger="sls_access.service"):
        assert lifespan_startup(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [record.getMessage() for record in caplog.records if str(keys) in record.getMessage()]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ([], None),
        ([b""], None),
        ([b"Bearer "], None),
        ([b"sls_0123456789ab_k"], "sls_0123456789ab_k"),
        ([b"Bearer sls_0123456789ab_k"], "sls_0123456789ab_k"),
        ([b"bearer   sls_0123456789ab_k  "], "sls_0123456789ab_k"),
    ],
)
def test_the_access_key_is_read_alike_by_the_vending_route_and_the_admin_side(
    values: list[bytes], key: str | None
) -> None:
    assert presented_key(values) == key


def test_two_authorization_headers_are_refused() -> None:
    with pytest.raises(ValueError, match="more than one Authorization header"):
        presented_key([b"Bearer a", b"Bearer b"])
