"""Removing tags: the `tag` frame's `remove` list (an addition to protocol v1) through a real hub,
good and bad paths, and the remove (×) button on each tag chip in the console."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.console.conftest import Console, start_hub, visitor_starts
from tests.support.browser import Shots
from tests.support.peer import Peer


async def conversation_tags(hub: Hub, base: str, conv: str) -> list[str]:
    token = await hub.login("ann")
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{base}/api/v1/conversations/{conv}", headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200, r.text
    tags: list[str] = r.json()["conversation"]["tags"]
    return tags


async def tag(peer: Peer, conv: str, expect: str = "ack", **fields: Any) -> dict[str, Any]:
    return await peer.request({"type": "tag", "conversation_id": conv, **fields}, expect=expect)


async def test_remove_tags_through_the_hub_good_and_bad(hub: Hub) -> None:
    server = await start_hub(hub, agents=("ann", "bob"))
    ann, _ = await hub.agent("ann")
    visitor, conv = await visitor_starts(hub, "Lena Roth", "Wrong size")
    offer = await ann.expect("offer", timeout=10)
    await ann.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")

    added = await tag(ann, conv, tags=["Refund", "vip", "shipping"])
    assert added["tags"] == ["refund", "shipping", "vip"]
    await ann.expect("tagged", tags=["refund", "shipping", "vip"])

    # Bad input: a clear error, and the tags stay as they were.
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"tags": [], "remove": ["warranty"]}, "not_found", "no tag 'warranty' to remove"),
        ({"tags": [], "remove": ["refund", "nope"]}, "not_found", "no tag 'nope'"),
        ({"tags": ["new"], "remove": ["new"]}, "bad_frame", "in both 'tags' and 'remove'"),
        ({"tags": [], "remove": [f"t{i}" for i in range(21)]}, "bad_frame", "got 21 tags"),
        ({"tags": [], "remove": "refund"}, "bad_frame", "'remove' must be an array"),
        ({"tags": [], "remove": [3]}, "bad_frame", "'remove'[0] must be a string"),
        ({"tags": [], "remove": []}, "bad_frame", "'remove' must be an array of 1 to 20"),
        ({"tags": []}, "bad_frame", "only when 'remove' names tags to remove"),
    ]
    for fields, code, words in bad:
        err = await tag(ann, conv, expect="error", **fields)
        assert err["code"] == code and words in err["message"], (fields, err)
    assert await conversation_tags(hub, server.http, conv) == ["refund", "shipping", "vip"]
    assert ann.take("tagged") == []

    # Another agent cannot touch a chat it does not hold.
    bob, _ = await hub.agent("bob")
    err = await tag(bob, conv, expect="error", tags=[], remove=["vip"])
    assert err["code"] == "forbidden"

    # Remove one (case and spaces do not matter), add and remove at once, then remove the rest.
    ack = await tag(ann, conv, tags=[], remove=[" REFUND "])
    assert ack["tags"] == ["shipping", "vip"] and isinstance(ack["seq"], int)
    tagged = await ann.expect("tagged", seq=ack["seq"])
    assert tagged["tags"] == ["shipping", "vip"]
    ack = await tag(ann, conv, tags=["returns"], remove=["shipping"])
    assert ack["tags"] == ["returns", "vip"]
    ack = await tag(ann, conv, tags=[], remove=["vip", "returns"])
    assert ack["tags"] == []
    assert (await ann.expect("tagged", seq=ack["seq"]))["tags"] == []
    assert await conversation_tags(hub, server.http, conv) == []

    # The old form (no `remove`) still only adds; the visitor never sees tags.
    ack = await tag(ann, conv, tags=["vip"])
    assert ack["tags"] == ["vip"]
    assert not [f for f in visitor.inbox if f.get("type") == "tagged"]


@pytest.mark.browser
async def test_tag_chips_have_a_remove_button(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    visitor, conv = await visitor_starts(hub, "Noah Kim", "Charged twice")
    await ann.accept("Noah Kim")

    await page.get_by_role("button", name="Tags").click()
    dialog = page.get_by_role("dialog", name="Tags")
    await dialog.get_by_role("combobox", name="Tag").fill(
        "refund, VIP, a-really-long-tag-name-for-testing"
    )
    await dialog.get_by_role("button", name="Add tag").click()
    row = page.get_by_label("Conversation tags")
    for name in ("refund", "vip", "a-really-long-tag-name-for-testing"):
        await expect(row.get_by_role("button", name=f"Remove tag {name}")).to_be_visible()
    await shots.take(page, "tags")

    # × on the chip removes the tag; the transcript says who removed what.
    await row.get_by_role("button", name="Remove tag refund").click()
    await expect(row.get_by_role("button", name="Remove tag refund")).to_have_count(0)
    await expect(row).to_contain_text("vip")
    await expect(ann.log).to_contain_text("Ann Lee removed tag: refund")
    assert await conversation_tags(hub, server.http, conv) == [
        "a-really-long-tag-name-for-testing",
        "vip",
    ]

    # In the dialog too, which stays open and shows what is left.
    await page.get_by_role("button", name="Tags").click()
    await dialog.get_by_role("button", name="Remove tag a-really-long-tag-name-for-testing").click()
    await expect(
        dialog.get_by_role("button", name="Remove tag a-really-long-tag-name-for-testing")
    ).to_have_count(0)
    await dialog.get_by_role("button", name="Remove tag vip").click()
    await expect(dialog).to_contain_text("No tags yet.")
    # A removed tag is offered again as a suggestion.
    await expect(dialog.get_by_role("button", name="Add tag vip")).to_be_visible()
    await shots.take(page, "tags-dialog-empty")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(row).to_be_hidden()

    # A reload rebuilds the tags and the history of changes from the hub.
    await page.reload()
    await expect(page.get_by_role("tab", name="Noah Kim")).to_be_visible()
    await expect(ann.log).to_contain_text("Ann Lee removed tag: vip")
    await expect(row).to_be_hidden()
    assert await conversation_tags(hub, server.http, conv) == []
    assert not [f for f in visitor.inbox if f.get("type") == "tagged"]
    assert ann.errors == []
    await ann.close()
