"""`chatserver` — a thin command line that builds the settings and runs things.

chatserver --version
chatserver serve [--host H] [--port P] [--data DIR] [--database URL]
chatserver migrate [--data DIR] [--database URL]
chatserver agents add USERNAME --password-stdin --skills billing:5,en:3 --capacity 3 [--role R] [--display-name N]
chatserver agents list | set USERNAME [...] | disable USERNAME
chatserver export | verify | report | purge | forget-visitor | audit | analytics rebuild
    (see chatserver.analytics.cli)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import shutil
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

import routing
from chatserver import __version__, logs
from chatserver.analytics import cli as analytics_cli
from chatserver.analytics.errors import AnalyticsError
from chatserver.core import admin
from chatserver.core.accounts import (
    ROLES,
    AccountError,
    check_capacity,
    check_display_name,
    check_password,
    check_roles,
    check_skills,
    check_username,
    hash_password,
)
from chatserver.core.admin import AdminError, Outside
from chatserver.private_redis import PrivateRedis
from chatserver.redis_pool import open_sentinel_pool
from chatserver.settings import Settings, SettingsError, from_environment, replace
from chatserver.store import open_store
from chatserver.store.base import AgentRecord, AgentRole, StoreError, iso_now
from chatserver.store.open import migrate_store
from routing import ConfigError


class CLIError(Exception):
    """A command-line error: printed to stderr, exit status 2."""


DATABASE_HELP = (
    "transcript store URL: sqlite:///PATH or postgresql://user:pass@host:port/db"
    " (default: chat.db in the data folder; env CHATSERVER_DATABASE_URL)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatserver", description="Live-chat support hub")
    parser.add_argument("--version", action="version", version=f"chatserver {__version__}")
    parser.add_argument(
        "--data", type=Path, default=None, help="data folder (default ./data, env CHATSERVER_DATA)"
    )
    # --data is accepted before or after the subcommand (`chatserver --data D agents list` or
    # `chatserver agents list --data D`); SUPPRESS keeps a subparser from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=argparse.SUPPRESS, help="data folder")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the hub", parents=[common])
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--routing-config", type=Path, default=None, help="routing TOML file")
    serve.add_argument("--node-id", default=None, help="this process's node id (default random)")
    serve.add_argument("--database", default=None, help=DATABASE_HELP)
    serve.add_argument(
        "--no-demo", action="store_true", help="do not create demo accounts on a fresh data folder"
    )

    agents = sub.add_parser("agents", help="manage agents", parents=[common])
    asub = agents.add_subparsers(dest="agents_command", required=True)
    add = asub.add_parser("add", help="create an agent", parents=[common])
    add.add_argument("username")
    add.add_argument(
        "--password-stdin", action="store_true", required=True, help="read the password from stdin"
    )
    add.add_argument("--skills", required=True, help="e.g. billing:5,en:3")
    add.add_argument("--capacity", type=int, default=3)
    add.add_argument(
        "--role", action="append", choices=ROLES, default=None, help="repeat for several"
    )
    add.add_argument("--display-name", default=None)

    lst = asub.add_parser("list", help="list agents", parents=[common])
    lst.add_argument("--json", action="store_true")

    st = asub.add_parser("set", help="change an agent", parents=[common])
    st.add_argument("username")
    st.add_argument("--skills", default=None)
    st.add_argument("--capacity", type=int, default=None)
    st.add_argument("--role", action="append", choices=ROLES, default=None)
    st.add_argument("--display-name", default=None)
    st.add_argument("--password-stdin", action="store_true", help="read a new password from stdin")
    st.add_argument("--enable", action="store_true", help="re-enable a disabled agent")

    dis = asub.add_parser(
        "disable", help="disable an agent and revoke its sessions", parents=[common]
    )
    dis.add_argument("username")

    migrate = sub.add_parser(
        "migrate",
        help="apply the store's pending schema migrations",
        description="Apply the store's pending migrations (those serve applies at start, under"
        " the same lock), print their names and exit.",
        parents=[common],
    )
    migrate.add_argument("--database", default=None, help=DATABASE_HELP)

    analytics_cli.add_parsers(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data = args.data
    try:
        if args.command == "serve":
            return serve(args, data)
        if args.command == "migrate":
            return asyncio.run(migrate(from_environment(data_dir=data, database_url=args.database)))
        settings = from_environment(data_dir=data)
        if args.command in analytics_cli.COMMANDS:
            return analytics_cli.run(args, settings)
        return asyncio.run(agents_command(args, settings))
    except (
        CLIError,
        AccountError,
        AdminError,
        SettingsError,
        StoreError,
        ConfigError,
        AnalyticsError,
    ) as exc:
        print(f"chatserver: {exc}", file=sys.stderr)
        return 2


# -- serve ----------------------------------------------------------------------------------
# WebSocket keepalive (uvicorn's, below the chat protocol): every socket is pinged after
# WS_PING_INTERVAL_S without a ping, and closed (1011) when no pong comes within
# WS_PING_TIMEOUT_S, so a peer that vanished without a close is noticed within 50 s. On idle
# sockets these pings are nearly all the hub's CPU — one per socket per interval — so the
# interval is 30 s rather than uvicorn's 20 (a third less), still under the 60 s idle
# timeout of common proxies (nginx's proxy_read_timeout), which the server's pings also reset.
WS_PING_INTERVAL_S = 30.0
WS_PING_TIMEOUT_S = 20.0


def serve(args: argparse.Namespace, data: Path | None) -> int:
    import uvicorn

    from chatserver.private_redis import PrivateRedisError
    from chatserver.web.app import create_app
    from chatserver.web.connections import LIMITS, HubHttpProtocol
    from chatserver.web.drain import DrainingServer
    from chatserver.web.wsprotocol import HubWebSocketProtocol

    settings = from_environment(
        host=args.host,
        port=args.port,
        data_dir=data,
        routing_config=args.routing_config,
        node_id=args.node_id,
        database_url=args.database,
        demo=False if args.no_demo else None,
    )
    logs.configure(settings.log_format, settings.log_level)
    private: PrivateRedis | None = None
    if settings.redis_url is None and not settings.redis_sentinels:
        private = PrivateRedis(settings.data_dir)
        try:
            settings = replace(settings, redis_url=private.start())
        except PrivateRedisError as exc:
            raise CLIError(str(exc)) from None
    try:
        if settings.demo:
            asyncio.run(first_run(settings))
        LIMITS.configure(
            total=settings.max_connections or None,
            per_address=settings.max_connections_per_address or None,
            header_timeout_s=settings.header_timeout_s,
            trusted_proxies=settings.trusted_proxies,
        )
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=HubHttpProtocol,  # uvicorn's h11, with connection caps and a header deadline
            ws=HubWebSocketProtocol,  # uvicorn's websockets-sansio, paused at a high-water mark
            ws_max_size=settings.max_frame_bytes,
            ws_per_message_deflate=False,
            ws_ping_interval=WS_PING_INTERVAL_S,
            ws_ping_timeout=WS_PING_TIMEOUT_S,
            # The hub reads neither the client's address nor the scheme from the scope, so
            # uvicorn's X-Forwarded-* middleware would only add a coroutine frame to every
            # connection's stack (~260 B per idle socket); the Server header is not needed
            # either (~250 B of the handshake response uvicorn keeps per socket).
            proxy_headers=False,
            server_header=False,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        )
        # SIGTERM drains, then shuts down (chatserver.web.drain); uvicorn then re-raises the
        # signal with the handler that was in place before it: make that one a clean exit so
        # `finally` stops Redis.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        server = DrainingServer(
            config, app.state, drain_s=settings.drain_s, grace_s=settings.shutdown_grace_s
        )
        server.run()
    finally:
        if private is not None:
            private.stop()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def migrate(settings: Settings) -> int:
    """`chatserver migrate`: the store's pending migrations, applied as `serve` applies them."""
    try:
        done = await migrate_store(settings.database)
    except ValueError as exc:  # a URL that names no store (its password never shown)
        raise CLIError(str(exc)) from None
    if done.applied:
        print(f"{done.store}: applied {', '.join(done.applied)}")
    else:
        print(f"{done.store}: nothing to apply, the schema is up to date")
    return 0


