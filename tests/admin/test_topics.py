"""Admin › Topics: topics and languages edited at run time reach every hub process — the
widget's list, the protocol's checks and the router — and bad input gets parse_config's
message, next to its field, and changes nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.admin.conftest import ADMIN, AdminPage, api, start_hub, widget_config
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.browser import Shots
from tests.support.server import ServerProcess
from tests.widget.conftest import Widget, new_page

pytestmark = pytest.mark.browser


async def until_offered(server: ServerProcess, topic: str, timeout: float = 5.0) -> float:
    """Wait until a process's widget lists the topic; returns the seconds it took."""
    started = time.monotonic()
    while topic not in (await widget_config(server))["topics"]:
        assert time.monotonic() - started < timeout, f"{server.http} never offered {topic!r}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def fill_topic(
    admin: AdminPage,
    *,
    name: str | None = None,
    topic_level: str | None = None,
    language_level: str | None = None,
    priority: str | None = None,
    steps: list[tuple[str, str, str]] | None = None,
) -> None:
    """Fill the open topic dialog; steps are (after seconds, topic level, language level),
    levels by their option label ("keep", "0 — any", "1" …)."""
    d = admin.dialog
    if name is not None:
        await d.get_by_role("textbox", name="Name", exact=True).fill(name)
    if topic_level is not None:
        await d.get_by_role("combobox", name="Topic level", exact=True).select_option(topic_level)
    if language_level is not None:
        await d.get_by_role("combobox", name="Language level", exact=True).select_option(
            language_level
        )
    if priority is not None:
        await d.get_by_role("textbox", name="Priority", exact=True).fill(priority)
    if steps is not None:
        remove = d.get_by_role("button", name="Remove step 1", exact=True)
        while await remove.count():
            await remove.click()
        for n, (after, tl, ll) in enumerate(steps, start=1):
            await d.get_by_role("button", name="Add step").click()
            await d.get_by_role("textbox", name=f"Step {n} after seconds").fill(after)
            await d.get_by_role("combobox", name=f"Step {n} topic level").select_option(label=tl)
            await d.get_by_role("combobox", name=f"Step {n} language level").select_option(label=ll)


