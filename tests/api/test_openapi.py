"""The OpenAPI 3.1 document describes the API as it runs: schemathesis fuzzes every operation
of /api/v1/openapi.json against a real hub with real keys (no 500s, every status code
documented, every answer matching its schema, no answer without a key but 401), and a read key
never writes. The reference page renders every operation from the same document."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chatserver.web.api import OPERATIONS
from tests.api.conftest import ADMIN, call, make_key, start_chat, start_hub
from tests.chatserver.integration.conftest import Hub

#: Examples per operation and key: bounded so the whole fuzzing stays well under a minute.
MAX_EXAMPLES = 25

# Left out: schemathesis' "positive data acceptance" (a schema-valid request must not get 422).
# Some inputs are valid by their schema and still refused with a 422 naming the field — an
# agent filter naming no agent, a cursor no page handed out, an impossible date such as
# 0000-00-00, `until` before `since` — which no JSON Schema can express. Every other check
# runs: no 5xx, documented status codes and content types, answers matching their schemas,
# and without the key (ignored auth) a 401.


def fuzz(base: str, key: str, conversations: list[str], *, writes: bool) -> list[str]:
    """Run schemathesis over every operation with ``key``; returns what it saw per operation.
    Half the cases name a real conversation (the others a random id: 404)."""
    document = httpx.get(f"{base}/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    seen: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), real=st.sampled_from([None, *conversations]))
        def run(case: Any, real: str | None) -> None:
            if real is not None and "conversation_id" in (case.path_parameters or {}):
                case.path_parameters["conversation_id"] = real
            response = case.call(base_url=base, headers={"Authorization": f"Bearer {key}"})
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            case.validate_response(
                response,
                headers={"Authorization": f"Bearer {key}"},
                excluded_checks=[positive_data_acceptance],
            )
            if case.method == "POST" and case.path.startswith("/api/v1/conversations"):
                if not writes:
                    assert response.status_code == 403, (case.path, response.text)
            seen.append(f"{case.method} {case.path} {response.status_code}")

        run()
    return seen


async def test_schemathesis_finds_the_api_as_documented(hub: Hub) -> None:
    (server,) = await start_hub(hub, CHATSERVER_API_KEY_RATE_PER_MINUTE="100000")
    admin = await hub.login(ADMIN)
    reader = await make_key(server, admin, "Fuzz reader", "read")
    writer = await make_key(server, admin, "Fuzz writer", "write", "read", "bot")
    conversations = [(await start_chat(hub, text="fuzz me"))[1] for _ in range(3)]

    seen_read = await asyncio.to_thread(
        fuzz, server.http, reader.secret, conversations, writes=False
    )
    seen_write = await asyncio.to_thread(
        fuzz, server.http, writer.secret, conversations, writes=True
    )
    operations = {f"{op.method} {op.path}" for op in OPERATIONS}
    assert {s.rsplit(" ", 1)[0] for s in seen_write} == operations
    # The writer's calls really changed conversations (not only refusals).
    assert any(s.endswith(" 201") for s in seen_write if "/messages" in s), seen_write
    assert not any(
        s.endswith((" 200", " 201")) for s in seen_read if s.startswith("POST /api/v1/conv")
    )

    # No key (or a forged one): 401 everywhere, the admin's operations included.
    for op in OPERATIONS:
        path = re.sub(r"\{\w+\}", conversations[0], op.path)
        for key in (None, "csk_00_forged"):
            r = await call(server, op.method, path, key=key, json={})
            assert r.status_code == 401, (op.method, path, r.text)


async def test_document_and_reference_page(hub: Hub) -> None:
    (server,) = await start_hub(hub)
    doc = (await call(server, "GET", "/api/v1/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    for op in OPERATIONS:
        entry = doc["paths"][op.path][op.method.lower()]
        assert entry["operationId"] == op.operation_id
        assert {"401", "403"} <= set(entry["responses"])
    schemathesis.openapi.from_dict(doc).validate()  # a valid OpenAPI 3.1 document

    r = await call(server, "GET", "/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    for op in OPERATIONS:
        assert f'id="{op.operation_id}"' in html and op.summary.replace("'", "&#39;") in html
    assert "http://" not in html.replace(server.http, "") and "https://" not in html
