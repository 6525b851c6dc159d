"""Each figure of the benchmark, measured side by side with its anchors in the same run.

A figure returns a dict: ``figure`` (its name), ``target`` (text), ``met`` (bool or
None when there is no target), ``headline`` (the number compared with the target) and
``rows``: one per subject, with its value and, for timings, its ratio to the baseline.
Timings are medians over repeated rounds; each round times every subject once, in turn,
and a ratio is the median of the per-round ratios (so load that comes and goes on a
shared machine hits both sides of a ratio alike).
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.session
from _setup import TARGET, FrozenClock, World
from anchors import aarl_session, botocore_profile_session, botocore_refreshable, brs_session, frozen_key
from support import console_script, in_threads, install_aws_cli

import sls_access
from sls_access import Resolver

Row = dict[str, Any]
Figure = dict[str, Any]

# One STS request per refresh try, for sls-access and botocore alike, in the "STS down"
# figure: botocore's retries would multiply both counts by up to 3 and sleep for seconds.
ONE_ATTEMPT = botocore.config.Config(
    connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1, "mode": "standard"}
)


def _time(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def side_by_side(subjects: dict[str, Callable[[], object]], baseline: str, *, repeats: int, number: int) -> list[Row]:
    """Time every subject *number* times per round for *repeats* rounds, interleaved."""
    for fn in subjects.values():
        fn()  # warm up: imports, first loads
    times: dict[str, list[float]] = {name: [] for name in subjects}
    names = list(subjects)
    for round_ in range(repeats):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            gc.collect()
            times[name].append(_time(subjects[name], number))
    rows = []
    for name in names:
        ratios = [t / b for t, b in zip(times[name], times[baseline], strict=True)]
        rows.append(
            {
                "subject": name,
                "median_us": round(statistics.median(times[name]) * 1e6, 3),
                "ratio": round(statistics.median(ratios), 3),
                "baseline": name == baseline,
            }
        )
    return rows


@contextmanager
def _quiet(*loggers: str):  # type: ignore[no-untyped-def]
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


# -- timings --------------------------------------------------------------------------------


def _utc_refreshable(resolver: Resolver) -> Any:
    """botocore's RefreshableCredentials holding the resolver's keys, on a UTC clock.

    botocore's default clock is ``datetime.now(tzlocal())``, most of its cost; code that
    injects a UTC clock (``time_fetcher``) pays about a tenth of it. This is the honest floor.
    """
    creds = resolver.credentials(*TARGET)
    assert creds.expiration is not None

    def refresh() -> dict[str, Any]:
        fresh = resolver.credentials(*TARGET)
        assert fresh.expiration is not None
        return {
            "access_key": fresh.access_key_id,
            "secret_key": fresh.secret_access_key,
            "token": fresh.session_token,
            "expiry_time": fresh.expiration.isoformat(),
        }

    return botocore.credentials.RefreshableCredentials(
        creds.access_key_id,
        creds.secret_access_key,
        creds.session_token,
        creds.expiration,
        refresh_using=refresh,
        method="assume-role",
        time_fetcher=partial(datetime.now, UTC),
    )


def warm_credentials(w: World, repeats: int) -> list[Figure]:
    resolver = Resolver(dashboard=str(w.dashboard))
    resolver.credentials(*TARGET)
    utc_creds = _utc_refreshable(resolver)
    profile_creds = botocore_profile_session().get_credentials()
    aarl_creds = aarl_session().get_credentials()
    brs_creds = brs_session().get_credentials()
    session_creds = resolver.session(*TARGET).get_credentials()
    assert profile_creds
    assert aarl_creds
    assert brs_creds
    assert session_creds
    dashboard = str(w.dashboard)
    baseline = "botocore RefreshableCredentials.get_frozen_credentials(), UTC clock (time_fetcher)"
    resolver_row = "sls-access Resolver.credentials()"
    module_row = "sls-access sls_access.credentials() (module function: finds its resolver per call)"
    rows = side_by_side(
        {
            baseline: utc_creds.get_frozen_credentials,
            resolver_row: lambda: resolver.credentials(*TARGET),
            module_row: lambda: sls_access.credentials(*TARGET, dashboard=dashboard),
            "botocore RefreshableCredentials.get_frozen_credentials(), default clock (role profile)": (
                profile_creds.get_frozen_credentials
            ),
            "sls-access session: its botocore get_frozen_credentials()": session_creds.get_frozen_credentials,
            "aws-assume-role-lib: get_frozen_credentials()": aarl_creds.get_frozen_credentials,
            "boto3-refresh-session: get_frozen_credentials()": brs_creds.get_frozen_credentials,
        },
        baseline,
        repeats=repeats,
        number=20_000,
    )
    first, second = rows[1]["ratio"], rows[2]["ratio"]
    return [
        {
            "figure": "warm Resolver.credentials() / botocore get_frozen_credentials() (UTC clock)",
            "target": "<= 0.35",
            "headline": first,
            "met": first <= 0.35,
            "unit": "us per call",
            "rows": rows,
        },
        {
            "figure": "warm sls_access.credentials(org, app, stage) / botocore get_frozen_credentials() (UTC clock)",
            "target": "<= 2.0",
            "headline": second,
            "met": second <= 2.0,
            "unit": "us per call",
            "rows": [rows[0], rows[2]],
        },
    ]


def create_client(w: World, repeats: int) -> list[Figure]:
    resolver = Resolver(dashboard=str(w.dashboard))
    resolver.credentials(*TARGET)
    parent = boto3.Session()
    aarl_cache: dict[str, Any] = {}
    reused = botocore.session.Session()
    dashboard = str(w.dashboard)
    baseline = "reused botocore session: session.create_client('sts') (botocore's pattern, boto3.client())"
    session_row = "sls-access Resolver.session(...).create_client('sts')"
    rows = side_by_side(
        {
            baseline: lambda: reused.create_client("sts"),
            session_row: lambda: resolver.session(*TARGET).create_client("sts"),
            "botocore.session.Session().create_client('sts') (a fresh session each time)": lambda: (
                botocore.session.Session().create_client("sts")
            ),
            "botocore role profile: Session(profile=...).create_client('sts')": lambda: (
                botocore_profile_session().create_client("sts")
            ),
            "aws-assume-role-lib: assume_role(parent, arn).client('sts')": lambda: aarl_session(
                parent, aarl_cache
            ).client("sts"),
            "boto3-refresh-session: RefreshableSession(...).client('sts')": lambda: brs_session().client("sts"),
        },
        baseline,
        repeats=repeats,
        number=3,
    )
    headline = rows[1]["ratio"]
    s3_baseline = "reused botocore session: session.create_client('s3', region_name='us-east-1')"
    s3_rows = side_by_side(
        {
            s3_baseline: lambda: reused.create_client("s3", region_name="us-east-1"),
            "sls-access sls_access.client(org, app, stage, 's3', region='us-east-1') (cached)": lambda: (
                sls_access.client(*TARGET, "s3", region="us-east-1", dashboard=dashboard)
            ),
            "sls-access Resolver.client(org, app, stage, 's3', region='us-east-1') (cached)": lambda: resolver.client(
                *TARGET, "s3", region="us-east-1"
            ),
        },
        s3_baseline,
        repeats=repeats,
        number=3,
    )
    client_ratio = s3_rows[1]["ratio"]
    return [
        {
            "figure": "Resolver.session(...).create_client('sts') / a reused session's create_client('sts')",
            "target": "<= 1.5",
            "headline": headline,
            "met": headline <= 1.5,
            "unit": "us per call",
            "rows": rows,
        },
        {
            "figure": "sls_access.client(..., 's3', region=...) / a reused session's create_client('s3')",
            "target": "<= 0.05",
            "headline": client_ratio,
            "met": client_ratio <= 0.05,
            "unit": "us per call",
            "rows": s3_rows,
        },
    ]


def import_time(w: World, repeats: int) -> Figure:
    python = sys.executable
    # Run from an empty directory: from the checkout, `python -c` would import the source
    # tree (the current directory comes first on sys.path), not the installed package.
    cwd = w.root
    subjects = {
        "python -c 'import botocore.session'": "import botocore.session",
        # What a process that resolves pays before its first resolution: the import, the
        # plugins' discovery (entry points) and the chain they build (botocore comes with it).
        "python -c 'import sls_access; sls_access.Resolver().chain' (import + plugin discovery + first chain)": (
            "import sls_access; sls_access.Resolver().chain"
        ),
        "python -c 'import sls_access'": "import sls_access",
        # botocore waits for the first session or STS call; this row is the cost that
        # sls-access adds for code that uses botocore anyway.
        "python -c 'import botocore.session, sls_access'": "import botocore.session, sls_access",
        "python -c 'import aws_assume_role_lib'": "import aws_assume_role_lib",
        "python -c 'import boto3_refresh_session'": "import boto3_refresh_session",
        "python -c 'import boto3'": "import boto3",
    }
    baseline = next(iter(subjects))
    # Every installed package has its bytecode compiled at install time; an editable
    # checkout under PYTHONDONTWRITEBYTECODE would compile sls-access on every import.
    # Compile it too, so that all sides load bytecode.
    where = subprocess.run(
        [python, "-c", "import sls_access; print(sls_access.__file__)"],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", str(Path(where).parent)], check=True)

    rounds = max(repeats * 3, 15)
    wall: dict[str, list[float]] = {name: [] for name in subjects}
    cpu: dict[str, list[float]] = {name: [] for name in subjects}
    names = list(subjects)
    for round_ in range(rounds + 1):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([python, "-c", subjects[name]], check=True, cwd=cwd)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if round_:  # the first round only warms the file cache
                wall[name].append(elapsed)
                cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    def ratio(series: dict[str, list[float]], name: str) -> float:
        return statistics.median(t / b for t, b in zip(series[name], series[baseline], strict=True))

    rows = [
        {
            "subject": name,
            "median_us": round(statistics.median(wall[name]) * 1e6, 1),
            "ratio": round(ratio(wall, name), 3),
            "min_ratio": round(min(wall[name]) / min(wall[baseline]), 3),
            "cpu_ratio": round(ratio(cpu, name), 3),
            "baseline": name == baseline,
        }
        for name in names
    ]
    headline = rows[1]["ratio"]
    return {
        "figure": "import sls_access + plugin discovery + first chain / import botocore.session (wall, new process)",
        "target": "<= 1.30",
        "headline": headline,
        "met": headline <= 1.30,
        "unit": "us per process",
        "rows": rows,
    }


# -- STS call counts ---------------------------------------------------------------------------


def cold_threads(w: World, threads: int = 64) -> Figure:
    def shared(make: Callable[[], Any]) -> Callable[[], Callable[[], str]]:
        def setup() -> Callable[[], str]:
            obj = make()
            return lambda: frozen_key(obj)

        return setup

    def each(make: Callable[[], Any]) -> Callable[[], Callable[[], str]]:
        return lambda: lambda: frozen_key(make())

    def sls_shared() -> Callable[[], str]:
        resolver = Resolver(dashboard=str(w.dashboard))
        return lambda: resolver.credentials(*TARGET).access_key_id

    def sls_each() -> Callable[[], str]:
        resolver = Resolver(dashboard=str(w.dashboard))
        return lambda: frozen_key(resolver.session(*TARGET))

    cases: dict[str, Callable[[], Callable[[], str]]] = {
        "sls-access: one Resolver, credentials() in every thread": sls_shared,
        "sls-access: one Resolver, a new session() in every thread": sls_each,
        "botocore role profile: one session shared by the threads": shared(botocore_profile_session),
        "botocore role profile: a session per thread": each(botocore_profile_session),
        "aws-assume-role-lib: one assumed session shared": shared(aarl_session),
        "aws-assume-role-lib: assume_role() per thread": each(aarl_session),
        "boto3-refresh-session: one RefreshableSession shared": shared(brs_session),
        "boto3-refresh-session: a RefreshableSession per thread": each(brs_session),
    }
    rows = []
    for name, setup in cases.items():
        call = setup()
        w.sts.reset()
        got, failed = in_threads(threads, call)
        keys, errors = set(got), len(failed)
        rows.append(
            {
                "subject": name,
                "assume_role_calls": w.sts.calls["AssumeRole"],
                "distinct_keys": len(keys),
                "errors": errors,
            }
        )
    headline = rows[0]["assume_role_calls"]
    met = all(row["assume_role_calls"] == 1 for row in rows[:2])
    return {
        "figure": f"AssumeRole calls: {threads} threads cold on one target",
        "target": "= 1",
        "headline": headline,
        "met": met,
        "unit": "calls",
        "rows": rows,
    }


def eight_hours(w: World) -> Figure:
    clock = FrozenClock()
    w.sts.reset()
    w.sts.clock = clock
    resolver = Resolver(dashboard=str(w.dashboard), clock=clock)
    botocore_creds = botocore_refreshable(clock)
    subjects: dict[str, Callable[[], str]] = {
        "sls-access Resolver.credentials()": lambda: resolver.credentials(*TARGET).access_key_id,
        "botocore RefreshableCredentials (AssumeRole refresh, clock injected)": lambda: str(
            botocore_creds.get_frozen_credentials().access_key
        ),
    }
    counts = dict.fromkeys(subjects, 0)
    expired = dict.fromkeys(subjects, 0)
    for name, call in subjects.items():
        clock.shift = timedelta()
        before = w.sts.calls["AssumeRole"]
        for _ in range(8 * 60 + 1):  # a request a simulated minute, minute 0 to hour 8
            key = call()
            if w.sts.issued[key] <= clock():
                expired[name] += 1
            clock.advance(minutes=1)
        counts[name] = w.sts.calls["AssumeRole"] - before
    rows = [
        {"subject": name, "assume_role_calls": counts[name], "expired_keys_handed_out": expired[name]}
        for name in subjects
    ]
    w.sts.clock = None
    first = next(iter(subjects))
    return {
        "figure": "AssumeRole calls: one target, 8 simulated hours, a request a minute",
        "target": "<= 11, no expired key",
        "headline": counts[first],
        "met": counts[first] <= 11 and expired[first] == 0,
        "unit": "calls",
        "rows": rows,
    }


def sts_down(w: World) -> Figure:
    requests = 3 * 60 * 10  # ten a simulated second for three minutes, from minute 46
    clock = FrozenClock()
    rows = []
    try:
        w.sts.reset()
        w.sts.clock = clock
        resolver = Resolver(dashboard=str(w.dashboard), clock=clock, sts_config=ONE_ATTEMPT)
        botocore_creds = botocore_refreshable(clock, ONE_ATTEMPT)
        subjects: dict[str, Callable[[], str]] = {
            "sls-access Resolver.credentials()": lambda: resolver.credentials(*TARGET).access_key_id,
            "botocore RefreshableCredentials (AssumeRole refresh, clock injected)": lambda: str(
                botocore_creds.get_frozen_credentials().access_key
            ),
        }
        with _quiet("sls_access", "botocore.credentials"):
            for name, call in subjects.items():
                w.sts.fault = None
                clock.shift = timedelta()
                first = call()
                clock.advance(minutes=46)  # advisory window: 15 min before expiry, mandatory at 10
                w.sts.fault = lambda action: (
                    (503, b"<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>")
                    if action == "AssumeRole"
                    else None
                )
                before = w.sts.calls["AssumeRole"]
                served_old = errors = 0
                for _ in range(requests):
                    try:
                        served_old += call() == first
                    except Exception:
                        errors += 1
                    clock.advance(seconds=0.1)
                rows.append(
                    {
                        "subject": name,
                        "requests": requests,
                        "sts_tries": w.sts.calls["AssumeRole"] - before,
                        "old_keys_served": served_old,
                        "errors": errors,
                    }
                )
    finally:
        w.sts.reset()
    headline = rows[0]["sts_tries"]
    met = headline <= 10 and rows[0]["old_keys_served"] == requests
    return {
        "figure": "STS down in the advisory window: STS tries for 1,800 requests over 3 minutes",
        "target": "old keys served, backoff (not a try per request)",
        "headline": headline,
        "met": met,
        "unit": "tries",
        "rows": rows,
    }


# -- memory --------------------------------------------------------------------------------------


def _retained(resolver: Resolver, targets: list[tuple[str, str, str]]) -> int:
    """Bytes that *resolver* keeps after resolving *targets* (tracemalloc, after a collection)."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for target in targets:
        resolver.credentials(*target)
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current - base


