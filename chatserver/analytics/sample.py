"""A deterministic generator of a realistic transcript store, for tests, benchmarks and demos.

``generate(path, conversations=N, seed=S)`` writes a SQLite store (the hub's own schema, all
migrations applied) holding agents, visitors and N conversations spread over ``days`` days:
topics and languages in realistic proportions, waits that grow with the load of the hour,
visitors who give up waiting, transfers, notes, tags, ratings with comments, and personal data
in the text (e-mail addresses, phone numbers, card numbers, IP addresses, names). Some issues
hurt (double charges, crashes, lock-outs) and are rated low; others go well.

It returns a `SampleData` describing, conversation by conversation, what it wrote (times in
integer milliseconds) so that a test can work out every figure on its own; ``keep=False``
keeps only the counts (for stores of hundreds of thousands of messages). What its people say
and in what proportions is in `sample_corpus`.

Rows are written with plain ``sqlite3`` ``executemany`` (a few seconds for 200,000
messages), obeying the store's invariants: seq from 1 without gaps, ``last_seq`` set, events
in time order, the conversation row as the hub leaves it.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from chatserver.store._migrate import load_migrations
from chatserver.store.base import iso_now

from .sample_corpus import (
    AGENT_LINES,
    AGENTS,
    CARDS,
    COMMENTS,
    ISSUES,
    LANGUAGES,
    NAMES,
    NOTES,
    PII_LINES,
    SCORES,
    SMALL_TALK,
    TOPICS,
)

__all__ = ["SampleConversation", "SampleData", "SampleEvent", "generate"]


@dataclass(slots=True)
class SampleEvent:
    kind: str
    ts_ms: int
    actor_role: str
    actor_id: str | None
    actor_name: str | None
    body: dict[str, Any]
    client_id: str | None = None


@dataclass(slots=True)
class SampleConversation:
    id: str
    visitor_id: str
    name: str
    email: str
    topic: str
    language: str
    issue: str
    created_ms: int
    status: str
    first_assigned_ms: int | None = None
    first_response_ms: int | None = None
    closed_ms: int | None = None
    closed_by: str | None = None
    agents: list[str] = field(default_factory=list)  # agent ids in assignment order
    transfers: int = 0
    rating: int | None = None
    comment: str | None = None
    tags: list[str] = field(default_factory=list)
    events: list[SampleEvent] = field(default_factory=list)
    pii: list[str] = field(default_factory=list)  # the personal data written into the text

    @property
    def abandoned(self) -> bool:
        return self.status == "closed" and self.first_assigned_ms is None

    @property
    def last_agent_id(self) -> str | None:
        return self.agents[-1] if self.agents else None


@dataclass(slots=True)
class SampleData:
    path: Path
    start_ms: int
    days: int
    agents: dict[str, tuple[str, str]]  # id -> (username, display name)
    conversations: list[SampleConversation]
    messages: int = 0
    events: int = 0
    conversation_count: int = 0


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _iso(ms: int) -> str:
    secs, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


def _schema(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    for migration in load_migrations():
        if migration.version <= current:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_version VALUES (?, ?, ?)",
            (migration.version, migration.name, iso_now()),
        )
    conn.execute("COMMIT")


def generate(
    path: str | Path,
    *,
    conversations: int = 400,
    days: int = 14,
    seed: int = 7,
    start: str = "2026-03-02",
    keep: bool = True,
) -> SampleData:
    """Write a store of ``conversations`` conversations at ``path`` (a new file)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the generator writes a new store")
    rng = random.Random(seed)
    start_ms = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp()) * 1000
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        _schema(conn)
        agents = _write_agents(conn, rng, start_ms)
        data = SampleData(path, start_ms, days, agents, [])
        ids = list(agents)
        arrivals = sorted(
            start_ms + int(rng.random() * days * 86_400_000) for _ in range(conversations)
        )
        last_ms = start_ms + days * 86_400_000
        batch: list[SampleConversation] = []
        for n, created in enumerate(arrivals):
            conv = _conversation(rng, n, created, ids, agents, last_ms)
            batch.append(conv)
            if len(batch) >= 1000:
                _write(conn, batch, data)
                if keep:
                    data.conversations.extend(batch)
                batch = []
        if batch:
            _write(conn, batch, data)
            if keep:
                data.conversations.extend(batch)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return data