async def first_run(settings: Settings) -> None:
    """On a fresh data folder: a demo admin and a demo agent, credentials printed once."""
    store = open_store(settings.database, synchronous=settings.sqlite_synchronous)
    await store.open()
    try:
        if await store.list_agents():
            return
        accounts = [
            ("admin", "Demo Admin", ["admin", "supervisor"], {"general": 3, "en": 5}),
            (
                "agent",
                "Demo Agent",
                ["agent"],
                {"general": 5, "billing": 5, "account": 5, "technical": 5, "en": 5, "es": 3},
            ),
        ]
        lines = []
        for username, display, roles, skills in accounts:
            password = secrets.token_urlsafe(9)
            await store.add_agent(
                AgentRecord(
                    id=uuid.uuid4().hex,
                    username=username,
                    display_name=display,
                    password_hash=hash_password(password),
                    skills=skills,
                    capacity=3,
                    roles=cast(tuple[AgentRole, ...], tuple(roles)),
                    disabled=False,
                    created_at=iso_now(),
                )
            )
            lines.append(f"  {username:<6} password {password}   ({', '.join(roles)})")
        base = f"http://{settings.host}:{settings.port}"
        manage = command_line(settings)
        print(
            "\nFirst run: demo accounts created (shown once; change a password with\n"
            f"  {manage} agents set USERNAME --password-stdin\n"
            "then type the new one):\n" + "\n".join(lines) + "\n"
            f"  Demo page (the widget on a shop page):   {base}/demo\n"
            f"  Agent console (sign in as agent):        {base}/console\n"
            f"  Supervisor dashboard (sign in as admin): {base}/dashboard\n"
            f"  Health:  {base}/readyz\n  Sign in: POST {base}/api/v1/auth/login\n",
            flush=True,
        )
    finally:
        await store.close()


