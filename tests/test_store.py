"""The Store seam: the same contract from the SQLite and the PostgreSQL state (a real server), and the files.

Keys (hash only, role, constant-time match, revocation, last use), shared failure counts,
audit rows (filters, newest first), profiles and links with the dashboard file's own
validation (a refused field is named), the change counter, migrations, and secrets kept
out of reprs and messages.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import PostgresCluster

import sls_access.service.store
from sls_access import ConfigError
from sls_access.dashboard.file import parse_dashboard_file
from sls_access.service.admin import AdminError
from sls_access.service.admin.records import StateRecords, records_path
from sls_access.service.keys import KeyStore, hash_key
from sls_access.service.store._dashboard import to_toml
from sls_access.service.store.base import (
    AuditEvent,
    ConflictError,
    ManagedByFileError,
    NotFoundError,
    Role,
    StateUnavailableError,
    Store,
)
from sls_access.service.store.files import FileStore
from sls_access.service.store.sql import SqlStore
from sls_access.service.store.url import choose_state, default_state_url, open_store

ROLE = "arn:aws:iam::123456789012:role/deploy"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'service.db'}"
    return str(request.getfixturevalue("pg_state"))


@pytest.fixture
def store(state_url: str) -> Iterator[SqlStore]:
    opened = SqlStore(state_url)
    try:
        yield opened
    finally:
        opened.close()


def test_a_sql_store_is_a_store_and_so_are_the_files(store: SqlStore, dashboard: Path) -> None:
    assert isinstance(store, Store)
    assert isinstance(FileStore(dashboard), Store)


def test_keys_are_stored_as_hashes_with_a_role_and_matched_in_full(store: SqlStore) -> None:
    record, key = store.create_key("acme", "ci", role=Role.ADMIN)
    assert (record.org, record.name, record.role, record.revoked) == ("acme", "ci", "admin", None)
    assert record.sha256 == hash_key(key)
    assert store.match_key(key) == record
    assert store.match_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.match_key("sls_000000000000_" + "x" * 43) is None
    listed = store.list_keys("acme")
    assert [k.name for k in listed] == ["ci"]
    assert "sha256" not in listed[0].to_public_json()
    assert key not in repr(listed)
    assert record.sha256 not in repr(listed)
    assert store.keys().match(key) == record


def test_a_key_name_is_unique_among_an_orgs_unrevoked_keys(store: SqlStore) -> None:
    store.create_key("acme", "ci")
    with pytest.raises(ConflictError, match="already has a key named 'ci'"):
        store.create_key("acme", "ci")
    store.create_key("other", "ci")
    store.revoke_key("acme", "ci")
    store.create_key("acme", "ci")
    assert len(store.list_keys("acme", revoked=True)) == 2


def test_bad_names_and_roles_are_refused_naming_the_field(store: SqlStore) -> None:
    with pytest.raises(ConfigError) as bad_name:
        store.create_key("acme", "no spaces")
    assert bad_name.value.key == "name"
    with pytest.raises(ConfigError) as bad_role:
        store.create_key("acme", "ci", role="root")  # type: ignore[arg-type]
    assert bad_role.value.key == "role"


def test_revoking_marks_the_record_and_bumps_the_version(store: SqlStore) -> None:
    _, key = store.create_key("acme", "ci")
    before = store.version()
    revoked = store.revoke_key("acme", "ci", now=datetime(2026, 1, 2, tzinfo=UTC))
    assert revoked.revoked == datetime(2026, 1, 2, tzinfo=UTC)
    assert store.version() > before
    matched = store.match_key(key)
    assert matched is not None
    assert matched.revoked is not None
    assert store.list_keys("acme") == []
    with pytest.raises(NotFoundError):
        store.revoke_key("acme", "ci")


def test_last_use_is_recorded_later_times_only_without_a_version_change(store: SqlStore) -> None:
    record, _ = store.create_key("acme", "ci")
    version = store.version()
    later = datetime(2026, 3, 1, tzinfo=UTC)
    store.touch_keys({record.id: later})
    store.touch_keys({record.id: later - timedelta(days=1)})
    assert store.list_keys("acme")[0].last_used == later
    assert store.version() == version


def test_an_old_key_file_imports_once(store: SqlStore, tmp_path: Path) -> None:
    old = KeyStore(tmp_path / "old.keys.json")
    _, key = old.create("acme", "ci")
    old.create("acme", "gone")
    old.revoke("acme", "gone")
    assert store.import_keys(old.current().keys.values()) == 2
    assert store.import_keys(old.current().keys.values()) == 0
    matched = store.match_key(key)
    assert matched is not None
    assert matched.name == "ci"
    assert [k.name for k in store.list_keys("acme", revoked=True)] == ["ci", "gone"]


def test_importing_again_carries_a_revocation_made_in_the_old_key_file(store: SqlStore, tmp_path: Path) -> None:
    # A key revoked in the old file after the first import (while both were in use) must not
    # stay live in the state because its record is "already there"; nor is one ever revived.
    old = KeyStore(tmp_path / "old.keys.json")
    _, key = old.create("acme", "ci")
    assert store.import_keys(old.current().keys.values()) == 1
    old.revoke("acme", "ci")
    assert store.import_keys(old.current().keys.values()) == 0
    matched = store.match_key(key)
    assert matched is not None
    assert matched.revoked is not None
    assert store.list_keys("acme") == []


def test_failure_counts_are_shared_and_age_out(store: SqlStore, state_url: str) -> None:
    assert store.record_failure(["addr:a", "key:k"], window=60) == 0
    assert store.record_failure(["addr:a"], window=60) == 1
    # Another connection (another worker or replica) sees and adds to the same counts.
    other = SqlStore(state_url, migrate_schema=False)
    try:
        assert other.record_failure(["addr:b", "key:k"], window=60) == 1
        assert other.failures("addr:a", window=60) == 2
    finally:
        other.close()
    assert store.failures("key:k", window=60) == 2
    assert store.failures("addr:a", window=0) == 0  # older than the window
    assert store.record_failure(["addr:a"], window=0) == 0  # and it restarts


def _event(**fields: object) -> AuditEvent:
    base: dict[str, object] = {
        "time": datetime.now(UTC),
        "client": "192.0.2.1",
        "method": "GET",
        "path": "/v1/orgs/acme/apps/shop/stages/prod/credentials",
        "status": 200,
        "outcome": "vended",
        "ms": 1.5,
        "org": "acme",
        "app": "shop",
        "stage": "prod",
        "key": "ci",
        "key_id": "0123456789ab",
        "aws_key_id": "ASIAEXAMPLE",
    }
    base.update(fields)
    return AuditEvent(**base)  # type: ignore[arg-type]


def test_audit_events_are_queried_by_org_with_filters_newest_first(store: SqlStore) -> None:
    store.append_audit(
        [
            _event(stage="dev"),
            _event(),
            _event(outcome="unauthorized", status=401, key=None, key_id=None),
            _event(org="other"),
        ]
    )
    newest = store.audit("acme")
    assert [e.stage for e in newest][:2] == ["prod", "prod"]
    assert len(newest) == 3
    ids = [e.id or 0 for e in newest]
    assert ids == sorted(ids, reverse=True)
    assert [e.stage for e in store.audit("acme", stage="dev")] == ["dev"]
    assert [e.outcome for e in store.audit("acme", outcome="unauthorized")] == ["unauthorized"]
    assert len(store.audit("acme", key="ci")) == 2
    assert len(store.audit("acme", key="0123456789ab")) == 2
    assert len(store.audit("acme", limit=1)) == 1
    first = newest[0].id
    assert first is not None
    assert len(store.audit("acme", before=first)) == 2
    assert newest[0].to_json()["aws_key_id"] == "ASIAEXAMPLE"


def test_an_audit_event_longer_than_its_columns_is_stored_cut_not_refused(store: SqlStore) -> None:
    # An unauthenticated request to /v1/admin/orgs/<300 characters>/keys is audited with that
    # org. PostgreSQL refuses a value longer than its column, and the worker retries a
    # refused batch first, for ever: one such request would stop every later audit row.
    long_org = "o" * 300
    store.append_audit([_event(org=long_org, outcome="unauthorized", status=401, key=None, key_id=None)])
    store.append_audit([_event()])
    assert [event.org for event in store.audit(long_org[:128])] == [long_org[:128]]
    assert len(store.audit("acme")) == 1


def test_a_failed_audit_write_is_state_unavailable_whatever_the_driver(store: SqlStore, state_url: str) -> None:
    # A real fault of each database: the table is gone. SQLite's rows go through SQLAlchemy
    # (which wraps the driver's error), PostgreSQL's by the driver's COPY (which it does not).
    engine = sa.create_engine(state_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE audit_events"))
    finally:
        engine.dispose()
    with pytest.raises(StateUnavailableError, match="cannot be used"):
        store.append_audit([_event()])


def test_audit_events_older_than_a_date_are_pruned_and_newer_ones_kept(store: SqlStore) -> None:
    now = datetime.now(UTC)
    store.append_audit([_event(time=now - timedelta(days=100), stage="old"), _event(time=now, stage="new")])
    assert store.prune_audit(now - timedelta(days=90)) == 1
    assert [event.stage for event in store.audit("acme")] == ["new"]
    assert store.prune_audit(now - timedelta(days=90)) == 0


def test_profiles_take_the_dashboard_files_fields_and_validation(store: SqlStore) -> None:
    profile = store.put_profile(
        "acme",
        "prod",
        {
            "role_arn": ROLE,
            "duration_seconds": 7200,
            "sessions": "per_key",
            "external_id": "ext-123",
            "account_id": "123456789012",
        },
    )
    assert (profile.role_arn, profile.duration_seconds, profile.sessions.value) == (ROLE, 7200, "per_key")
    assert [p.name for p in store.profiles("acme")] == ["prod"]
    refused: list[tuple[dict[str, object], str]] = [
        ({"role_arn": "nope"}, "role_arn"),
        ({"role_arn": ROLE, "duration_seconds": 60}, "duration_seconds"),
        ({"role_arn": ROLE, "region": "mars-1"}, "region"),
        ({"role_arn": ROLE, "sessions": "perkey"}, "sessions"),
        ({"role_arn": ROLE, "account_id": "999999999999"}, "role_arn"),
        ({}, "role_arn"),
        ({"role_arn": ROLE, "rolearn": ROLE}, "rolearn"),
        ({"role_arn": ROLE, "external_id": "bad value!"}, "external_id"),
    ]
    for fields, field in refused:
        with pytest.raises(ConfigError) as refusal:
            store.put_profile("acme", "bad", fields)
        assert refusal.value.key == field, fields
    assert "bad value!" not in str(refusal.value)  # an external id is kept out of messages
    assert [p.name for p in store.profiles("acme")] == ["prod"]  # nothing refused was written


def test_a_name_longer_than_the_state_holds_is_refused_naming_the_field(store: SqlStore) -> None:
    # PostgreSQL refuses it as a failure of the state (the admin API answered 500).
    long = "p" * 129
    edits: list[tuple[Callable[[], object], str]] = [
        (lambda: store.put_profile("acme", long, {"role_arn": ROLE}), "name"),
        (lambda: store.put_link("acme", "p", app=long), "app"),
        (lambda: store.set_protected_stages("acme", [long]), "protected_stages"),
    ]
    store.put_profile("acme", "p", {"role_arn": ROLE})
    for edit, field in edits:
        with pytest.raises(ConfigError, match="longer than 128 characters") as refused:
            edit()
        assert not isinstance(refused.value, StateUnavailableError)
        assert refused.value.key == field
    store.put_profile("acme", "p" * 128, {"role_arn": ROLE})


def test_links_at_each_level_and_protected_stages(store: SqlStore) -> None:
    store.put_profile("acme", "dev", {"role_arn": ROLE})
    store.put_profile("acme", "prod", {"role_arn": ROLE.replace("deploy", "prod")})
    version = store.version()
    store.put_link("acme", "dev")
    store.put_link("acme", "dev", app="shop")
    store.put_link("acme", "prod", app="shop", stage="prod")
    store.put_link("acme", "prod", app="shop", stage="prod", region="eu-west-1")
    assert store.version() > version
    assert [(link.level.value, link.deployment_profile) for link in store.links("acme")] == [
        ("org", "dev"),
        ("app", "dev"),
        ("stage", "prod"),
        ("stage+region", "prod"),
    ]
    store.set_protected_stages("acme", ["prod"], app="shop")
    assert store.protected_stages("acme", app="shop") == ("prod",)
    store.delete_link("acme", app="shop", stage="prod")  # its eu-west-1 link is still a link of its own
    with pytest.raises(ConfigError, match="protected but has no link of its own") as last:
        store.delete_link("acme", app="shop", stage="prod", region="eu-west-1")
    assert last.value.key == "apps.shop.protected_stages"
    with pytest.raises(ConfigError) as undefined:
        store.put_link("acme", "nope", app="shop")
    assert undefined.value.key == "deployment_profile"
    with pytest.raises(ConflictError):
        store.delete_profile("acme", "prod")
    with pytest.raises(NotFoundError):
        store.delete_link("acme", app="blog")
    with pytest.raises(ConfigError) as no_stage:
        store.put_link("acme", "dev", app="shop", region="eu-west-1")
    assert no_stage.value.key == "stage"
    from sls_access._target import Target  # noqa: PLC0415

    link = store.dashboard().link(Target(org="acme", app="shop", stage="prod", region="eu-west-1"))
    assert link is not None
    assert link.profile.name == "prod"


def test_a_dashboard_round_trips_through_the_state_and_the_file_format(store: SqlStore, dashboard: Path) -> None:
    original = parse_dashboard_file(dashboard.read_bytes(), str(dashboard))
    store.replace_dashboard(original)
    assert store.dashboard().to_data() == original.to_data()
    text = to_toml(store.dashboard().to_data(), header="exported")
    assert parse_dashboard_file(text.encode(), "export.toml").to_data() == original.to_data()


def test_a_dashboard_file_makes_profiles_and_links_read_only(store: SqlStore, state_url: str, dashboard: Path) -> None:
    managed = SqlStore(state_url, managed_by_file=dashboard)
    try:
        assert managed.read_only
        assert managed.managed_by_file == str(dashboard)
        assert [p.name for p in managed.profiles("acme")] == ["eu", "prod", "sandbox", "shop"]
        for edit in (
            lambda: managed.put_profile("acme", "x", {"role_arn": ROLE}),
            lambda: managed.delete_profile("acme", "prod"),
            lambda: managed.put_link("acme", "prod"),
            lambda: managed.delete_link("acme"),
            lambda: managed.set_protected_stages("acme", []),
            lambda: managed.replace_dashboard(managed.dashboard()),
        ):
            with pytest.raises(ManagedByFileError) as refused:
                edit()
            assert refused.value.code == "managed_by_file"
        managed.create_key("acme", "ci")  # keys still live in the state
    finally:
        managed.close()
    assert [k.name for k in store.list_keys()] == ["ci"]
    assert store.profiles("acme") == []


def test_the_files_store_refuses_every_edit_of_profiles_and_links(dashboard: Path) -> None:
    files = FileStore(dashboard)
    with pytest.raises(ManagedByFileError):
        files.put_profile("acme", "x", {"role_arn": ROLE})
    record, key = files.create_key("acme", "ci")
    assert files.match_key(key) == record
    files.append_audit([_event()])
    assert files.audit("acme") == []  # with files, the stdout audit line is the only record


def test_the_sqlite_state_is_created_0600_in_a_0700_directory_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "service.db"
    opened = SqlStore(f"sqlite:///{path}")
    try:
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert opened.version() == 1
    finally:
        opened.close()
    again = SqlStore(f"sqlite:///{path}")  # a second start applies nothing twice
    try:
        assert again.version() == 1
    finally:
        again.close()


def test_state_urls_and_defaults(tmp_path: Path, dashboard: Path) -> None:
    assert default_state_url({"XDG_STATE_HOME": "/srv/state"}) == "sqlite:////srv/state/sls-access/service.db"
    assert default_state_url({"XDG_STATE_HOME": "relative"}).endswith("/.local/state/sls-access/service.db")
    assert choose_state("sqlite:////x.db", dashboard=dashboard, keys=None) == "sqlite:////x.db"
    assert choose_state(None, dashboard=dashboard, keys=None) == default_state_url()
    KeyStore(dashboard.with_name("dashboard.keys.json")).create("acme", "ci")
    assert choose_state(None, dashboard=dashboard, keys=None) is None  # the key file of earlier releases
    for bad in ("mysql://x/y", "sqlite:///relative.db", "sqlite://"):
        with pytest.raises(ConfigError) as refused:
            open_store(bad)
        assert refused.value.key == "state"


def test_the_password_never_shows_and_a_dead_server_is_state_unavailable(postgres: PostgresCluster) -> None:
    url = postgres.url().replace(f":{postgres.port}/", f":{_closed_port()}/")
    with pytest.raises(StateUnavailableError) as down:
        SqlStore(url)
    assert postgres.password not in str(down.value)
    opened = SqlStore(postgres.create_database())
    try:
        assert postgres.password not in opened.url
        assert postgres.password not in repr(opened)
    finally:
        opened.close()


def _closed_port() -> int:
    from support import free_port  # noqa: PLC0415

    return free_port()


def test_a_password_given_as_a_query_parameter_never_shows() -> None:
    # libpq (and so psycopg, through SQLAlchemy) takes the password as ?password= too.
    secret = "pw-" + os.urandom(9).hex()
    url = f"postgresql://bob@127.0.0.1:{_closed_port()}/state?password={secret}&sslpassword={secret}&sslmode=disable"
    with pytest.raises(StateUnavailableError) as down:
        SqlStore(url)
    assert secret not in str(down.value)
    assert "sslmode=disable" in str(down.value)  # the rest of the URL still names the state


# -- short-lived records (web UI sessions, pending connects): one view for every replica


T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _engine_of(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed)


def _record_rows(url: str) -> list[tuple[str, str, str]]:
    """The records table as the database holds it (what a reader of the database sees)."""
    engine = _engine_of(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT kind, name, value FROM records ORDER BY kind, name")).all()
    finally:
        engine.dispose()
    return [(row[0], row[1], row[2]) for row in rows]


def test_a_record_lives_until_it_expires_and_every_replica_sees_it(store: SqlStore, state_url: str) -> None:
    version = store.version()
    store.put_record("connect", "acme/prod", {"status": "pending", "n": 1}, expires=T0 + timedelta(minutes=15), now=T0)
    assert store.get_record("connect", "acme/prod", now=T0) == {"status": "pending", "n": 1}
    assert store.get_record("connect", "acme/prod", now=T0 + timedelta(minutes=15)) is None  # expired
    assert store.get_record("connect", "acme/other", now=T0) is None
    assert store.get_record("ui-session", "acme/prod", now=T0) is None  # kinds are apart
    assert store.version() == version  # records are not a change workers reload for
    other = SqlStore(state_url, migrate_schema=False)  # another replica on the same database
    try:
        assert other.get_record("connect", "acme/prod", now=T0) == {"status": "pending", "n": 1}
        # Put again (an upsert): the new value and expiry, seen by the first one.
        other.put_record("connect", "acme/prod", {"status": "connected"}, expires=T0 + timedelta(hours=1), now=T0)
        assert store.get_record("connect", "acme/prod", now=T0 + timedelta(minutes=30)) == {"status": "connected"}
        other.delete_record("connect", "acme/prod")
        assert store.get_record("connect", "acme/prod", now=T0) is None
        other.delete_record("connect", "acme/prod")  # deleting what is not there is fine
    finally:
        other.close()


def test_expired_records_are_pruned_when_one_is_written(store: SqlStore, state_url: str) -> None:
    store.put_record("ui-session", "a" * 64, {"org": "acme"}, expires=T0 + timedelta(seconds=10), now=T0)
    store.put_record("ui-session", "b" * 64, {"org": "acme"}, expires=T0 + timedelta(hours=8), now=T0)
    assert [name for _, name, _ in _record_rows(state_url)] == ["a" * 64, "b" * 64]
    store.put_record(
        "connect", "acme/prod", {"status": "pending"}, expires=T0 + timedelta(hours=1), now=T0 + timedelta(minutes=1)
    )
    assert [(kind, name) for kind, name, _ in _record_rows(state_url)] == [
        ("connect", "acme/prod"),
        ("ui-session", "b" * 64),
    ]


def test_a_record_name_longer_than_the_state_holds_is_refused_before_the_database(store: SqlStore) -> None:
    with pytest.raises(ValueError, match=r"1\.\.320"):
        store.put_record("connect", "x" * 321, {}, expires=T0 + timedelta(hours=1), now=T0)
    with pytest.raises(ValueError, match=r"1\.\.32 "):
        store.put_record("k" * 33, "name", {}, expires=T0 + timedelta(hours=1), now=T0)
    store.put_record("connect", "x" * 320, {"ok": True}, expires=T0 + timedelta(hours=1), now=T0)
    assert store.get_record("connect", "x" * 320, now=T0) == {"ok": True}


def test_the_files_store_keeps_records_in_a_private_file_beside_the_key_file(dashboard: Path) -> None:
    files = FileStore(dashboard)
    files.put_record("connect", "acme/prod", {"status": "pending"}, expires=T0 + timedelta(minutes=15), now=T0)
    assert files.get_record("connect", "acme/prod", now=T0) == {"status": "pending"}
    assert files.get_record("connect", "acme/prod", now=T0 + timedelta(minutes=15)) is None
    path = records_path(files.keys_path)
    assert path.parent == files.keys_path.parent
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Another worker of the host (another store on the same files) sees it, and its deletion.
    again = FileStore(dashboard)
    assert again.get_record("connect", "acme/prod", now=T0) == {"status": "pending"}
    again.delete_record("connect", "acme/prod")
    assert files.get_record("connect", "acme/prod", now=T0) is None
    with pytest.raises(ValueError, match=r"1\.\.320"):
        files.put_record("connect", "x" * 321, {}, expires=T0, now=T0)


def test_a_state_of_the_first_schema_is_migrated_to_hold_records_keeping_its_keys(state_url: str) -> None:
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    if state_url.startswith("sqlite:///"):
        Path(state_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = _engine_of(state_url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option(
                "script_location", str(Path(sls_access.service.store.__file__).parent / "migrations")
            )
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")  # what the first release made
            conn.execute(
                sa.text(
                    "INSERT INTO access_keys (id, org, name, role, sha256, created) "
                    "VALUES ('0123456789ab', 'acme', 'old', 'admin', :sha, 1.0)"
                ),
                {"sha": "0" * 64},
            )
    finally:
        engine.dispose()
    upgraded = SqlStore(state_url)
    try:
        assert [k.name for k in upgraded.list_keys("acme")] == ["old"]
        upgraded.put_record("connect", "acme/prod", {"status": "pending"}, expires=T0 + timedelta(hours=1), now=T0)
        assert upgraded.get_record("connect", "acme/prod", now=T0) == {"status": "pending"}
    finally:
        upgraded.close()
    engine = _engine_of(state_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    finally:
        engine.dispose()


def test_a_state_that_cannot_be_used_makes_the_records_503_not_a_guess() -> None:
    down = SqlStore(f"postgresql://bob@127.0.0.1:{_closed_port()}/state", migrate_schema=False)
    records = StateRecords(down)
    try:
        calls: list[Callable[[], object]] = [
            lambda: records.get("ui-session", "a" * 64),
            lambda: records.put("ui-session", "a" * 64, {"org": "acme"}, expires=T0),
            lambda: records.delete("ui-session", "a" * 64),
        ]
        for call in calls:
            with pytest.raises(AdminError) as refused:
                call()
            assert (refused.value.status, refused.value.code) == (503, "state_unavailable")
    finally:
        down.close()
