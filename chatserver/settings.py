"""One typed settings object, read from flags and the environment in one place.

Every setting has a default, an environment variable and (for `serve`) usually a flag;
`docs/configuration.md` lists them all. Flags win over the environment, the environment over
the defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import orjson

LogFormat = Literal["auto", "json", "text"]
Synchronous = Literal["NORMAL", "FULL"]
IdentityMode = Literal["off", "optional", "enforce"]


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class SiteIdentity:
    """A site's verified users (`chatserver.core.identity`, docs/widget.md): ``off`` — claims
    only name the visitor; ``optional`` — a claim proven with ``secret`` (an HMAC of the user id
    or an HS256 token) is verified, others are accepted as unverified; ``enforce`` — unproven
    claims are refused."""

    mode: IdentityMode = "off"
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    redis_url: str | None = None
    # Redis through Sentinel: the sentinels' addresses and the name they monitor the master by;
    # with these, redis_url is not used and no private Redis is started.
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str | None = None
    redis_prefix: str = "{cs}"
    # Redis access: commands wait (FIFO) for one of this many connections, up to the timeout;
    # measured defaults, see chatserver/redis_pool.py and docs/configuration.md.
    redis_max_connections: int = 32
    redis_pool_timeout_s: float = 30.0
    routing_config: Path | None = None
    node_id: str = field(default_factory=lambda: "node-" + secrets.token_hex(4))
    # Sites: site id -> allowed origins for /ws/visitor. "self" means the hub's own origin.
    sites: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"default": ("self",), "demo": ("self",)}
    )
    default_site: str = "default"
    public_url: str | None = None
    # Origins (besides the hub's own and public_url's) that may serve the staff pages: their
    # unsafe requests and /ws/agent sockets are not refused as cross-site.
    staff_origins: tuple[str, ...] = ()
    # Proxies in front of the hub whose X-Forwarded-For names the client (per-address limits).
    trusted_proxies: tuple[str, ...] = ()
    # Connections (chatserver/web/connections.py): 0 = from the open-file limit.
    max_connections: int = 0
    max_connections_per_address: int = 0
    header_timeout_s: float = 10.0
    # New visitor tokens one client address may be given per minute (anonymous hellos).
    new_visitors_per_minute: int = 60
    # /metrics for this bearer token; unset: for loopback clients only.
    metrics_token: str | None = None
    # Limits.
    max_frame_bytes: int = 65536
    hello_timeout_s: float = 10.0
    max_text_chars: int = 4000
    rate_per_s: float = 10.0
    rate_burst: int = 20
    send_queue_frames: int = 1000
    # Auth.
    token_ttl_s: float = 12 * 3600.0
    cookie_secure: bool = False
    # Store and timing. database_url: the transcript store (chatserver.store.open_store), unset
    # for SQLite in the data folder (``db_path``).
    database_url: str | None = None
    sqlite_synchronous: Synchronous = "NORMAL"
    tick_interval_s: float = 0.5
    gap_fill_delay_s: float = 0.05
    shutdown_grace_s: float = 5.0
    # On SIGTERM: /readyz fails and this process's agents get no new offers for this long
    # before the sockets close (1012); 0: close at once.
    drain_s: float = 5.0
    # Dashboard: a chat waiting longer than this breaches the service level.
    sla_wait_s: float = 60.0
    # Analytics: how often this process builds the rollups of the past days that need it
    # (chatserver.analytics.rollups); 0: never (`chatserver analytics rebuild` still does).
    rollup_interval_s: float = 60.0
    # Webhooks (chatserver/webhooks): how often each process looks for deliveries that are due,
    # one request's time limit, the first retry's delay (doubling, with jitter, up to an hour),
    # how long an event is retried before it is given up, how long the delivery log is kept, and
    # the private networks an admin allows webhooks to reach (none: only public addresses).
    webhook_poll_s: float = 1.0
    webhook_timeout_s: float = 10.0
    webhook_retry_base_s: float = 10.0
    webhook_retry_for_s: float = 86_400.0
    webhook_log_days: int = 7
    webhook_allow_networks: tuple[str, ...] = ()
    # Operations.
    log_format: LogFormat = "auto"
    log_level: str = "INFO"
    demo: bool = True
    # REST API v1: calls one API key may make per minute, across every hub process.
    api_key_rate_per_minute: int = 600
    # Verified users: site id -> its mode and secret (sites not named: "off").
    identity: Mapping[str, SiteIdentity] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "chat.db"

    @property
    def database(self) -> str | Path:
        """What `open_store` opens: ``database_url``, else the SQLite file in the data folder."""
        return self.database_url or self.db_path

    @property
    def redis_socket(self) -> Path:
        return self.data_dir / "redis.sock"

    def origins_for(self, site: str) -> tuple[str, ...] | None:
        return self.sites.get(site)

    def identity_for(self, site: str) -> SiteIdentity:
        return self.identity.get(site) or SiteIdentity()


# variable name -> (field name, parser)
def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _sites(raw: str) -> dict[str, tuple[str, ...]]:
    data = orjson.loads(raw)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(o, str) for o in v)
        for k, v in data.items()
    ):
        raise ValueError(
            'expected a JSON object of site -> list of origins, e.g. {"shop": ["https://shop.example"]}'
        )
    return {k: tuple(v) for k, v in data.items()}


#: The shortest secret a site's identity verification accepts (characters): HS256 keys are at
#: least 256 bits (RFC 7518, 3.2).
MIN_IDENTITY_SECRET = 32


def _identity(raw: str) -> dict[str, SiteIdentity]:
    example = '{"shop": {"mode": "enforce", "secret": "…at least 32 characters…"}}'
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object of site -> {{mode, secret}}, e.g. {example}")
    out: dict[str, SiteIdentity] = {}
    for site, entry in data.items():
        if not isinstance(entry, dict) or set(entry) - {"mode", "secret"}:
            raise ValueError(f"site {site!r}: expected {{mode, secret}}, e.g. {example}")
        mode, secret = entry.get("mode", "off"), entry.get("secret")
        if mode not in ("off", "optional", "enforce"):
            raise ValueError(f"site {site!r}: mode must be one of off, optional, enforce")
        if secret is not None and not isinstance(secret, str):
            raise ValueError(f"site {site!r}: secret must be a string")
        if mode != "off" and (secret is None or len(secret) < MIN_IDENTITY_SECRET):
            raise ValueError(
                f"site {site!r}: mode {mode} needs a secret of at least "
                f"{MIN_IDENTITY_SECRET} characters"
            )
        out[site] = SiteIdentity(mode=mode, secret=secret)
    return out


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ValueError(f"{origin!r} is not an origin; expected e.g. https://support.example")
    return origins


def _addresses(raw: str) -> tuple[str, ...]:
    import ipaddress

    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in found:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"{address!r} is not an IP address") from None
    return found


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(
            "expected sqlite:///path/to/file.db or postgresql://user:password@host:port/database"
        )
    return raw


def _host_ports(raw: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port,…`` (an IPv6 host in brackets: ``[::1]:26379``)."""
    found: list[tuple[str, int]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^\s:\[\]/@]+):(\d+)", item)
        port = int(match.group(2) or match.group(4)) if match else 0
        if match is None or not 1 <= port <= 65535:
            raise ValueError(
                f"{item!r} is not host:port; expected e.g. 10.0.0.5:26379,10.0.0.6:26379"
            )
        found.append((match.group(1) or match.group(3), port))
    if not found:
        raise ValueError("no host:port given; expected e.g. 10.0.0.5:26379,10.0.0.6:26379")
    return tuple(found)


