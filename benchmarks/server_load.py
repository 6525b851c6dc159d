"""Load benchmark of the dashboard service: cached vends per second, p50/p99, STS calls.

Starts a loopback STS (moto behind the tests' counting proxy), writes a dashboard with
``--links`` linked targets, creates an access key, runs ``sls-access serve --workers N``,
asks each target once (the cold vends: one AssumeRole per target per worker at most),
then drives the cached path for ``--duration`` seconds with ``wrk`` when it is installed
(Debian: ``apt-get install wrk``), else with the asyncio load generator below. Every
request sends the key and is checked, audited and answered in full.

In the same run, with the same workers, HTTP implementation and load generator, it
drives the *bare stack* (``bare_app.py``: uvicorn and an ASGI app answering a fixed
~300-byte JSON) and reports the service's vends/s as a ratio of it; the two alternate
``--rounds`` times and the ratio is the median of the rounds'. It also times the *first
vend after start* (a fresh server, a key created after it started, that key's first
request for a target: one AssumeRole on the loopback STS; the median of ``--first-runs``
fresh servers, ``--only first`` for that figure alone) and records the machine's load average around every figure.

The targets (issue 22, public APIs only): vends/s at least 0.33 of the bare stack's (1
worker, ``wrk``, audit on), and the first vend after start at most 15 ms against moto on
loopback. A worker's startup makes one STS ``GetCallerIdentity``, whose connection the
first vend reuses; the floor printed beside it is a ready client's first ``AssumeRole``
on a new connection.

    python benchmarks/server_load.py --duration 10
    nox -s bench_server -- --workers 2

Prints one human summary and one JSON line. All traffic stays on 127.0.0.1 and every
loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import botocore.session
from support import DashboardServer, StsProxy, free_port, moto_server, stop_process

from sls_access.service.keys import KeyStore


def dashboard_text(links: int) -> str:
    lines = ["[orgs.bench.deployment_profiles.role]", 'role_arn = "arn:aws:iam::222222222222:role/bench"', ""]
    for i in range(links):
        lines += [f"[orgs.bench.apps.app{i}.stages.prod]", 'deployment_profile = "role"', ""]
    return "\n".join(lines)


def paths(links: int) -> list[str]:
    return [f"/v1/orgs/bench/apps/app{i}/stages/prod/credentials" for i in range(links)]


def run_wrk(
    port: int, key: str, targets: list[str], *, connections: int, threads: int, duration: int, workdir: Path
) -> dict[str, Any]:
    script = workdir / "vend.lua"
    quoted = ", ".join(json.dumps(p) for p in targets)
    script.write_text(
        f"local paths = {{{quoted}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        f'  return wrk.format("GET", paths[(i % #paths) + 1], {{["Authorization"] = "Bearer {key}"}})\n'
        "end\n"
    )
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not match:
            raise RuntimeError(f"cannot read the {pct}% latency from wrk:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if not rps or not total:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": 0 if not errors else sum(int(n) for n in re.findall(r"\d+", errors.group(0))),
    }


async def _client(
    port: int,
    requests: list[bytes],
    *,
    stop_at: float,
    interval: float,
    latencies: list[float],
    late: list[float],
    failures: list[int],
) -> None:
    """One keep-alive connection; closed loop when *interval* is 0, else one request every *interval* s.

    *latencies* count from when the request was sent; in the open loop, *late* counts from
    when it was due, so that a slow answer delaying the next request is not hidden
    (coordinated omission) — that figure also holds the generator's own scheduling delays.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    due = time.perf_counter()
    try:
        while due < stop_at:
            if interval:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                due = time.perf_counter()
            sent = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
            await reader.readexactly(int(found.group(1)) if found else 0)
            done = time.perf_counter()
            latencies.append((done - sent) * 1000)
            late.append((done - due) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                failures.append(1)
            due += interval
    finally:
        writer.close()


def run_python(
    port: int, key: str, targets: list[str], *, connections: int, duration: int, rate: float = 0
) -> dict[str, Any]:
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n".encode() for p in targets]
    latencies: list[float] = []
    late: list[float] = []
    failures: list[int] = []
    interval = connections / rate if rate else 0.0

    async def main() -> None:
        stop_at = time.perf_counter() + duration
        await asyncio.gather(
            *(
                _client(
                    port,
                    requests,
                    stop_at=stop_at,
                    interval=interval,
                    latencies=latencies,
                    late=late,
                    failures=failures,
                )
                for _ in range(connections)
            )
        )

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    latencies.sort()
    late.sort()
    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "p99_from_due_ms": late[int(len(late) * 0.99)] if interval else None,
        "non_2xx": len(failures),
        "socket_errors": 0,
    }


