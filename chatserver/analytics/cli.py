"""The analysts' commands of ``chatserver``; `chatserver.cli` adds them to its parser.

chatserver export [--format jsonl|csv|parquet] [--shape messages|conversations] [filters]
                  [--after CURSOR | --cursor-file FILE] [--out FILE] [--no-redact]
chatserver verify FILE [--no-seal]
chatserver report [filters] [--html FILE | --json] [--no-terms]
chatserver purge --older-than DAYS [--dry-run]
chatserver forget-visitor VISITOR_ID
chatserver audit [--action A] [--limit N] [--json]
chatserver analytics rebuild [--pending]

Filters: --since, --until, --topic, --agent, --tag, --rating. They read and write the hub's
store: ``CHATSERVER_DATABASE_URL`` when set, else ``chat.db`` in the data folder (``--data``);
reads are one consistent snapshot (`chatserver.store.ReadSnapshot`). These commands act as the
local operator, with an admin's rights: whoever can run them can read the data folder anyway. What
the audit log records of them (unredacted exports, purges, deletions) has ``actor: "cli"``.
Data goes to standard output (or ``--out``); progress and messages to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from chatserver.settings import Settings
from chatserver.store import ReadSnapshot, Store, open_store
from chatserver.store.base import iso_now

from . import rollups
from .errors import BadRequest
from .export import FORMATS, SHAPES, Export, ExportOptions
from .figures import summary
from .filters import filters_from
from .progress import Progress
from .report import render_html, render_text
from .verify import verify_file

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("export", "verify", "report", "purge", "forget-visitor", "audit", "analytics")
ACTOR = "cli"


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="arrived at or after: 2026-05-01, an ISO time, or 7d")
    parser.add_argument("--until", help="arrived before (same forms as --since)")
    parser.add_argument("--topic", help="only this topic")
    parser.add_argument("--agent", help="only conversations this agent (username) took part in")
    parser.add_argument("--tag", help="only conversations with this tag")
    parser.add_argument("--rating", help="only these ratings: 5, 1-2 or 1,2")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the analytics subcommands to ``chatserver``'s subparsers."""
    ex = sub.add_parser("export", help="export transcripts (redacted)", parents=[common])
    ex.add_argument("--format", choices=FORMATS, default="jsonl")
    ex.add_argument("--shape", choices=SHAPES, default="messages", help="csv/parquet: a row per …")
    _filters(ex)
    ex.add_argument("--after", help="only what is new since this cursor (printed by an export)")
    ex.add_argument(
        "--cursor-file",
        type=Path,
        help="read --after from this file if it exists, write the new cursor to it on success",
    )
    ex.add_argument("--out", type=Path, help="write here (default: standard output)")
    ex.add_argument(
        "--no-redact", action="store_true", help="keep personal data (recorded in the audit log)"
    )
    ex.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )

    ve = sub.add_parser("verify", help="check an export's digests and seals", parents=[common])
    ve.add_argument("file", type=Path)
    ve.add_argument("--no-seal", action="store_true", help="do not check seals against the store")

    re_ = sub.add_parser("report", help="support figures (text, JSON or HTML)", parents=[common])
    _filters(re_)
    out = re_.add_mutually_exclusive_group()
    out.add_argument("--html", type=Path, help="write a self-contained HTML page here")
    out.add_argument("--json", action="store_true", help="print every figure as JSON")
    re_.add_argument("--no-terms", action="store_true", help="skip the term analysis")

    pu = sub.add_parser("purge", help="delete conversations closed long ago", parents=[common])
    pu.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    pu.add_argument("--dry-run", action="store_true", help="only count what would go")

    fo = sub.add_parser(
        "forget-visitor", help="delete every trace of one visitor", parents=[common]
    )
    fo.add_argument("visitor_id")

    au = sub.add_parser("audit", help="show the audit log", parents=[common])
    au.add_argument("--action", default=None)
    au.add_argument("--limit", type=int, default=50)
    au.add_argument("--json", action="store_true")

    an = sub.add_parser("analytics", help="the figures' rollups")
    an_sub = an.add_subparsers(dest="analytics_command", metavar="COMMAND", required=True)
    rb = an_sub.add_parser(
        "rebuild",
        help="build the rollups of every past day again (or, --pending, of those that need it)",
        parents=[common],
    )
    rb.add_argument("--pending", action="store_true", help="only the days changed or never built")