def memory(
    w: World,
    counts: tuple[int, ...] = (10_000, 100_000),
    cache_size: int = 4096,
    role_counts: tuple[int, int] = (200, 600),
) -> Figure:
    """Memory retained as distinct targets grow: bounded by the cache size, and per cached entry."""
    rows = []
    retained = {}
    for count in counts:
        resolver = Resolver(sources="env", cache_size=cache_size)
        resolver.credentials("org", "app", "warmup")  # plugins and chain: not per target
        retained[count] = _retained(resolver, [("org", "app", f"stage-{n}") for n in range(count)])
        rows.append(
            {
                "subject": f"sls-access Resolver(cache_size={cache_size}): {count:,} distinct targets",
                "retained_kib": round(retained[count] / 1024),
                "cache_entries": len(resolver._cache),
            }
        )
        del resolver
    small, large = counts
    ratio = retained[large] / retained[small]
    # Per cached entry, the cache raised above the counts, and measured on a second batch of
    # targets, so that what is built once (plugins, chain, STS client) is not counted.
    env = Resolver(sources="env", cache_size=4 * small)
    env.credentials("org", "app", "warmup")
    # The first batch pays for what is built once; the second is entries alone. Static keys
    # are kept 10 s: batches small enough to be resolved well within that, and the bytes
    # divided by the entries the cache holds more after the batch, not by the targets asked.
    _retained(env, [("org", "app", f"e-{n}") for n in range(small)])
    held = len(env._cache)
    per_env = _retained(env, [("org", "app", f"e-{n}") for n in range(small, 3 * small)]) / (len(env._cache) - held)
    rows.append(
        {
            "subject": f"per cached entry, env keys ({2 * small:,} targets after {small:,})",
            "retained_kib": round(per_env / 1024, 2),
            "cache_entries": len(env._cache),
            "bytes_per_entry": round(per_env),
        }
    )
    role_small, role_large = role_counts
    world_dashboard = w.dashboard.with_name("dashboard-many.toml")
    stages = "\n".join(
        f'[orgs.acme.apps.shop.stages.s{n}]\ndeployment_profile = "prod"\n' for n in range(role_small + role_large)
    )
    world_dashboard.write_text(w.dashboard.read_text() + "\n" + stages)
    role = Resolver(dashboard=str(world_dashboard), cache_size=4 * role_large)
    role.credentials(*TARGET)
    first = _retained(role, [("acme", "shop", f"s{n}") for n in range(role_small)])
    second = _retained(role, [("acme", "shop", f"s{n}") for n in range(role_small, role_small + role_large)])
    per_role = second / role_large
    rows.append(
        {
            "subject": f"per cached entry, AssumeRole keys ({role_large:,} linked targets after {role_small:,})",
            "retained_kib": round(per_role / 1024, 2),
            "cache_entries": len(role._cache),
            "bytes_per_entry": round(per_role),
            "first_batch_kib": round(first / 1024),
        }
    )
    return {
        "figure": f"memory retained: {large:,} vs {small:,} distinct targets (env source); per cached entry",
        "target": "bounded by the cache size",
        "headline": round(ratio, 3),
        "met": ratio <= 1.25 and all(row["cache_entries"] <= cache_size for row in rows[:2]),
        "unit": "KiB",
        "rows": rows,
    }


