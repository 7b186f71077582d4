"""Render the JSON line of ``python -m bench --json`` as the Markdown of docs/benchmarks.md.

    .venv/bin/python -m bench --quick --json | tee bench.out
    .venv/bin/python -m bench._report bench.out      # or: … | python -m bench._report

Prints the machine, one summary row per scenario (ratio, targets met) and each scenario's
scalar figures beside its baseline's. Works for any scenario that follows the runner's
contract (figures, ``baseline``, ``ratio``, ``targets``); a nested part with a ``per_size``
list (routing_scale) gets one row per size; other nested details (ramps, per-step CPU) stay in
the JSON.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

SKIP = {"baseline", "targets", "ratio", "ratio_of", "plan", "elapsed_s"}


def load(text: str) -> dict[str, Any]:
    """The last line of ``text`` that is a JSON object with a ``machine`` key."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict) and "machine" in data:
                return data
    raise SystemExit("no `python -m bench --json` result found")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _scalars(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in figures.items()
        if k not in SKIP and isinstance(v, int | float | str | bool) and v is not None
    }


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results["machine"]
    out += [
        "| CPUs | memory | Python | platform |",
        "|---|---|---|---|",
        f"| {m.get('cpus')} | {_fmt(m.get('memory_mib'))} MiB | {m.get('python')} "
        f"| {m.get('platform')} ({m.get('processor')}) |",
        "",
        "| scenario | ratio | ratio of | targets | elapsed |",
        "|---|---|---|---|---|",
    ]
    scenarios = [k for k in results if k != "machine"]
    for name in scenarios:
        r = results[name]
        targets = ", ".join(
            f"{t} {'✅' if ok else '❌'}" for t, ok in (r.get("targets") or {}).items()
        )
        out.append(
            f"| {name} | {_fmt(r.get('ratio'))} | {r.get('ratio_of', '')} | {targets} "
            f"| {_fmt(r.get('elapsed_s'))} s |"
        )
    for name in scenarios:
        r = results[name]
        mine, base = _scalars(r), _scalars(r.get("baseline") or {})
        out += ["", f"#### {name}", "", "| figure | measured | baseline |", "|---|---|---|"]
        for key in list(mine) + [k for k in base if k not in mine]:
            out.append(f"| `{key}` | {_fmt(mine.get(key, ''))} | {_fmt(base.get(key, ''))} |")
        for part, figures in r.items():  # a nested run of its own (relay's two_processes)
            if part in SKIP or not isinstance(figures, dict) or len(_scalars(figures)) < 5:
                continue
            out += ["", f"#### {name} · {part}", "", "| figure | measured |", "|---|---|"]
            out += [f"| `{k}` | {_fmt(v)} |" for k, v in _scalars(figures).items()]
            out += _per_size(figures.get("per_size"))
    return "\n".join(out) + "\n"


def _per_size(rows: Any) -> list[str]:
    """A part measured at several sizes (routing_scale's ``per_size``): one row per size."""
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return []
    columns: list[str] = []
    for row in rows:
        columns += [k for k in _scalars(row) if k not in columns]
    out = ["", "| " + " | ".join(f"`{c}`" for c in columns) + " |"]
    out.append("|" + "---|" * len(columns))
    out += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return out


def main(argv: list[str]) -> int:
    text = open(argv[0]).read() if argv else sys.stdin.read()
    sys.stdout.write(render(load(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
