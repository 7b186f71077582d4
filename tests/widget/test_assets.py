"""What the hub serves for the widget: budgets, headers, and what the source never does."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from chatserver.web.assets import WIDGET_DIR
from chatserver.web.widget import frame_ancestors, frame_policy
from tests.chatserver.integration.conftest import Hub
from tests.support.server import ServerProcess
from tests.widget.conftest import ARTIFACTS, new_page, start_hub

LOADER_BUDGET = 5 * 1024
WIDGET_BUDGET = 30 * 1024
JS_FILES = sorted(p.relative_to(WIDGET_DIR).as_posix() for p in (WIDGET_DIR / "app").glob("*.js"))


@pytest.fixture
async def served(hub: Hub) -> AsyncIterator[tuple[ServerProcess, httpx.AsyncClient]]:
    server = await start_hub(hub, agents=())
    async with httpx.AsyncClient(base_url=server.http) as http:
        yield server, http


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


async def test_size_budgets(served: tuple[ServerProcess, httpx.AsyncClient]) -> None:
    """Gzipped bytes a visitor downloads: the loader on every page view; the frame, its
    modules, its style sheet and one locale table when the chat is used."""
    _, http = served
    sizes: dict[str, int] = {}
    for path in [
        "/widget.js",
        "/widget/frame?site=demo",
        *(f"/widget/{name}" for name in JS_FILES),
        "/widget/app/widget.css",
    ]:
        r = await http.get(path)
        assert r.status_code == 200, path
        sizes[path] = gz(r.content)
    locales = {}
    for code in ("en", "es", "ar", "zh"):
        r = await http.get(f"/widget/locales/{code}.json")
        assert r.status_code == 200
        locales[code] = gz(r.content)
    total = sum(sizes.values()) + max(locales.values())
    report = "\n".join(
        [f"{size:6d}  {path}" for path, size in sizes.items()]
        + [f"{size:6d}  /widget/locales/{code}.json" for code, size in locales.items()]
        + [f"{total:6d}  total: loader + frame + JS + CSS + the largest locale table"]
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sizes.txt").write_text(report + "\n")
    print(report)
    assert sizes["/widget.js"] <= LOADER_BUDGET, report
    assert total <= WIDGET_BUDGET, report


async def test_routes_and_headers(served: tuple[ServerProcess, httpx.AsyncClient]) -> None:
    _, http = served
    r = await http.get("/widget.js")
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-content-type-options"] == "nosniff"
    for name in JS_FILES:
        assert (
            (await http.get(f"/widget/{name}"))
            .headers["content-type"]
            .startswith("text/javascript")
        ), name
    assert (await http.get("/widget/app/widget.css")).headers["content-type"].startswith("text/css")

    frame = await http.get("/widget/frame", params={"site": "demo"})
    assert frame.headers["content-type"].startswith("text/html")
    csp = frame.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert '<script type="module" src="app/main.js">' in frame.text
    missing = await http.get("/widget/frame", params={"site": "nope"})
    assert missing.status_code == 404
    assert "frame-ancestors 'none'" in missing.headers["content-security-policy"]

    config = await http.get("/widget/config", params={"site": "demo"})
    assert config.json() == {
        "site": "demo",
        "topics": ["general", "billing", "account", "technical"],
        "languages": ["en", "es", "ar", "zh"],
    }
    assert (await http.get("/widget/config")).json()["site"] == "default"
    assert (await http.get("/widget/config", params={"site": "nope"})).status_code == 404

    demo = await http.get("/demo")
    assert demo.status_code == 200
    assert '<script src="/widget.js" data-site="demo" async></script>' in demo.text
    assert "Add to cart" in demo.text  # a product page, not a blank one


def test_frame_ancestors() -> None:
    assert frame_ancestors(("self",)) == "'self'"
    assert frame_ancestors(("https://shop.example", "self", "https://*.example.org:8443/")) == (
        "https://shop.example 'self' https://*.example.org:8443"
    )
    # Anything that is not an origin never reaches the header.
    assert frame_ancestors(("https://a.example; script-src *", "javascript:", "*")) == "'none'"
    assert frame_ancestors(()) == "'none'"
    assert "frame-ancestors 'none'" in frame_policy(())


def source() -> list[tuple[Path, str]]:
    files = [WIDGET_DIR / "loader.js", *sorted((WIDGET_DIR / "app").glob("*.js"))]
    return [(p, p.read_text()) for p in files]


def test_the_source_never_parses_html_or_broadcasts() -> None:
    for path, text in source():
        code = re.sub(r"//.*|/\*.*?\*/", "", text, flags=re.S)
        for banned in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            'setAttribute("on',
        ):
            assert banned not in code, f"{path.name} uses {banned}"
        # postMessage always names its target origin.
        for call in re.findall(r"postMessage\(([^;]*)\)", code):
            assert "'*'" not in call and '"*"' not in call, f"{path.name}: postMessage(…, '*')"
        # Messages are accepted only from the expected origin and window.
        if 'addEventListener("message"' in code:
            assert "e.origin !==" in code and "e.source !==" in code, path.name


@pytest.mark.browser
async def test_transcript_and_backoff(hub: Hub, browser: Browser) -> None:
    """The pure modules, run in Chromium: the transcript (dedupe by seq and client_id, order,
    gaps) and the reconnect backoff."""
    server = await start_hub(hub, agents=())
    context, page = await new_page(browser)
    await page.goto(f"{server.http}/widget/frame?site=demo")
    result = await page.evaluate(
        """async () => {
        const { Transcript } = await import('/widget/app/transcript.js');
        const t = new Transcript();
        const msg = (seq, role, text, client_id = null) =>
            ({type: 'message', seq, client_id, from: {role, name: role === 'agent' ? 'Ann' : null}, text, ts: 'T' + seq});
        const out = {};
        t.addStored({type: 'assigned', seq: 2, agent: {display_name: 'Ann'}, ts: 'T2'});
        out.gapAfterInvisibleStart = t.hasGap();
        t.caughtUp(2);
        t.addPending('c1', 'first');
        t.addPending('c2', 'second');
        t.addStored(msg(3, 'agent', 'hello'));
        out.echoFirst = !!t.addStored(msg(4, 'visitor', 'first', 'c1'));   // echo before ack
        out.ackAfterEcho = t.ack('c1', 4, 'T4');                          // nothing new
        out.ackFirst = !!t.ack('c2', 6, 'T6');                            // ack before echo
        out.gapBeforeSix = t.hasGap() && t.lastSeq === 4;
        out.echoAfterAck = t.addStored(msg(6, 'visitor', 'second', 'c2'));
        out.dupSeq = t.addStored(msg(3, 'agent', 'hello'));
        t.addStored(msg(5, 'agent', 'filled by resume'));
        out.noGap = !t.hasGap() && t.lastSeq === 6;
        t.addPending('c3', 'third');
        t.agentRead(4);
        out.order = t.ordered().map((i) => [i.seq, i.text || i.event, i.state]);
        out.pending = t.pending().map((i) => i.clientId);
        out.unread = t.unreadAfter(3);
        return out;
    }"""
    )
    assert result == {
        "gapAfterInvisibleStart": True,
        "echoFirst": True,
        "ackAfterEcho": None,
        "ackFirst": True,
        "gapBeforeSix": True,
        "echoAfterAck": None,
        "dupSeq": None,
        "noGap": True,
        "order": [
            [2, "assigned", None],
            [3, "hello", None],
            [4, "first", "read"],
            [5, "filled by resume", None],
            [6, "second", "sent"],
            [None, "third", "sending"],
        ],
        "pending": ["c3"],
        "unread": 1,
    }
    # Reconnect delays: exponential from 0.5 s, capped at 15 s, jittered within the upper half.
    delays = await page.evaluate(
        """async () => {
        const { backoff } = await import('/widget/app/connection.js');
        return [0, 1, 2, 5, 6, 20].map((n) => [backoff(n, () => 0), backoff(n, () => 1)]);
    }"""
    )
    assert delays == [
        [250, 500],
        [500, 1000],
        [1000, 2000],
        [7500, 15000],
        [7500, 15000],
        [7500, 15000],
    ]
    # After 1012 (a hub restarting closes all its sockets at once) the first delay is drawn
    # from the whole restart window — 0-2 s for a visitor, 0-1 s for an agent — so the clients
    # reach the other processes spread out; a failure after that backs off as usual.
    spread = await page.evaluate(
        """async () => {
        const { Connection, restartDelay } = await import('/widget/app/connection.js');
        const { AGENT_TIMING } = await import('/console/static/console/socket.js');
        const out = {visitor: [restartDelay(() => 0), restartDelay(() => 0.5), restartDelay(() => 1)],
                     agent: [restartDelay(() => 1, AGENT_TIMING)]};
        const delays = [];
        const realTimeout = window.setTimeout;
        window.setTimeout = (fn, ms) => { delays.push(ms); return 0; };
        const conn = new Connection({url: 'ws://127.0.0.1:9/none', onOpen() {}, onFrame() {},
                                     onState() {}, onRefused() {}});
        conn.wanted = true;
        const randoms = [0.1, 0.9, 0.9];
        const realRandom = Math.random;
        Math.random = () => randoms.shift();
        conn.closed(1012);   // first reconnect after a restart: 0.1 of the window
        conn.closed(1006);   // that one failed: the usual backoff, attempt 1 (0.5-1 s)
        conn.attempt = 0;
        conn.closed(1006);   // a plain drop: the usual backoff, attempt 0 (0.25-0.5 s)
        Math.random = realRandom;
        window.setTimeout = realTimeout;
        out.connection = delays;
        return out;
    }"""
    )
    assert spread == {"visitor": [0, 1000, 2000], "agent": [1000], "connection": [200, 950, 475]}
    await context.close()