# -- across processes: the agent -------------------------------------------------------------


def _credential_process_argv(w: World) -> list[str]:
    return [
        str(console_script()),
        "credential-process",
        "--org",
        TARGET[0],
        "--app",
        TARGET[1],
        "--stage",
        TARGET[2],
        "--dashboard",
        str(w.dashboard),
    ]


def _stop_agent() -> None:
    subprocess.run([str(console_script()), "agent", "stop"], check=False, capture_output=True)


def credential_process(w: World, repeats: int) -> Figure:
    """Wall time of one ``sls-access credential-process`` (a new process), warm agent vs in-process."""
    argv = _credential_process_argv(w)
    with_agent = {name: value for name, value in os.environ.items() if name != "SLS_ACCESS_AGENT"}
    in_process = {**with_agent, "SLS_ACCESS_AGENT": "off"}

    def run(env: dict[str, str]) -> Callable[[], object]:
        return lambda: subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)

    baseline = "sls-access credential-process, in-process (SLS_ACCESS_AGENT=off: today's path)"
    _stop_agent()
    try:
        rows = side_by_side(
            {
                baseline: run(in_process),
                "sls-access credential-process, answered by the warm agent": run(with_agent),
                "python -c pass (the floor: starting Python)": lambda: subprocess.run(
                    [sys.executable, "-c", "pass"], check=True
                ),
            },
            baseline,
            repeats=repeats,
            number=5,
        )
    finally:
        _stop_agent()
    headline = rows[1]["ratio"]
    return {
        "figure": "sls-access credential-process, warm agent / in-process (wall, new process)",
        "target": "<= 0.25",
        "headline": headline,
        "met": headline <= 0.25,
        "unit": "us per process",
        "rows": rows,
    }