async def test_topic_created_in_the_ui_is_routed_on_both_processes(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(
        hub.data_dir, "rita", skills={"returns": 3, "en": 3}, capacity=3, display_name="Rita"
    )
    a, b = await start_hub(hub, servers=2)
    rita, _ = await hub.agent("rita", server=b)
    early, _ = await hub.visitor(server=b)
    refused = await early.request(
        {"type": "start", "topic": "returns", "language": "en"}, expect="error"
    )
    assert "returns" in refused["message"]

    admin = await AdminPage.open(browser, a.http)
    await admin.topics()
    await expect(admin.page.get_by_text("From the routing file")).to_be_visible()
    await shots.take(admin.page, "topics-from-file")
    await admin.button("New topic").click()
    await fill_topic(
        admin,
        name="returns",
        topic_level="2",
        language_level="1",
        priority="5",
        steps=[("90", "keep", "0 — any")],
    )
    await shots.take(admin.page, "new-topic-filled")
    await admin.button("Create topic").click()
    await expect(admin.dialog).to_be_hidden()
    row = admin.row("returns")
    await expect(row).to_contain_text("after 90 s: any language")
    await expect(admin.page.get_by_text("Edited here (version 1, last by root")).to_be_visible()
    await shots.take(admin.page, "topic-created")

    # The process the admin used switched at once; the other one within a tick or two.
    assert "returns" in (await widget_config(a))["topics"]
    took = await until_offered(b, "returns")
    print(f"second process offered the new topic after {took * 1000:.0f} ms")
    # A visitor on a page served by the second process sees it in the widget and picks it.
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{b.http}/demo")
    await widget.open()
    topics = widget.ui.get_by_role("combobox", name="Topic")
    await expect(topics.locator("option[value=returns]")).to_have_count(1)
    await widget.start(name="Wendy Visitor", email="wendy@example.com", topic="returns")
    offer = await rita.expect("offer", timeout=10)
    assert offer["conversation"]["topic"] == "returns"
    assert offer["conversation"]["visitor"]["name"] == "Wendy Visitor"
    await shots.take(page, "widget-started-new-topic")
    await context.close()
    # A visitor on the second process starts a chat with it; the agent there gets the offer.
    visitor_b, _ = await hub.visitor(server=b)
    queued = await visitor_b.request(
        {"type": "start", "topic": "returns", "language": "en"}, expect="queued"
    )
    offer = await rita.expect("offer", timeout=5)
    assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
    assert offer["conversation"]["topic"] == "returns"
    await rita.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    # And one on the first process reaches the agent held by the second.
    visitor_a, _ = await hub.visitor(server=a)
    queued = await visitor_a.request(
        {"type": "start", "topic": "returns", "language": "en"}, expect="queued"
    )
    offer = await rita.expect("offer", timeout=5)
    assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
    # The console (on either process) lists the topic too: the agents' page shows its skill.
    await admin.agents()
    await admin.button("New agent").click()
    await expect(admin.dialog.get_by_role("combobox", name="returns level")).to_be_visible()
    await admin.close()


@pytest.mark.clock_shifted
async def test_edited_relaxation_applies_to_a_conversation_already_waiting(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(hub.data_dir, "lee", skills={"billing": 3}, display_name="Lee")  # no language
    (server,) = await start_hub(hub)
    lee, _ = await hub.agent("lee")
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "billing", "language": "en"}, expect="queued"
    )
    # Waiting, not offered (an offer would be made while start is answered: position 0), and
    # nobody else is coming: lee needs English 2 for the first minute, any after 2 minutes.
    assert queued["position"] == 1
    assert not lee.take("offer")

    admin = await AdminPage.open(browser, server.http)
    await admin.topics()
    await expect(admin.row("billing")).to_contain_text("after 1 min: language 1")
    await expect(admin.row("billing")).to_contain_text("1 waiting")
    await admin.button("Edit topic billing").click()
    await expect(admin.dialog.get_by_role("heading", name="Edit topic billing")).to_be_visible()
    await expect(admin.dialog.get_by_role("textbox", name="Name")).not_to_be_editable()
    await fill_topic(admin, steps=[("2", "keep", "1"), ("4", "1", "0 — any")])
    await shots.take(admin.page, "edit-steps")
    edited_at = time.monotonic()
    await admin.button("Save changes").click()
    await expect(admin.dialog).to_be_hidden()
    await expect(admin.row("billing")).to_contain_text(
        "after 2 s: language 1 · after 4 s: topic 1, any language"
    )
    await shots.take(admin.page, "steps-edited")

    offer = await lee.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
    print(f"offered {time.monotonic() - edited_at:.1f} s after the edit")
    listing = (
        await api(server, "GET", "/api/v1/admin/topics", token=await hub.login(ADMIN))
    ).json()
    billing = next(t for t in listing["topics"] if t["name"] == "billing")
    assert billing["relax"] == [
        {"after_s": 2, "language_level": 1},
        {"after_s": 4, "topic_level": 1, "language_level": 0},
    ]
    assert listing["version"] == 1 and listing["source"] == "admin"
    await admin.close()