def run(args: argparse.Namespace, settings: Settings) -> int:
    handlers: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "export": _export,
        "verify": _verify,
        "report": _report,
        "purge": _purge,
        "forget-visitor": _forget,
        "audit": _audit,
        "analytics": _rebuild,
    }
    return handlers[args.command](args, settings)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _has_store(settings: Settings) -> bool:
    return settings.database_url is not None or settings.db_path.exists()


def _open_store(settings: Settings) -> Store:
    if not _has_store(settings):
        raise BadRequest(f"no transcript store at {settings.db_path} (use --data DIR)")
    return open_store(settings.database, synchronous=settings.sqlite_synchronous)


def _snapshot(settings: Settings) -> ReadSnapshot:
    """A snapshot of the store, its schema brought up to date first."""
    asyncio.run(_migrate(settings))
    return _open_store(settings).snapshot()


async def _migrate(settings: Settings) -> None:
    async with _open_store(settings):
        pass  # opening applies pending migrations


async def _audit_entry(settings: Settings, action: str, details: dict[str, Any]) -> None:
    async with _open_store(settings) as store:
        await store.add_audit(action, details, ts=iso_now(), actor=ACTOR)


# --- export ---------------------------------------------------------------------------------


def _export(args: argparse.Namespace, settings: Settings) -> int:
    after = args.after
    if after is None and args.cursor_file is not None and args.cursor_file.exists():
        after = args.cursor_file.read_text(encoding="utf-8").strip() or None
    values = {k: getattr(args, k) for k in ("since", "until", "topic", "agent", "tag", "rating")}
    filters = filters_from({**values, "after": after})
    options = ExportOptions(
        format=args.format, shape=args.shape, filters=filters, redact=not args.no_redact
    )
    with _snapshot(settings) as snapshot:
        exporter = Export(snapshot, options)
        if args.no_redact:
            asyncio.run(
                _audit_entry(
                    settings,
                    "export_unredacted",
                    {
                        "format": args.format,
                        "shape": args.shape,
                        "filters": filters.describe(),
                        "snapshot": str(exporter.cursor),
                        "via": "cli",
                        "out": str(args.out) if args.out else "stdout",
                    },
                )
            )
        want = args.progress if args.progress is not None else sys.stderr.isatty()
        progress = Progress(exporter.total() if want else 0, force=bool(args.progress))
        progress.enabled = bool(want)
        if args.out is not None:
            partial = args.out.with_name(args.out.name + ".partial")
            with partial.open("wb") as f:
                _write(exporter, f, progress)
            os.replace(partial, args.out)
        else:
            _write(exporter, sys.stdout.buffer, progress)
    stats = exporter.stats
    if args.cursor_file is not None:
        args.cursor_file.write_text(str(exporter.cursor) + "\n", encoding="utf-8")
    rate = stats.messages / stats.elapsed_s if stats.elapsed_s else 0.0
    _say(
        f"exported {stats.conversations:,} conversations, {stats.messages:,} messages"
        f" ({stats.bytes:,} bytes) in {stats.elapsed_s:.2f} s, {rate:,.0f} messages/s"
        f"{'' if options.redact else ' — NOT redacted (recorded in the audit log)'}"
    )
    _say(f"cursor: {exporter.cursor}   (next time: --after {exporter.cursor})")
    return 0


def _write(exporter: Export, out: BinaryIO, progress: Progress) -> None:
    stats = exporter.stats
    for chunk in exporter.chunks():
        out.write(chunk)
        progress.update(stats.conversations, stats.messages)
    out.flush()
    progress.update(stats.conversations, stats.messages, final=True)


