"""Run the sls-access benchmarks side by side with botocore and the assume-role libraries.

    nox -s bench                       # or: python benchmarks/run.py
    nox -s bench -- --repeats 3 --only warm,client
    nox -s bench -- --only targets     # the client-side ratio targets alone

Prints one table and writes it as JSON (``bench-results.json`` by default). STS is
moto's server on loopback. See docs/explanation/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
from _setup import world

# "import" times new processes and is the most sensitive to load: it runs before "threads",
# whose 64 threads and STS calls leave the load average raised for the figures after it.
FIGURES = ("warm", "client", "import", "threads", "hours", "memory", "down", "process", "awscli")
# Named sets of figures for --only: "targets" is the client-side ratio targets of issue 22, side by side.
GROUPS = {"targets": ("warm", "client", "import", "process")}
PACKAGES = ("sls-access", "botocore", "boto3", "aws-assume-role-lib", "boto3-refresh-session", "moto")


def machine() -> dict[str, Any]:
    """What the figures were measured on (no host name, no paths)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "load_average_1min_at_start": None if load is None else round(load, 2),
        "versions": {name: _version(name) for name in PACKAGES},
    }


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _value(row: dict[str, Any]) -> str:  # noqa: PLR0911 - one return per kind of row
    if "median_us" in row and "assume_role_calls" in row:
        return f"{row['median_us'] / 1000:.1f} ms a run, {row['assume_role_calls']} AssumeRole calls"
    if "median_us" in row:
        us = row["median_us"]
        return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.2f} us"
    if "assume_role_calls" in row:
        extra = [f"{row['assume_role_calls']} calls"]
        if "distinct_keys" in row:
            extra.append(f"{row['distinct_keys']} keys")
        if row.get("expired_keys_handed_out") is not None:
            extra.append(f"{row['expired_keys_handed_out']} expired")
        if row.get("errors"):
            extra.append(f"{row['errors']} errors")
        return ", ".join(extra)
    if "sts_tries" in row:
        return (
            f"{row['sts_tries']} tries / {row['requests']} req, "
            f"{row['old_keys_served']} old keys, {row['errors']} errors"
        )
    if "bytes_per_entry" in row:
        return f"{row['bytes_per_entry']:,} bytes an entry, {row['cache_entries']} entries"
    if "retained_kib" in row:
        return f"{row['retained_kib']} KiB, {row['cache_entries']} entries"
    return ""


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for fig in results:
        verdict = "met" if fig["met"] else "NOT met" if fig["met"] is not None else ""
        load = fig.get("load_1min") or {}
        lines.append(
            f"## {fig['figure']}  -> {fig['headline']} (target {fig['target']}: {verdict}; "
            f"load {load.get('before')} -> {load.get('after')})"
        )
        width = max(len(row["subject"]) for row in fig["rows"])
        for row in fig["rows"]:
            ratio = ""
            if "ratio" in row:
                ratio = "  (baseline)" if row["baseline"] else f"  x{row['ratio']:.3f}"
                if "min_ratio" in row and not row["baseline"]:
                    ratio += f"  (fastest x{row['min_ratio']:.3f}, CPU x{row['cpu_ratio']:.3f})"
            lines.append(f"  {row['subject']:<{width}}  {_value(row)}{ratio}  [load {row.get('load_1min')}]")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds per timing (medians are taken)")
    parser.add_argument("--json", default="bench-results.json", help="where to write the results")
    parser.add_argument(
        "--only",
        default=",".join(FIGURES),
        help=f"comma-separated subset of {','.join(FIGURES)}, or of the sets {','.join(GROUPS)}",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    args = parser.parse_args(argv)
    only = [
        figure for name in args.only.split(",") if name.strip() for figure in GROUPS.get(name.strip(), (name.strip(),))
    ]
    unknown = set(only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(sorted(unknown))}")

    started = time.monotonic()
    info = machine()
    results = []
    with world() as w:
        runs = {
            "warm": lambda: figures.warm_credentials(w, args.repeats),
            "client": lambda: figures.create_client(w, args.repeats),
            "threads": lambda: figures.cold_threads(w),
            "hours": lambda: figures.eight_hours(w),
            "import": lambda: figures.import_time(w, args.repeats),
            "memory": lambda: figures.memory(w),
            "down": lambda: figures.sts_down(w),
            "process": lambda: figures.credential_process(w, args.repeats),
            "awscli": lambda: figures.aws_cli_runs(w),
        }
        for name in FIGURES:
            if name in only:
                print(f"measuring {name} ...", file=sys.stderr, flush=True)
                before = _load()
                measured = runs[name]()
                after = _load()
                for fig in measured if isinstance(measured, list) else [measured]:
                    # The machine's load for every figure (others may share it): the 1-minute
                    # load average before and after it, on the figure and on each of its rows.
                    fig["load_1min"] = {"before": before, "after": after}
                    for row in fig["rows"]:
                        row["load_1min"] = after
                    results.append(fig)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            ["nox -s bench", *(["--", *passed] if (passed := argv if argv is not None else sys.argv[1:]) else [])]
        ),
        "machine": info,
        "seconds": round(time.monotonic() - started, 1),
        "figures": results,
    }
    print(table(results))
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"written to {args.json}; {report['seconds']} s on {info['cpus']} CPUs, "
        f"load {info['load_average_1min_at_start']} at start",
        file=sys.stderr,
    )
    missed = [fig["figure"] for fig in results if fig["met"] is False]
    if missed:
        print(f"target not met: {'; '.join(missed)}", file=sys.stderr)
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