async def test_bad_input_gets_parse_configs_message_by_its_field_and_changes_nothing(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    (server,) = await start_hub(hub)
    token = await hub.login(ADMIN)
    before = (await api(server, "GET", "/api/v1/admin/topics", token=token)).json()
    widget_before = await widget_config(server)

    admin = await AdminPage.open(browser, server.http)
    await admin.topics()
    await admin.button("New topic").click()
    d = admin.dialog
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        # (form input, accessible name of the field marked, its error slot, the message)
        (
            {"name": "returns", "steps": [("60", "keep", "1"), ("30", "keep", "0 — any")]},
            "Step 2 after seconds",
            "#e-relax\\.1",
            "topics.returns.relax[1].after_s: must be a number > previous step's after_s",
        ),
        (
            {"name": "returns", "topic_level": "1", "steps": [("30", "3", "keep")]},
            "Step 1 topic level",
            "#e-relax\\.0",
            "topics.returns.relax[0].topic_level: a relaxation step cannot raise the level"
            " (3 > 1 in force before it)",
        ),
        (
            {"name": "returns", "steps": [("soon", "keep", "0 — any")]},
            "Step 1 after seconds",
            "#e-relax\\.0",
            "topics.returns.relax[0].after_s: must be a number > 0",
        ),
        (
            {"name": "returns", "steps": [("30", "keep", "keep")]},
            "Step 1 after seconds",
            "#e-relax\\.0",
            "topics.returns.relax[0]: a step must set topic_level and/or language_level",
        ),
        (
            {"name": "returns", "priority": "high", "steps": []},
            "Priority",
            "#e-priority",
            "topics.returns.priority: must be an integer from -1000 to 1000, got 'high'",
        ),
        (
            {"name": "billing"},
            "Name",
            "#e-name",
            "topics.billing: a topic of that name exists already",
        ),
        (
            {"name": "en", "priority": "0"},
            "Name",
            "#e-name",
            "topics.en: a topic cannot share its name with a language",
        ),
        (
            {"name": "big sale!"},
            "Name",
            "#e-name",
            "topics.big sale!: must be a name of letters, digits, '_', '.' or '-', got 'big sale!'",
        ),
    ]
    for n, (form, field, slot, message) in enumerate(cases):
        await fill_topic(admin, **form)
        await admin.button("Create topic").click()
        await expect(d.locator(slot)).to_have_text(message)
        await expect(
            d.get_by_role("textbox", name=field, exact=True).or_(
                d.get_by_role("combobox", name=field, exact=True)
            )
        ).to_have_attribute("aria-invalid", "true")
        await shots.take(admin.page, f"refused-{n}")
    await d.get_by_role("button", name="Cancel").first.click()

    # What the form cannot send (a level outside its list), the API refuses the same way.
    api_cases: list[tuple[str, str, Any, str, str]] = [
        (
            "POST",
            "/api/v1/admin/topics",
            {"name": "returns", "topic_level": 9},
            "topic_level",
            "topics.returns.topic_level: must be an integer from 0 (not required) to 5, got 9",
        ),
        (
            "PUT",
            "/api/v1/admin/topics/billing",
            {"language_level": -1},
            "language_level",
            "topics.billing.language_level: must be an integer from 0 (not required) to 5, got -1",
        ),
        (
            "PUT",
            "/api/v1/admin/topics/billing",
            {"colour": "red"},
            "colour",
            "topics.billing.colour: unknown key (known: language_level, priority, relax,"
            " topic_level)",
        ),
        (
            "PUT",
            "/api/v1/admin/languages",
            {"languages": ["en", "billing"]},
            "name",
            "topics.billing: a topic cannot share its name with a language",
        ),
        (
            "PUT",
            "/api/v1/admin/languages",
            {"languages": ["en", "en"]},
            "languages",
            "languages: each language must appear once",
        ),
        (
            "PUT",
            "/api/v1/admin/languages",
            {"languages": []},
            "languages",
            "languages: must be a non-empty list of language names",
        ),
    ]
    for method, path, body, field, message in api_cases:
        r = await api(server, method, path, token=token, json=body)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["message"] == message
        if path.endswith("languages") and field == "name":
            field = "form"  # no topic form on the languages panel
        assert r.json()["field"] == field, r.json()
    assert (
        await api(server, "PUT", "/api/v1/admin/topics/nope", token=token, json={})
    ).status_code == 404
    rename = await api(
        server, "PUT", "/api/v1/admin/topics/billing", token=token, json={"name": "payments"}
    )
    assert rename.status_code == 400 and "cannot be renamed" in rename.json()["message"]

    assert (await api(server, "GET", "/api/v1/admin/topics", token=token)).json() == before
    assert await widget_config(server) == widget_before
    assert before["source"] == "file" and before["version"] == 0
    await admin.close()