def _write_agents(
    conn: sqlite3.Connection, rng: random.Random, start_ms: int
) -> dict[str, tuple[str, str]]:
    agents: dict[str, tuple[str, str]] = {}
    rows = []
    for username, display in AGENTS:
        agent_id = uuid.UUID(int=rng.getrandbits(128)).hex
        agents[agent_id] = (username, display)
        skills = {"general": 5, "billing": 4, "account": 4, "technical": 3, "en": 5, "es": 3}
        rows.append(
            (agent_id, username, username, display, "!", orjson.dumps(skills).decode(), 4,
             '["agent"]', 0, _iso(start_ms - 86_400_000))
        )  # fmt: skip
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    return agents


def _pii(rng: random.Random, name: str) -> dict[str, str]:
    first = name.split()[0].lower()
    user = "".join(c for c in first if c.isascii() and c.isalpha()) or "user"
    domain = rng.choice(("example.com", "mail.example.org", "corp.example.net"))
    return {
        "email": f"{user}.{rng.randint(10, 99)}@{domain}",
        "email2": f"{user}+new@{domain}",
        "email_odd": f"{user} (at) {domain.replace('.', ' (dot) ')}",
        "phone": rng.choice(
            (
                f"+1 (555) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                f"+44 20 {rng.randint(7000, 7999)} {rng.randint(1000, 9999)}",
                f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            )
        ),
        "card": rng.choice(CARDS),
        "ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    }


def _conversation(
    rng: random.Random,
    n: int,
    created: int,
    agent_ids: list[str],
    agents: dict[str, tuple[str, str]],
    last_ms: int,
) -> SampleConversation:
    topic = _pick(rng, TOPICS)
    language = _pick(rng, LANGUAGES)
    name = rng.choice(NAMES[language])
    issue = rng.choice([i for i in ISSUES if i[0] == topic])
    _, issue_name, mood, opening, follow_ups, issue_tags = issue
    pii = _pii(rng, name)
    cid = f"c{n:07d}-{rng.getrandbits(32):08x}"
    visitor_id = f"v{n:07d}-{rng.getrandbits(32):08x}"
    conv = SampleConversation(
        cid, visitor_id, name, pii["email"], topic, language, issue_name, created, "queued"
    )
    page = f"https://shop.example/help?topic={topic}"
    if rng.random() < 0.1:
        page += f"&email={pii['email']}"
    conv.events.append(
        SampleEvent(
            "start", created, "visitor", visitor_id, name,
            {"topic": topic, "language": language, "name": name, "email": pii["email"],
             "page_url": page},
        )
    )  # fmt: skip
    t = created
    conv.events.append(
        SampleEvent("message", t, "visitor", visitor_id, name, {"text": opening}, f"start-{cid}")
    )
    hour = (created // 3_600_000) % 24
    busy = 2.0 if 9 <= hour < 17 else 0.8
    wait = int(rng.expovariate(1 / (45_000 * busy + {"billing": 30_000}.get(topic, 0))))
    patience = int(rng.expovariate(1 / 400_000))
    if created > last_ms - 2 * 3_600_000 and rng.random() < 0.5:
        conv.status = "queued"  # still waiting at the end of the period
        return conv
    if patience < wait:  # the visitor gave up in the queue
        t = created + patience
        conv.closed_ms, conv.closed_by, conv.status = t, "visitor", "closed"
        conv.events.append(SampleEvent("closed", t, "visitor", visitor_id, None, {"by": "visitor"}))
        return conv
    agent = rng.choice(agent_ids)
    t = created + max(wait, 1)
    _assign(conv, t, agent, agents)
    first = name.split()[0]
    lines = list(follow_ups)
    rng.shuffle(lines)
    t += rng.randint(3_000, 40_000)
    _say(conv, t, "agent", agent, agents, AGENT_LINES[0].format(first=first))
    conv.first_response_ms = t
    for i, line in enumerate(lines[: rng.randint(1, len(lines))]):
        t += rng.randint(5_000, 90_000)
        text = line.format(**pii)
        if "{" in line:
            conv.pii.append(text)
        _say(conv, t, "visitor", visitor_id, agents, text, name=name)
        t += rng.randint(5_000, 60_000)
        _say(conv, t, "agent", agent, agents, AGENT_LINES[1 + i % 3])
    for _ in range(rng.randint(2, 6)):
        agent_line, visitor_line = rng.choice(SMALL_TALK)
        t += rng.randint(5_000, 60_000)
        _say(conv, t, "agent", agent, agents, agent_line)
        t += rng.randint(5_000, 90_000)
        _say(conv, t, "visitor", visitor_id, agents, visitor_line, name=name)
    if rng.random() < 0.35:
        t += rng.randint(2_000, 30_000)
        text = rng.choice(PII_LINES).format(**pii)
        conv.pii.append(text)
        _say(conv, t, "visitor", visitor_id, agents, text, name=name)
    if rng.random() < 0.2:
        t += 1_000
        note = rng.choice(NOTES).format(**pii)
        conv.events.append(SampleEvent("note", t, "agent", agent, agents[agent][1], {"text": note}))
    if rng.random() < 0.07:  # transferred to a colleague
        t += rng.randint(5_000, 30_000)
        other = rng.choice([a for a in agent_ids if a != agent])
        conv.transfers += 1
        conv.events.append(
            SampleEvent(
                "transfer", t, "agent", agent, agents[agent][1],
                {"text": "Transferring you to a colleague.", "from_agent": agent,
                 "to_agent": agents[other][0], "to_topic": None, "position": 1},
            )
        )  # fmt: skip
        agent = other
        t += rng.randint(10_000, 120_000)
        _assign(conv, t, agent, agents)
        t += rng.randint(3_000, 20_000)
        _say(conv, t, "agent", agent, agents, AGENT_LINES[2])
    if rng.random() < 0.6:
        t += 1_000
        tags = sorted(set(conv.tags) | set(issue_tags))
        conv.tags = tags
        conv.events.append(
            SampleEvent(
                "tag", t, "agent", agent, agents[agent][1], {"tags": list(issue_tags), "all": tags}
            )
        )
    if created > last_ms - 3_600_000 and rng.random() < 0.5:
        conv.status = "active"  # still going at the end of the period
        return conv
    t += rng.randint(5_000, 60_000)
    by = "agent" if rng.random() < 0.6 else "visitor"
    conv.closed_ms, conv.closed_by, conv.status = t, by, "closed"
    conv.events.append(
        SampleEvent(
            "closed", t, by, agent if by == "agent" else visitor_id,
            agents[agent][1] if by == "agent" else None, {"by": by},
        )
    )  # fmt: skip
    if rng.random() < 0.65:
        weights = list(SCORES[mood])
        score = rng.choices(range(1, 6), weights)[0]
        if wait > 180_000 and score > 1 and rng.random() < 0.5:
            score -= 1
        comment = None
        if rng.random() < 0.5:
            sentiment = "bad" if score <= 2 else "good" if score >= 4 else "mid"
            template = rng.choice(COMMENTS[sentiment])
            comment = template.format(**pii)
            if "{" in template:
                conv.pii.append(comment)
        conv.rating, conv.comment = score, comment
        t += rng.randint(1_000, 20_000)
        conv.events.append(
            SampleEvent(
                "rating", t, "visitor", visitor_id, None, {"score": score, "comment": comment},
                f"rating-{cid}",
            )
        )  # fmt: skip
    return conv


def _assign(
    conv: SampleConversation, t: int, agent: str, agents: dict[str, tuple[str, str]]
) -> None:
    if conv.first_assigned_ms is None:
        conv.first_assigned_ms = t
    conv.agents.append(agent)
    conv.status = "active"
    username, display = agents[agent]
    conv.events.append(
        SampleEvent(
            "assigned", t, "system", None, None,
            {"agent_id": agent, "username": username, "display_name": display,
             "offer_id": f"o-{conv.id}-{len(conv.agents)}"},
        )
    )  # fmt: skip


def _say(
    conv: SampleConversation,
    t: int,
    role: str,
    actor: str,
    agents: dict[str, tuple[str, str]],
    text: str,
    *,
    name: str | None = None,
) -> None:
    actor_name = name if role == "visitor" else agents[actor][1]
    client_id = f"m-{conv.id}-{len(conv.events)}"
    conv.events.append(
        SampleEvent("message", t, role, actor, actor_name, {"text": text}, client_id)
    )


_CONVERSATION_COLUMNS = (
    "id, visitor_id, site, topic, language, status, priority, agent_id, last_agent_id,"
    " created_at, assigned_at, first_response_at, closed_at, closed_by, page_url, last_seq,"
    " rating, rating_comment, tags, first_assigned_at, transfers"
)


def _write(conn: sqlite3.Connection, batch: list[SampleConversation], data: SampleData) -> None:
    visitors = []
    conversations = []
    events = []
    agents: list[tuple[str, str]] = []
    for c in batch:
        visitors.append(
            (c.visitor_id, f"hash-{c.visitor_id}", "default", c.name, c.email, _iso(c.created_ms),
             _iso(c.events[-1].ts_ms))
        )  # fmt: skip
        assigned_at = first_assigned = first_response = None
        transfers = 0
        for e in c.events:  # what the hub's append path keeps on the row (store/sqlite/_batch.py)
            if e.kind == "assigned":
                assigned_at = e.ts_ms  # the hub sets assigned_at at every accept
                first_assigned = _earliest(first_assigned, e.ts_ms)
                agents.append((c.id, e.body["agent_id"]))
            elif e.kind == "message" and e.actor_role == "agent":
                first_response = _earliest(first_response, e.ts_ms)
            elif e.kind == "transfer":
                transfers += 1
        conversations.append(
            (c.id, c.visitor_id, "default", c.topic, c.language, c.status, 0,
             c.last_agent_id if c.status == "active" else None, c.last_agent_id,
             _iso(c.created_ms), _iso(assigned_at) if assigned_at is not None else None,
             _iso(first_response) if first_response is not None else None,
             _iso(c.closed_ms) if c.closed_ms is not None else None, c.closed_by,
             c.events[0].body["page_url"], len(c.events), c.rating, c.comment,
             orjson.dumps(c.tags).decode(),
             _iso(first_assigned) if first_assigned is not None else None, transfers)
        )  # fmt: skip
        for seq, e in enumerate(c.events, start=1):
            events.append(
                (c.id, seq, _iso(e.ts_ms), e.kind, e.actor_role, e.actor_id, e.actor_name,
                 e.client_id, orjson.dumps(e.body).decode())
            )  # fmt: skip
            if e.kind == "message":
                data.messages += 1
        data.events += len(c.events)
        data.conversation_count += 1
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO visitors (id, token_hash, site, name, email, created_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        visitors,
    )
    conn.executemany(
        f"INSERT INTO conversations ({_CONVERSATION_COLUMNS})"
        f" VALUES ({', '.join('?' * len(conversations[0]))})",
        conversations,
    )
    conn.executemany(
        "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, actor_id, actor_name,"
        " client_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )
    conn.executemany(
        "INSERT INTO conversation_agents (conversation_id, agent_id, created_at,"
        " conversation_rowid) SELECT id, ?, created_at, rowid FROM conversations WHERE id = ?"
        " ON CONFLICT DO NOTHING",
        [(agent, cid) for cid, agent in agents],
    )
    conn.executemany(
        "INSERT INTO conversation_tags (conversation_id, tag, created_at, conversation_rowid)"
        " SELECT id, ?, created_at, rowid FROM conversations WHERE id = ?"
        " ON CONFLICT DO NOTHING",
        [(tag, c.id) for c in batch for tag in c.tags],
    )
    conn.execute("COMMIT")


def _earliest(known: int | None, ms: int) -> int:
    return ms if known is None or ms < known else known