def command_line(settings: Settings) -> str:
    """How to run this command line again, as the user can paste it: what `./dev.sh` says it is
    (``CHATSERVER_INVOKED_AS``), else `chatserver` when that is on PATH, else this very program;
    with ``--data`` unless the data folder is the default."""
    prog = os.environ.get("CHATSERVER_INVOKED_AS")
    if not prog:
        me = Path(sys.argv[0]).resolve()
        on_path = shutil.which("chatserver")
        if on_path is not None and Path(on_path).resolve() == me:
            prog = "chatserver"
        elif me.name == "chatserver" and me.is_file():
            prog = shlex.quote(str(me))
        else:  # python -m chatserver
            prog = f"{shlex.quote(sys.executable)} -m chatserver"
    if settings.data_dir != Path("data"):
        prog += f" --data {shlex.quote(str(settings.data_dir))}"
    return prog


# -- agents ---------------------------------------------------------------------------------
# Every change goes through the admins' use-cases (chatserver.core.admin), as from the admin
# pages: audited, told to the router and announced to every hub process when their Redis
# answers (REDIS_URL, or the private one under the data folder), else written to the store only
# (the hubs still close the sockets of revoked sessions at their next tick).
def read_password() -> str:
    return check_password(sys.stdin.readline().rstrip("\r\n"))


async def agents_command(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings.database, synchronous=settings.sqlite_synchronous)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await store.open()
    hubs = Outside(store, prefix=settings.redis_prefix)
    try:
        if args.agents_command in ("set", "disable"):
            hubs.redis = await hubs_redis(settings)
        if hubs.redis is not None:
            # The configuration in force in the hubs: the file's, with the admins' document.
            from chatserver.core.routing_config import load_routing_config, stored_routing

            config, _ = await stored_routing(store, load_routing_config(settings))
            hubs.router = routing.Router(
                hubs.redis, config, node_id=settings.node_id, prefix=settings.redis_prefix
            )
        return await _agents(args, hubs)
    finally:
        await store.close()
        if hubs.redis is not None:
            await hubs.redis.aclose()