def _networks(raw: str) -> tuple[str, ...]:
    """``127.0.0.0/8, 10.1.0.0/16``: networks in CIDR notation, checked, normalised."""
    out = []
    for part in raw.split(","):
        if part.strip():
            try:
                out.append(str(ipaddress.ip_network(part.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not a network (e.g. 10.0.0.0/8)") from None
    return tuple(out)


def _choice(*allowed: str) -> Any:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return raw

    return parse


ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "CHATSERVER_HOST": ("host", str),
    "CHATSERVER_PORT": ("port", int),
    "CHATSERVER_DATA": ("data_dir", Path),
    "REDIS_URL": ("redis_url", str),
    "REDIS_SENTINELS": ("redis_sentinels", _host_ports),
    "REDIS_SENTINEL_MASTER": ("redis_sentinel_master", str),
    "CHATSERVER_REDIS_PREFIX": ("redis_prefix", str),
    "CHATSERVER_REDIS_MAX_CONNECTIONS": ("redis_max_connections", int),
    "CHATSERVER_REDIS_POOL_TIMEOUT_S": ("redis_pool_timeout_s", float),
    "CHATSERVER_ROUTING_CONFIG": ("routing_config", Path),
    "CHATSERVER_NODE_ID": ("node_id", str),
    "CHATSERVER_SITES": ("sites", _sites),
    "CHATSERVER_PUBLIC_URL": ("public_url", str),
    "CHATSERVER_STAFF_ORIGINS": ("staff_origins", _origins),
    "CHATSERVER_TRUSTED_PROXIES": ("trusted_proxies", _addresses),
    "CHATSERVER_MAX_CONNECTIONS": ("max_connections", int),
    "CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS": ("max_connections_per_address", int),
    "CHATSERVER_HEADER_TIMEOUT_S": ("header_timeout_s", float),
    "CHATSERVER_NEW_VISITORS_PER_MINUTE": ("new_visitors_per_minute", int),
    "CHATSERVER_METRICS_TOKEN": ("metrics_token", str),
    "CHATSERVER_MAX_FRAME_BYTES": ("max_frame_bytes", int),
    "CHATSERVER_HELLO_TIMEOUT_S": ("hello_timeout_s", float),
    "CHATSERVER_MAX_TEXT_CHARS": ("max_text_chars", int),
    "CHATSERVER_RATE_PER_S": ("rate_per_s", float),
    "CHATSERVER_RATE_BURST": ("rate_burst", int),
    "CHATSERVER_SEND_QUEUE_FRAMES": ("send_queue_frames", int),
    "CHATSERVER_TOKEN_TTL_S": ("token_ttl_s", float),
    "CHATSERVER_COOKIE_SECURE": ("cookie_secure", _bool),
    "CHATSERVER_DATABASE_URL": ("database_url", _database_url),
    "CHATSERVER_SQLITE_SYNCHRONOUS": ("sqlite_synchronous", _choice("NORMAL", "FULL")),
    "CHATSERVER_TICK_INTERVAL_S": ("tick_interval_s", float),
    "CHATSERVER_SHUTDOWN_GRACE_S": ("shutdown_grace_s", float),
    "CHATSERVER_DRAIN_S": ("drain_s", float),
    "CHATSERVER_SLA_WAIT_S": ("sla_wait_s", float),
    "CHATSERVER_ROLLUP_INTERVAL_S": ("rollup_interval_s", float),
    "CHATSERVER_WEBHOOK_POLL_S": ("webhook_poll_s", float),
    "CHATSERVER_WEBHOOK_TIMEOUT_S": ("webhook_timeout_s", float),
    "CHATSERVER_WEBHOOK_RETRY_BASE_S": ("webhook_retry_base_s", float),
    "CHATSERVER_WEBHOOK_RETRY_FOR_S": ("webhook_retry_for_s", float),
    "CHATSERVER_WEBHOOK_LOG_DAYS": ("webhook_log_days", int),
    "CHATSERVER_WEBHOOK_ALLOW_NETWORKS": ("webhook_allow_networks", _networks),
    "CHATSERVER_LOG_FORMAT": ("log_format", _choice("auto", "json", "text")),
    "CHATSERVER_LOG_LEVEL": ("log_level", str),
    "CHATSERVER_DEMO": ("demo", _bool),
    "CHATSERVER_API_KEY_RATE_PER_MINUTE": ("api_key_rate_per_minute", int),
    "CHATSERVER_IDENTITY": ("identity", _identity),
}


#: Variables whose value an error message must not repeat.
SECRET = frozenset({"CHATSERVER_DATABASE_URL", "CHATSERVER_METRICS_TOKEN", "CHATSERVER_IDENTITY"})


def from_environment(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment, then apply non-None `overrides` (the CLI flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for variable, (name, parse) in ENVIRONMENT.items():
        raw = env.get(variable)
        if raw is None or raw == "":
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            shown = "(not shown: it may hold a password)" if variable in SECRET else repr(raw)
            raise SettingsError(f"{variable}={shown}: {exc}") from None
    names = {f.name for f in fields(Settings)}
    for name, value in overrides.items():
        if name not in names:
            raise SettingsError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    checks = [
        (1 <= s.port <= 65535, "CHATSERVER_PORT: must be 1..65535"),
        (
            bool(s.redis_sentinels) == bool(s.redis_sentinel_master),
            "REDIS_SENTINELS and REDIS_SENTINEL_MASTER: set both (the sentinels, and the name "
            "they monitor the master by) or neither",
        ),
        (
            2 <= s.redis_max_connections <= 10_000,
            "CHATSERVER_REDIS_MAX_CONNECTIONS: must be 2..10000 (one is held by pub/sub)",
        ),
        (s.max_connections >= 0, "CHATSERVER_MAX_CONNECTIONS: must be >= 0 (0: automatic)"),
        (
            s.max_connections_per_address >= 0,
            "CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS: must be >= 0 (0: automatic)",
        ),
        (0 < s.header_timeout_s <= 300, "CHATSERVER_HEADER_TIMEOUT_S: must be 0..300 seconds"),
        (s.new_visitors_per_minute >= 1, "CHATSERVER_NEW_VISITORS_PER_MINUTE: must be >= 1"),
        (
            0 < s.redis_pool_timeout_s < float("inf"),
            "CHATSERVER_REDIS_POOL_TIMEOUT_S: must be > 0 (seconds)",
        ),
        (s.max_frame_bytes >= 1024, "CHATSERVER_MAX_FRAME_BYTES: must be at least 1024"),
        (s.hello_timeout_s > 0, "CHATSERVER_HELLO_TIMEOUT_S: must be > 0"),
        (s.max_text_chars >= 1, "CHATSERVER_MAX_TEXT_CHARS: must be >= 1"),
        (s.rate_per_s > 0 and s.rate_burst >= 1, "CHATSERVER_RATE_PER_S / _BURST: must be > 0"),
        (s.send_queue_frames >= 10, "CHATSERVER_SEND_QUEUE_FRAMES: must be >= 10"),
        (s.token_ttl_s > 0, "CHATSERVER_TOKEN_TTL_S: must be > 0"),
        (s.tick_interval_s > 0, "CHATSERVER_TICK_INTERVAL_S: must be > 0"),
        (0 <= s.drain_s <= 3600, "CHATSERVER_DRAIN_S: must be 0..3600 seconds (0: no drain)"),
        (0 < s.sla_wait_s < float("inf"), "CHATSERVER_SLA_WAIT_S: must be > 0 (seconds)"),
        (
            0 <= s.rollup_interval_s <= 86_400,
            "CHATSERVER_ROLLUP_INTERVAL_S: must be 0..86400 seconds (0: never)",
        ),
        (0 < s.webhook_poll_s <= 60, "CHATSERVER_WEBHOOK_POLL_S: must be 0..60 seconds"),
        (0 < s.webhook_timeout_s <= 60, "CHATSERVER_WEBHOOK_TIMEOUT_S: must be 0..60 seconds"),
        (
            0 < s.webhook_retry_base_s <= 3600,
            "CHATSERVER_WEBHOOK_RETRY_BASE_S: must be 0..3600 seconds",
        ),
        (
            0 < s.webhook_retry_for_s <= 7 * 86_400,
            "CHATSERVER_WEBHOOK_RETRY_FOR_S: must be 0..604800 seconds (a week)",
        ),
        (1 <= s.webhook_log_days <= 365, "CHATSERVER_WEBHOOK_LOG_DAYS: must be 1..365"),
        (s.default_site in s.sites, "CHATSERVER_SITES: must include the default site"),
        (
            1 <= s.api_key_rate_per_minute <= 1_000_000,
            "CHATSERVER_API_KEY_RATE_PER_MINUTE: must be 1..1000000",
        ),
        (
            set(s.identity) <= set(s.sites),
            "CHATSERVER_IDENTITY: names a site that CHATSERVER_SITES does not: "
            + ", ".join(sorted(set(s.identity) - set(s.sites))),
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise SettingsError(message)


__all__ = [
    "ENVIRONMENT",
    "Settings",
    "SettingsError",
    "SiteIdentity",
    "from_environment",
    "replace",
]
