"""The commands as an operator runs them: export (with a cursor file), verify, report --html
(self-contained, looked at in Chromium), and what they print."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from chatserver.analytics.sample import SampleData
from tests.support.browser import ARTIFACTS as ARTIFACTS_ROOT
from tests.support.browser import chromium
from tests.support.server import run_cli

from .conftest import Operator

ARTIFACTS = ARTIFACTS_ROOT / "analytics"


def test_export_to_a_file_with_a_cursor_file(operator: Operator, tmp_path: Path) -> None:
    out, state = tmp_path / "m.csv", tmp_path / "cursor.txt"
    r = operator.run("export", "--format", "csv", "--shape", "messages", "--out", str(out),
                "--cursor-file", str(state))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "exported 600 conversations" in r.stderr
    cursor = state.read_text().strip()
    assert re.fullmatch(r"(v1|pg1)\.\d+\.0", cursor) and f"cursor: {cursor}" in r.stderr
    assert r.stdout == "" and not (tmp_path / "m.csv.partial").exists()
    with out.open(newline="") as f:
        assert len(list(csv.DictReader(f))) > 6000
    # Nothing new since: the next nightly run exports nothing and keeps the cursor.
    again = operator.run("export", "--format", "jsonl", "--cursor-file", str(state))
    assert again.returncode == 0 and again.stdout == ""
    assert "exported 0 conversations" in again.stderr
    assert state.read_text().strip() == cursor


def test_export_to_stdout_and_verify(operator: Operator, tmp_path: Path) -> None:
    r = operator.run("export", "--topic", "billing", "--rating", "1-2")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines and all(d["conversation"]["topic"] == "billing" for d in lines)
    assert all(d["conversation"]["rating"] in (1, 2) for d in lines)
    path = tmp_path / "t.jsonl"
    path.write_text(r.stdout)
    ok = operator.run("verify", str(path))
    assert ok.returncode == 0 and "OK" in ok.stdout and "seals checked" in ok.stdout
    path.write_text(r.stdout.replace("twice", "thrice", 1))
    bad = operator.run("verify", str(path))
    assert bad.returncode == 1 and "ALTERED" in bad.stdout
    other = run_cli(tmp_path / "elsewhere", "verify", str(path))
    assert other.returncode == 1 and "seals not checked" in other.stdout


def test_no_redact_is_recorded_as_the_cli(operator: Operator) -> None:
    r = operator.run("export", "--no-redact", "--topic", "account")
    assert r.returncode == 0 and "NOT redacted" in r.stderr
    audit = json.loads(operator.run("audit", "--json").stdout)
    assert audit[0]["action"] == "export_unredacted" and audit[0]["actor"] == "cli"
    assert audit[0]["details"]["filters"]["topic"] == "account"


def test_errors_are_one_line_and_status_2(operator: Operator, tmp_path: Path) -> None:
    other_kind = "pg1.5.0" if "CHATSERVER_DATABASE_URL" not in operator.env else "v1.5.0"
    for args in (["export", "--since", "someday"], ["export", "--after", "x"],
                 ["export", "--agent", "nobody"], ["report", "--rating", "0"],
                 ["export", "--after", other_kind]):  # fmt: skip
        r = operator.run(*args)
        assert r.returncode == 2 and r.stderr.startswith("chatserver: "), (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert run_cli(tmp_path / "nothing", "export").returncode == 2


def test_report_text_and_json(operator: Operator) -> None:
    text = operator.run("report", "--topic", "billing")
    assert text.returncode == 0 and "wait" in text.stdout and "CSAT" in text.stdout
    figures = json.loads(operator.run("report", "--json", "--no-terms").stdout)
    assert figures["totals"]["conversations"] == 600 and "pain_terms" not in figures


@pytest.mark.browser
async def test_the_html_report_is_self_contained_and_reads_well(
    sample: SampleData, fresh_store: Path, tmp_path: Path
) -> None:

    page_path = tmp_path / "report.html"
    r = run_cli(fresh_store.parent, "report", "--html", str(page_path))
    assert r.returncode == 0, r.stderr
    html = page_path.read_text()
    assert "Chart.js v4" in html  # inlined, not linked
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    emails = {c.email for c in sample.conversations}
    assert not any(e in html for e in emails)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1300, "height": 900})
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(page_path.as_uri())
        await page.wait_for_function("document.querySelectorAll('canvas').length === 5")
        drawn = await page.evaluate(
            "Array.from(document.querySelectorAll('canvas')).map(c => !!Chart.getChart(c))"
        )
        await page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert drawn == [True] * 5
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []  # works offline
