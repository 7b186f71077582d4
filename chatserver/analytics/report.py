"""`chatserver report --html FILE`: one self-contained page of the figures, charts included.

The page needs nothing but itself: the styles, the data and Chart.js (the file vendored at
``chatserver/web/assets/static/vendor/chart.umd.js``, which the dashboard serves too) are inlined, so it
can be mailed around and opened offline. It is rendered from the very `figures.summary` dict
the HTTP API returns. Without the vendored file (an install without the front end) the page
still renders, tables and figures without the charts.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["CHART_JS", "render_html", "render_text"]

# The dashboard's copy, read as a file (analytics imports nothing of the web layer).
CHART_JS = (
    Path(__file__).resolve().parents[1] / "web" / "assets" / "static" / "vendor" / "chart.umd.js"
)

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("chatserver.analytics", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@lru_cache(maxsize=1)
def _chart_js() -> str:
    try:
        return CHART_JS.read_text(encoding="utf-8")
    except OSError:
        return ""


def dur(seconds: float | None) -> str:
    """42 s, 3m 05s, 1h 02m."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _breakdown(rows: list[dict[str, Any]], label: str) -> Markup:
    head = (
        f"<tr><th>{Markup.escape(label)}</th><th>Conversations</th><th>Abandoned</th>"
        "<th>Wait p50</th><th>Wait p90</th><th>First response p50</th><th>Handle p50</th>"
        "<th>Transferred</th><th>CSAT</th><th>Rated</th><th>Bot-resolved</th>"
        "<th>Handed over</th></tr>"
    )
    body = []
    for r in rows:
        name = r.get("display_name") or r["key"]
        body.append(
            Markup(
                "<tr><td>{}</td><td>{:,}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:,}</td><td>{:,}</td></tr>"
            ).format(
                name,
                r["conversations"],
                pct(r["abandonment_rate"]),
                dur(r["wait_s"]["p50"]),
                dur(r["wait_s"]["p90"]),
                dur(r["first_response_s"]["p50"]),
                dur(r["handle_s"]["p50"]),
                pct(r["transfers"]["rate"]),
                num(r["csat"]["average"]),
                r["csat"]["rated"],
                r["bots"]["resolved"],
                r["bots"]["handed_over"],
            )
        )
    if not body:
        return Markup('<div class="empty">No conversations.</div>')
    return Markup("<table><thead>{}</thead><tbody>{}</tbody></table>").format(
        Markup(head), Markup("").join(body)
    )


def _period_label(summary: dict[str, Any]) -> str:
    period = summary["period"]
    start = period.get("since") or period.get("first_conversation_at")
    end = period.get("until") or period.get("last_conversation_at")
    if not start and not end:
        return "No conversations"
    return f"{(start or '…')[:10]} – {(end or '…')[:10]}"


def render_html(summary: dict[str, Any]) -> str:
    """The report page for a `figures.summary` result."""
    filters = summary.get("filters", {})
    chips = [f"{k}: {v}" for k, v in filters.items() if v not in (None, [], "")]
    terms = summary.get("pain_terms", {}).get("terms", [])
    data_json = json.dumps(summary, ensure_ascii=False).replace("<", "\\u003c")
    return _env.get_template("report.html.j2").render(
        period_label=_period_label(summary),
        generated=summary["generated_at"][:16].replace("T", " ") + " UTC",
        chips=chips or ["all conversations"],
        totals=summary["totals"],
        by_topic=summary["by_topic"],
        by_agent=summary["by_agent"],
        terms=terms,
        max_z=max((t["z"] for t in terms), default=1.0) or 1.0,
        snapshot=summary.get("snapshot", ""),
        data_json=data_json,
        chart_js=_chart_js(),
        dur=dur,
        pct=pct,
        num=num,
        breakdown=_breakdown,
    )


def render_text(summary: dict[str, Any]) -> str:
    """The headline figures as plain text (``chatserver report`` without ``--html``)."""
    t = summary["totals"]
    lines = [
        f"Support figures · {_period_label(summary)}",
        "",
        f"  conversations      {t['conversations']:>8,}   served {t['served']:,} · closed {t['closed']:,}",
        f"  wait               p50 {dur(t['wait_s']['p50']):>8}   p90 {dur(t['wait_s']['p90']):>8}   p99 {dur(t['wait_s']['p99']):>8}",
        f"  first response     p50 {dur(t['first_response_s']['p50']):>8}   p90 {dur(t['first_response_s']['p90']):>8}   p99 {dur(t['first_response_s']['p99']):>8}",
        f"  handle time        p50 {dur(t['handle_s']['p50']):>8}   p90 {dur(t['handle_s']['p90']):>8}   p99 {dur(t['handle_s']['p99']):>8}",
        f"  abandoned          {pct(t['abandonment_rate']):>8}   ({t['abandoned']:,})",
        f"  transferred        {pct(t['transfers']['rate']):>8}   ({t['transfers']['total']:,} transfers)",
        f"  bots               {t['bots']['conversations']:>8,}   resolved {t['bots']['resolved']:,}"
        f" · handed over {t['bots']['handed_over']:,}",
        f"  CSAT               {num(t['csat']['average']):>8}   rated {t['csat']['rated']:,}"
        f" ({pct(t['csat']['response_rate'])}) · "
        + " ".join(f"{k}★ {v}" for k, v in t["csat"]["distribution"].items()),
        "",
        "  by topic: "
        + ", ".join(
            f"{r['key']} {r['conversations']} (CSAT {num(r['csat']['average'])})"
            for r in summary["by_topic"]
        ),
        "  top tags: " + ", ".join(f"{r['tag']} {r['count']}" for r in summary["tags"]),
    ]
    terms = summary.get("pain_terms", {}).get("terms", [])
    if terms:
        lines.append("  what hurts: " + ", ".join(f"{x['term']} (z {x['z']:.1f})" for x in terms))
    return "\n".join(lines) + "\n"
