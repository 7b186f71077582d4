"""`python -m bench [--quick] [--json] [--only NAME ...]` — run every benchmark scenario.

Each scenario is a module in this package exposing ``run(quick: bool) -> dict``; the dict holds
the scenario's figures, a ``baseline`` dict measured in the same run, a ``ratio`` and a
``targets`` dict of ``{name: bool}`` saying whether each target was met.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from typing import Any

import orjson

SCENARIOS = [
    "relay",
    "connections",
    "routing",
    "routing_scale",
    "queue_updates",
    "burst",
    "persistence",
    "export",
    "analytics_scale",
    "webhooks",
    "bots",
]


def machine() -> dict[str, Any]:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_mib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in minutes")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line"
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these scenarios")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": machine()}
    for name in args.only or SCENARIOS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"[{name}] not built yet", file=sys.stderr)
                continue
            raise
        started = time.perf_counter()
        print(f"[{name}] running…", file=sys.stderr, flush=True)
        result = module.run(args.quick)
        result["elapsed_s"] = round(time.perf_counter() - started, 2)
        results[name] = result
        print(f"[{name}] " + orjson.dumps(result).decode(), flush=True)
    if args.json:
        print(orjson.dumps(results).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