async def test_topics_and_languages_in_use_are_kept(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    (server,) = await start_hub(hub)
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "billing", "language": "es"}, expect="queued"
    )

    admin = await AdminPage.open(browser, server.http)
    await admin.topics()
    await admin.button("Delete topic billing").click()
    alert = admin.page.get_by_role("alert")
    await expect(alert).to_have_text(
        "topic 'billing' has 1 waiting and 0 active conversations; delete it once they are closed"
    )
    await expect(admin.row("billing")).to_be_visible()
    await admin.button("Remove language es").click()
    languages = admin.page.get_by_role("region", name="Languages")
    await expect(languages).to_contain_text(
        "language 'es' has 1 open conversation; remove it once they are closed"
    )
    await expect(languages.get_by_role("listitem")).to_have_count(4)
    await shots.take(admin.page, "in-use-refused")
    assert "billing" in (await widget_config(server))["topics"]

    await languages.get_by_role("textbox", name="New language").fill("FR")
    await languages.get_by_role("button", name="Add language").click()
    await expect(languages.get_by_role("listitem").filter(has_text="fr")).to_be_visible()
    assert (await widget_config(server))["languages"] == ["en", "es", "ar", "zh", "fr"]
    await languages.get_by_role("textbox", name="New language").fill("general")
    await languages.get_by_role("button", name="Add language").click()
    await expect(languages).to_contain_text(
        "topics.general: a topic cannot share its name with a language"
    )

    await visitor.request({"type": "close", "conversation_id": queued["conversation_id"]})
    await admin.button("Delete topic billing").click()
    await expect(admin.row("billing")).to_have_count(0)
    await admin.button("Remove language es").click()
    await expect(languages.get_by_role("listitem")).to_have_count(4)
    await shots.take(admin.page, "deleted")
    config = await widget_config(server)
    assert config["topics"] == ["general", "account", "technical"]
    assert config["languages"] == ["en", "ar", "zh", "fr"]
    long_name = "returns-and-exchanges-for-orders-placed-before-the-spring-sale-26"[:64]
    created = await api(
        server,
        "POST",
        "/api/v1/admin/topics",
        token=await hub.login(ADMIN),
        json={
            "name": long_name,
            "priority": -1000,
            "relax": [
                {"after_s": 30, "language_level": 1},
                {"after_s": 90, "language_level": 0},
                {"after_s": 600, "topic_level": 0},
            ],
        },
    )
    assert created.status_code == 200, created.text
    await admin.page.reload()
    await expect(admin.row(long_name)).to_contain_text("after 10 min: any topic level")
    overflow = await admin.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the topics table is wider than the page"
    await shots.take(admin.page, "long-topic")
    # The protocol follows too: a new visitor can no longer ask for billing.
    late, _ = await hub.visitor()
    error = await late.request(
        {"type": "start", "topic": "billing", "language": "en"}, expect="error"
    )
    assert "billing" in error["message"]
    await admin.close()


async def test_edited_topics_win_over_the_routing_file_after_a_restart(
    hub: Hub, browser: Browser, tmp_path: Path
) -> None:
    toml = tmp_path / "routing.toml"
    toml.write_text(
        'languages = ["en", "de"]\n\n[topics.general]\ntopic_level = 1\nlanguage_level = 1\n',
        encoding="utf-8",
    )
    env = {"CHATSERVER_ROUTING_CONFIG": str(toml)}
    (server,) = await start_hub(hub, CHATSERVER_ROUTING_CONFIG=str(toml))
    assert await widget_config(server) == {
        "site": "default",
        "topics": ["general"],
        "languages": ["en", "de"],
    }
    token = await hub.login(ADMIN)
    r = await api(
        server, "POST", "/api/v1/admin/topics", token=token, json={"name": "Returns", "relax": []}
    )
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["topics"]] == ["general", "returns"]

    server.stop()
    again = ServerProcess(hub.data_dir, hub.redis.url, env={**hub.env, **env}, node_id="n9")
    again.start()
    hub.servers.append(again)
    assert (await widget_config(again))["topics"] == ["general", "returns"]
    admin = await AdminPage.open(browser, again.http)
    await admin.topics()
    await expect(admin.page.get_by_text("Edited here (version 1, last by root")).to_be_visible()
    await expect(admin.row("returns")).to_be_visible()
    await admin.close()