class BareServer:
    """``bare_app.py`` on uvicorn, on a free loopback port, with the service's server settings."""

    def __init__(self, workers: int, http: str) -> None:
        self.port = free_port()
        self.workers = workers
        self.http = http
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BareServer:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--app-dir",
                str(Path(__file__).resolve().parent),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--http",
                self.http,
                "--no-access-log",
                "--no-server-header",
                "--no-date-header",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the bare stack did not start")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


RATIO_TARGET = 0.33
"""Service vends/s over the bare stack's, at least."""
FIRST_VEND_TARGET_MS = 15.0
"""The first vend after start, at most (moto on loopback)."""


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of *pid* and its children (the workers), from ``/proc``; None elsewhere.

    Beside the ratio of requests a second, which moves with how the scheduler shares the
    cores between the server and the load generator, the CPU a request costs the server.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    try:
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for name in entries:
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else None


def _per_request_us(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or not requests:
        return None
    return round((after - before) / requests * 1e6, 1)


def main() -> int:  # noqa: PLR0915 - one run, told in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--links", type=int, default=4, help="linked targets, asked in turn")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load (at most 120)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="open loop: requests per second in all (python generator; 0 = as fast as answered)",
    )
    parser.add_argument("--http", choices=("auto", "httptools", "h11"), default="auto")
    parser.add_argument("--rounds", type=int, default=2, help="service and bare stack runs, alternated")
    parser.add_argument("--json", default="bench-server-results.json", help="where to write the results")
    parser.add_argument(
        "--first-runs",
        type=int,
        default=3,
        help="fresh servers timed for the first vend after start (the figure is their median)",
    )
    parser.add_argument(
        "--only",
        choices=("first",),
        default=None,
        help="first: only the first vend after start (no load, no bare stack)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    duration = max(1, min(args.duration, 120))
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") and not args.rate else "python"

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
            }
        )
        dashboard = work / "dashboard.toml"
        dashboard.write_text(dashboard_text(args.links))
        targets = paths(args.links)
        http = args.http
        if http == "auto":  # as uvicorn decides: httptools when installed
            http = "httptools" if importlib.util.find_spec("httptools") else "h11"

        def drive(port: int, key: str, requests: list[str]) -> dict[str, Any]:
            if generator == "wrk":
                return run_wrk(
                    port,
                    key,
                    requests,
                    connections=args.connections,
                    threads=args.threads,
                    duration=duration,
                    workdir=work,
                )
            return run_python(port, key, requests, connections=args.connections, duration=duration, rate=args.rate)

        # The first vend after start: a fresh server, one request, one AssumeRole. moto's own
        # first AssumeRole (its backends are built then) is made here first, not counted.
        botocore.session.Session().create_client("sts").assume_role(
            RoleArn="arn:aws:iam::222222222222:role/bench", RoleSessionName="warm-up"
        )
        # Each run: the floor (a client made beforehand, as the service's is at startup, its
        # first AssumeRole on a new connection to the loopback STS), then a fresh server's
        # first vend (a key created after it started, as a new key would be). Medians of the runs.
        floors: list[float] = []
        firsts: list[float] = []
        seconds: list[float] = []
        first_load = _load()
        for run in range(max(1, args.first_runs)):
            ready = botocore.session.Session().create_client("sts")
            begun = time.perf_counter()
            ready.assume_role(RoleArn="arn:aws:iam::222222222222:role/bench", RoleSessionName="floor")
            floors.append((time.perf_counter() - begun) * 1000)
            server = DashboardServer(dashboard, work, workers=1, extra_args=["--http", http]).start()
            try:
                _, key = KeyStore(server.keys_path).create("bench", f"load{run}")
                begun = time.perf_counter()
                status, _, _ = server.get(targets[0], {"Authorization": key})
                firsts.append((time.perf_counter() - begun) * 1000)
                if status != 200:
                    raise RuntimeError(f"first vend answered {status}: {server.stderr()}")
                begun = time.perf_counter()
                server.get(targets[0], {"Authorization": key})
                seconds.append((time.perf_counter() - begun) * 1000)
            finally:
                server.stop()
        first = {
            "first_vend_ms": round(statistics.median(firsts), 2),
            "second_vend_ms": round(statistics.median(seconds), 2),
            "assume_role_floor_ms": round(statistics.median(floors), 2),
            "first_vend_runs_ms": [round(ms, 2) for ms in firsts],
            "assume_role_floor_runs_ms": [round(ms, 2) for ms in floors],
            "load_1min": {"before": first_load, "after": _load()},
        }
        proxy.reset()
        if args.only == "first":
            proxy.close()
            print(
                f"first vend after start: {first['first_vend_ms']:.1f} ms (the next: {first['second_vend_ms']:.1f} "
                f"ms; the floor: {first['assume_role_floor_ms']:.1f} ms; load {first['load_1min']['before']} -> "
                f"{first['load_1min']['after']})"
            )
            print(json.dumps(first))
            return 0

        server = DashboardServer(dashboard, work, workers=args.workers, extra_args=["--http", http]).start()
        bare = BareServer(args.workers, http).start()
        rounds: list[dict[str, Any]] = []
        try:
            # Cold vends: every worker may see each target first; ask a few times each.
            for path in targets * (2 * args.workers):
                status, _, _ = server.get(path, {"Authorization": key})
                if status != 200:
                    raise RuntimeError(f"warm-up request for {path} answered {status}: {server.stderr()}")
            drive(bare.port, key, targets[:1])  # warm-up of the bare stack (and of the generator)
            for _ in range(max(1, args.rounds)):
                load_before = _load()
                cpu = _cpu_seconds(server.proc.pid) if server.proc else None
                sls = drive(server.port, key, targets)
                sls["cpu_us_per_request"] = _per_request_us(
                    cpu, _cpu_seconds(server.proc.pid) if server.proc else None, sls["requests"]
                )
                load_middle = _load()
                cpu = _cpu_seconds(bare.proc.pid) if bare.proc else None
                stack = drive(bare.port, key, targets)
                stack["cpu_us_per_request"] = _per_request_us(
                    cpu, _cpu_seconds(bare.proc.pid) if bare.proc else None, stack["requests"]
                )
                rounds.append(
                    {
                        "service": sls,
                        "bare": stack,
                        "ratio": round(sls["rps"] / stack["rps"], 3),
                        "load_1min": {"before": load_before, "middle": load_middle, "after": _load()},
                    }
                )
            assume_role = proxy.calls["AssumeRole"]
            audit_lines = sum(1 for _ in server.stdout().splitlines())
        finally:
            server.stop()
            bare.stop()
            proxy.close()
    ratio = round(statistics.median(r["ratio"] for r in rounds), 3)
    best = max(rounds, key=lambda r: r["service"]["rps"])
    result = best["service"]
    report = {
        "generator": generator,
        "rate": args.rate or None,
        "workers": args.workers,
        "http": http,
        "links": args.links,
        "connections": args.connections,
        "duration_s": duration,
        **result,
        "sts_assume_role": assume_role,
        "sts_bound": args.links * args.workers,
        "audit_lines": audit_lines,
        "cpus": os.cpu_count(),
        "ratio_to_bare_stack": ratio,
        "target_ratio": f">= {RATIO_TARGET}",
        "ratio_met": ratio >= RATIO_TARGET,
        "rounds": rounds,
        **first,
        "first_vend_target_ms": FIRST_VEND_TARGET_MS,
        "first_vend_met": first["first_vend_ms"] <= FIRST_VEND_TARGET_MS,
        "seconds": round(time.monotonic() - started, 1),
    }
    mode = f"open loop at {args.rate:g}/s" if args.rate else "closed loop"
    print(
        f"{result['rps']:.0f} vends/s over {result['requests']} requests ({generator}, {mode}, "
        f"{args.workers} workers, {args.connections} connections, {duration} s): p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms"
        + (f" (from when due: {result['p99_from_due_ms']:.2f} ms)" if result.get("p99_from_due_ms") else "")
        + f", non-200 {result['non_2xx']}; STS AssumeRole calls {assume_role} "
        f"for {args.links} links x {args.workers} workers"
    )
    for n, r in enumerate(rounds, 1):
        cpu = ""
        if r["service"].get("cpu_us_per_request") and r["bare"].get("cpu_us_per_request"):
            cpu = (
                f"; server CPU a request {r['service']['cpu_us_per_request']:.1f} us vs "
                f"{r['bare']['cpu_us_per_request']:.1f} us"
            )
        print(
            f"round {n}: service {r['service']['rps']:.0f}/s, bare stack {r['bare']['rps']:.0f}/s "
            f"-> x{r['ratio']:.3f}{cpu} (load {r['load_1min']['before']} -> {r['load_1min']['after']})"
        )
    print(
        f"service / bare stack: x{ratio:.3f} (target >= {RATIO_TARGET}: "
        f"{'met' if ratio >= RATIO_TARGET else 'NOT met'})"
    )
    print(
        f"first vend after start: {first['first_vend_ms']:.1f} ms (target <= {FIRST_VEND_TARGET_MS:g} ms: "
        f"{'met' if first['first_vend_ms'] <= FIRST_VEND_TARGET_MS else 'NOT met'}; "
        f"the next: {first['second_vend_ms']:.1f} ms; "
        f"a ready client's first AssumeRole on loopback, the floor: {first['assume_role_floor_ms']:.1f} ms; "
        f"load {first['load_1min']['before']} -> {first['load_1min']['after']})"
    )
    print(json.dumps(report))
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    ok = result["non_2xx"] == 0 and assume_role <= args.links * args.workers
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