async def hubs_redis(settings: Settings) -> aioredis.Redis | None:
    """The running hubs' Redis, if it answers: the master the sentinels name
    (``REDIS_SENTINELS``), ``REDIS_URL``, else the private one that `chatserver serve` starts
    under the data folder."""
    if settings.redis_sentinels and settings.redis_sentinel_master:
        client = open_sentinel_pool(
            settings.redis_sentinels,
            settings.redis_sentinel_master,
            name="cli",
            max_connections=2,
            timeout_s=settings.redis_pool_timeout_s,
        )
        try:
            await client.ping()
        except (RedisError, OSError):
            await client.aclose()
            return None
        return client
    url = settings.redis_url
    if url is None:
        private = PrivateRedis(settings.data_dir)
        if not private.socket_path.exists():
            return None
        url = private.url
    redis = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        await redis.ping()
    except (RedisError, OSError):
        await redis.aclose()
        return None
    return redis


async def _agents(args: argparse.Namespace, hubs: Outside) -> int:
    cmd = args.agents_command
    store = hubs.store
    if cmd == "add":
        # The checks the admin pages make too (chatserver.core.accounts).
        skills = check_skills(args.skills)
        capacity = check_capacity(args.capacity)
        username = check_username(args.username)
        password = read_password()
        agent = await admin.create_agent(
            hubs,
            admin.COMMAND_LINE,
            username=username,
            display_name=check_display_name(args.display_name, username),
            password_hash=hash_password(password),
            skills=skills,
            capacity=capacity,
            roles=check_roles(args.role or ["agent"]),
            password="given",
        )
        print(
            f"agent {username} created ({', '.join(agent.roles)}; capacity {agent.capacity})",
            file=sys.stderr,
        )
        return 0
    if cmd == "list":
        agents = await store.list_agents()
        if args.json:
            import orjson

            rows: list[dict[str, Any]] = [
                {
                    "id": a.id,
                    "username": a.username,
                    "display_name": a.display_name,
                    "skills": dict(a.skills),
                    "capacity": a.capacity,
                    "roles": list(a.roles),
                    "disabled": a.disabled,
                }
                for a in agents
            ]
            print(orjson.dumps(rows).decode())
        else:
            for a in agents:
                skill_text = ",".join(f"{k}:{v}" for k, v in sorted(a.skills.items()))
                flag = " (disabled)" if a.disabled else ""
                print(
                    f"{a.username:<20} {','.join(a.roles):<24} cap {a.capacity:<3} {skill_text}{flag}"
                )
        return 0
    found = await store.get_agent_by_username(args.username)
    if found is None:
        raise CLIError(f"no agent {args.username!r}")
    if cmd == "disable":
        await admin.set_disabled(hubs, admin.COMMAND_LINE, found, True)
        print(f"agent {found.username} disabled; its sessions are revoked", file=sys.stderr)
        return 0
    # set
    fields: dict[str, Any] = {}
    if args.skills is not None:
        fields["skills"] = check_skills(args.skills)
    if args.capacity is not None:
        fields["capacity"] = check_capacity(args.capacity)
    if args.role:
        fields["roles"] = check_roles(args.role)
    if args.display_name is not None:
        fields["display_name"] = check_display_name(args.display_name, found.username)
    password_hash = hash_password(read_password()) if args.password_stdin else None
    if not fields and not args.enable and password_hash is None:
        raise CLIError(
            "nothing to change; give --skills, --capacity, --role, --display-name, --password-stdin or --enable"
        )
    # One use-case per kind of change, as the admin page makes them (and audits them).
    agent = found
    if fields:
        agent = (await admin.change_agent(hubs, admin.COMMAND_LINE, agent, fields)).agent
    if args.enable:
        agent, _ = await admin.set_disabled(hubs, admin.COMMAND_LINE, agent, False)
    if password_hash is not None:
        await admin.reset_password(hubs, admin.COMMAND_LINE, agent, password_hash, "given")
    changed = sorted(
        [*fields, *(["disabled"] if args.enable else []), *(["password"] if password_hash else [])]
    )
    print(f"agent {found.username} updated: {', '.join(changed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
