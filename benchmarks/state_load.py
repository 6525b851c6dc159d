"""The service's state in a database, measured: vends/s against files, revocation delay, AssumeRole count.

Starts a loopback STS (moto behind the tests' counting proxy) and a throwaway PostgreSQL
server (initdb + pg_ctl as the ``postgres`` user, loopback only: run as root on a machine
with Debian's ``postgresql``), then reports, in one run:

- **vends/s with a SQLite state ÷ the same service on files**, and **with PostgreSQL ÷
  files**: one ``serve`` at a time, ``--workers`` workers, the same key, targets and load
  generator (``wrk`` when installed, else an asyncio closed loop), the three alternating
  ``--rounds`` times; the ratios are the medians of the rounds'. The hot path reads the
  worker's in-memory copy of the state, so the target is ≥ 0.9 for both.
- **a revocation seen by a second replica**: two replicas on one PostgreSQL database;
  ``--revocations`` times, a key that replica B has just vended with is revoked through
  the state and B is asked again every 2 ms until it refuses; p50 and p99 of the delay
  from the revocation's commit to B's first refusal (target ≤ 0.2 s / ≤ 1 s). Each key is
  asked from its own loopback address (127.0.1.N), so that the shared throttle, which
  counts the refusals, does not hold the answers being timed.
- **AssumeRole calls for 2 replicas x 2 workers x 1,000 requests** on one target (target ≤ 4).

    python benchmarks/state_load.py --duration 10 --rounds 3
    nox -s bench_state

Prints a summary and one JSON line. Every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import DashboardServer, PostgresCluster, StateServer, StsProxy, moto_server

from sls_access.dashboard.file import load_dashboard_file
from sls_access.service.keys import KeyStore
from sls_access.service.store.sql import SqlStore


def dashboard_text(links: int) -> str:
    lines = ["[orgs.bench.deployment_profiles.role]", 'role_arn = "arn:aws:iam::222222222222:role/bench"', ""]
    for i in range(links):
        lines += [f"[orgs.bench.apps.app{i}.stages.prod]", 'deployment_profile = "role"', ""]
    return "\n".join(lines)


def target(i: int) -> str:
    return f"/v1/orgs/bench/apps/app{i}/stages/prod/credentials"


def drive_wrk(port: int, key: str, paths: list[str], *, connections: int, duration: int, work: Path) -> float:
    script = work / "vend.lua"
    quoted = ", ".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{{quoted}}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n"
        f'  return wrk.format("GET", paths[(i % #paths) + 1], {{["Authorization"] = "Bearer {key}"}})\n'
        "end\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        raise RuntimeError(f"wrk saw failing answers:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return float(found.group(1))


def drive_python(port: int, key: str, paths: list[str], *, connections: int, duration: int, work: Path) -> float:
    counts = [0] * connections
    stop_at = time.monotonic() + duration

    def loop(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = 0
        while time.monotonic() < stop_at:
            conn.request("GET", paths[i % len(paths)], headers={"Authorization": f"Bearer {key}"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"answer {response.status}")
            counts[n] += 1
            i += 1
        conn.close()

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def ask(port: int, path: str, key: str, source: str = "127.0.0.1") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def vends(port: int, path: str, key: str, source: str) -> bool:
    return ask(port, path, key, source) == 200


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"not within {seconds} s: {what}")
        time.sleep(0.01)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> int:  # noqa: PLR0912, PLR0915 - one run, told in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=1, help="workers of the replica measured for vends/s")
    parser.add_argument("--links", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--revocations", type=int, default=50)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    generator = args.generator if args.generator != "auto" else ("wrk" if shutil.which("wrk") else "python")
    drive = drive_wrk if generator == "wrk" else drive_python
    results: dict[str, Any] = {
        "generator": generator,
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "load_before": os.getloadavg()[0],
    }
    cluster = PostgresCluster()
    try:
        with tempfile.TemporaryDirectory() as tmp, moto_server() as moto_url:
            work = Path(tmp)
            proxy = StsProxy(moto_url)
            os.environ.update(
                {
                    "AWS_ENDPOINT_URL": proxy.url,
                    "AWS_ACCESS_KEY_ID": "AKIABENCHBASE0000001",
                    "AWS_SECRET_ACCESS_KEY": "bench-base-secret",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "XDG_STATE_HOME": str(work / "xdg"),
                }
            )
            os.environ.pop("SLS_ACCESS_STATE", None)
            dashboard = work / "dashboard.toml"
            dashboard.write_text(dashboard_text(args.links))
            paths = [target(i) for i in range(args.links)]

            # -- vends/s: files, SQLite, PostgreSQL
            _, file_key = KeyStore(dashboard.with_name("dashboard.keys.json")).create("bench", "ci")
            servers: dict[str, tuple[Callable[[], DashboardServer], str]] = {
                "files": (lambda: DashboardServer(dashboard, work / "files", workers=args.workers), file_key)
            }
            for name, url in (("sqlite", f"sqlite:///{work / 'state.db'}"), ("postgresql", cluster.create_database())):
                store = SqlStore(url)
                store.replace_dashboard(load_dashboard_file(dashboard))
                _, key = store.create_key("bench", "ci")
                store.close()
                servers[name] = (functools.partial(StateServer, url, work / name, workers=args.workers), key)
            rates: dict[str, list[float]] = {name: [] for name in servers}
            for name in servers:
                (work / name).mkdir()
            for _ in range(args.rounds):
                for name, (make, key) in servers.items():
                    server = make().start()
                    try:
                        for path in paths:  # the cold vends, not measured
                            if ask(server.port, path, key) != 200:
                                raise RuntimeError(f"{name}: a vend failed: {server.stderr()[-2000:]}")
                        rates[name].append(
                            drive(
                                server.port, key, paths, connections=args.connections, duration=args.duration, work=work
                            )
                        )
                    finally:
                        server.stop()
            results["vends_per_s"] = {name: [round(r) for r in values] for name, values in rates.items()}
            for name in ("sqlite", "postgresql"):
                results[f"{name}_over_files"] = round(
                    statistics.median(a / b for a, b in zip(rates[name], rates["files"], strict=True)), 3
                )

            # -- two replicas on PostgreSQL: revocations, AssumeRole
            url = cluster.create_database()
            store = SqlStore(url)
            store.replace_dashboard(load_dashboard_file(dashboard))
            _, key = store.create_key("bench", "ci")
            a = StateServer(url, work / "a", workers=2).start()
            b = StateServer(url, work / "b", workers=2).start()
            try:
                proxy.reset()
                one = target(0)
                per_replica = 1000

                def hammer(server: StateServer, n: int) -> None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                    for _ in range(n):
                        conn.request("GET", one, headers={"Authorization": f"Bearer {key}"})
                        response = conn.getresponse()
                        response.read()
                        if response.status != 200:
                            raise RuntimeError(f"answer {response.status}")
                    conn.close()

                threads = [
                    threading.Thread(target=hammer, args=(server, per_replica // 4))
                    for server in (a, b)
                    for _ in range(4)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                results["assume_role_2x2x1000"] = proxy.calls["AssumeRole"]

                delays: list[float] = []
                for i in range(args.revocations):
                    source = f"127.0.1.{i + 1}"
                    _, revocable = store.create_key("bench", f"r{i}")
                    wait_for(functools.partial(vends, b.port, one, revocable, source), 5, "the new key on B")
                    store.revoke_key("bench", f"r{i}")
                    committed = time.perf_counter()
                    while ask(b.port, one, revocable, source) == 200:
                        if time.perf_counter() - committed > 10:
                            raise RuntimeError("the revocation did not reach B within 10 s")
                        time.sleep(0.002)
                    delays.append(time.perf_counter() - committed)
                results["revocation_s"] = {
                    "p50": round(pct(delays, 0.5), 4),
                    "p99": round(pct(delays, 0.99), 4),
                    "max": round(max(delays), 4),
                    "n": len(delays),
                }
            finally:
                a.stop()
                b.stop()
                store.close()
    finally:
        cluster.destroy()
    results["load_after"] = os.getloadavg()[0]
    print(
        f"vends/s ({generator}, {args.workers} worker(s), {args.connections} connections, {args.duration} s x "
        f"{args.rounds} rounds): {results['vends_per_s']}"
    )
    print(
        f"SQLite / files: {results['sqlite_over_files']} (target >= 0.9); "
        f"PostgreSQL / files: {results['postgresql_over_files']} (target >= 0.9)"
    )
    rev = results["revocation_s"]
    print(
        f"revocation seen by a 2nd replica (PostgreSQL, {rev['n']}): p50 {rev['p50']} s, p99 {rev['p99']} s "
        "(targets 0.2 / 1)"
    )
    print(f"AssumeRole for 2 replicas x 2 workers x 1,000 requests: {results['assume_role_2x2x1000']} (target <= 4)")
    print(f"load average: {results['load_before']:.2f} before, {results['load_after']:.2f} after")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