def _aws_cli() -> Path:
    # The AWS CLI v1 in a virtual environment of its own: the one tests/test_interop.py uses.
    return install_aws_cli(Path(__file__).resolve().parent.parent / ".pytest_cache" / "d" / "sls-access-awscli")


def aws_cli_runs(w: World, runs: int = 20) -> Figure:
    """AssumeRole calls and wall time of *runs* consecutive ``aws sts get-caller-identity``."""
    aws = _aws_cli()
    config = Path(os.environ["AWS_CONFIG_FILE"])
    saved = config.read_text()
    command = " ".join(_credential_process_argv(w))
    config.write_text(f"{saved}\n[profile sls]\nregion = us-east-1\ncredential_process = {command}\n")
    with_agent = {name: value for name, value in os.environ.items() if name != "SLS_ACCESS_AGENT"}
    subjects = {
        "aws CLI role profile (role_arn; the AWS CLI caches its keys in ~/.aws/cli/cache)": ("role", with_agent),
        "sls-access credential_process profile, with the agent": ("sls", with_agent),
        "sls-access credential_process profile, SLS_ACCESS_AGENT=off": (
            "sls",
            {**with_agent, "SLS_ACCESS_AGENT": "off"},
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in subjects}
    calls = dict.fromkeys(subjects, 0)
    try:
        _stop_agent()
        w.sts.reset()
        # Interleaved, run by run, so that load that comes and goes hits every subject alike;
        # each run's AssumeRole calls are the counter's change across it.
        for _ in range(runs):
            for name, (profile, env) in subjects.items():
                before = w.sts.calls["AssumeRole"]
                start = time.perf_counter()
                subprocess.run(
                    [str(aws), "sts", "get-caller-identity", "--profile", profile],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                times[name].append(time.perf_counter() - start)
                calls[name] += w.sts.calls["AssumeRole"] - before
    finally:
        _stop_agent()
        config.write_text(saved)
    rows = [
        {"subject": name, "assume_role_calls": calls[name], "median_us": round(statistics.median(times[name]) * 1e6, 1)}
        for name in subjects
    ]
    base = rows[0]["median_us"]
    for row in rows:
        row["ratio"] = round(row["median_us"] / base, 3)
        row["baseline"] = row is rows[0]
    headline = rows[1]["assume_role_calls"]
    return {
        "figure": f"AssumeRole calls: {runs} consecutive 'aws sts get-caller-identity' runs",
        "target": "= 1",
        "headline": headline,
        "met": headline == 1,
        "unit": "calls",
        "rows": rows,
    }