# --- verify ---------------------------------------------------------------------------------


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    key: bytes | None = None
    if not args.no_seal and _has_store(settings):
        with _snapshot(settings) as snapshot:
            key = snapshot.key("seal")
    result = verify_file(args.file, key)
    seals = (
        f"{result.seals_checked:,} seals checked"
        if key is not None
        else "seals not checked (no store; give --data DIR)"
    )
    if result.ok:
        print(
            f"{args.file}: OK — {result.kind}, {result.conversations:,} conversations,"
            f" {result.digests_checked:,} digests checked, {seals}"
        )
        return 0
    print(f"{args.file}: ALTERED — {len(result.problems)} problem(s) ({result.kind}, {seals})")
    for problem in result.problems[:20]:
        print(f"  {problem}")
    return 1


# --- report ---------------------------------------------------------------------------------


def _report(args: argparse.Namespace, settings: Settings) -> int:
    values = {k: getattr(args, k) for k in ("since", "until", "topic", "agent", "tag", "rating")}
    filters = filters_from(values)
    with _snapshot(settings) as snapshot:
        result = summary(snapshot, filters, terms=not args.no_terms)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    elif args.html is not None:
        args.html.write_text(render_html(result), encoding="utf-8")
        _say(f"report written to {args.html}")
    else:
        sys.stdout.write(render_text(result))
    return 0


# --- data lifecycle -------------------------------------------------------------------------


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    if args.older_than < 0:
        raise BadRequest("--older-than must be 0 or more days")
    cutoff = iso_now(time.time() - args.older_than * 86_400)
    if args.dry_run:
        with _snapshot(settings) as snapshot:
            count = snapshot.count_closed_before(cutoff)
        print(f"would delete {count:,} conversations closed before {cutoff}")
        return 0

    async def go() -> str:
        async with _open_store(settings) as store:
            r = await store.purge_closed_before(cutoff, ts=iso_now(), actor=ACTOR)
        return (
            f"purged {r.conversations:,} conversations closed before {r.cutoff}"
            f" ({r.events:,} events) and {r.visitors:,} visitors; audit entry {r.audit_id}"
        )

    print(asyncio.run(go()))
    return 0


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> str:
        async with _open_store(settings) as store:
            r = await store.forget_visitor(args.visitor_id, ts=iso_now(), actor=ACTOR)
        if not r.found and not r.conversations:
            return (
                f"no visitor {r.visitor_id!r}; the request is recorded (audit entry {r.audit_id})"
            )
        return (
            f"forgot visitor {r.visitor_id}: {r.conversations:,} conversations,"
            f" {r.events:,} events deleted; audit entry {r.audit_id}"
        )

    print(asyncio.run(go()))
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[Any]:
        async with _open_store(settings) as store:
            return await store.audit_log(action=args.action, limit=max(1, args.limit))

    entries = asyncio.run(go())
    if args.json:
        rows = [
            {"id": e.id, "ts": e.ts, "actor": e.actor, "actor_id": e.actor_id,
             "action": e.action, "details": e.details}
            for e in entries
        ]  # fmt: skip
        print(orjson.dumps(rows).decode())
    else:
        for e in entries:
            print(
                f"{e.id:>6}  {e.ts}  {e.actor:<16} {e.action:<18} {orjson.dumps(e.details).decode()}"
            )
    return 0


# --- rollups ----------------------------------------------------------------------------------


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> rollups.RefreshResult:
        async with _open_store(settings) as store:
            if not args.pending:
                return await rollups.rebuild(store)
            built = clean = hours = 0
            started = time.monotonic()
            while True:
                r = await rollups.refresh(store)
                built, clean, hours = built + r.built, clean + r.clean, hours + r.hours
                if not r.left:
                    return rollups.RefreshResult(built, clean, 0, time.monotonic() - started, hours)

    r = asyncio.run(go())
    print(
        f"built the rollups of {r.built - r.hours:,} days and {r.hours:,} hours"
        f" in {r.seconds:.1f} s"
        + (
            f"; {r.built - r.clean:,} changed meanwhile and stay marked"
            if r.clean < r.built
            else ""
        )
    )
    return 0
