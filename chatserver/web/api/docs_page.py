"""The API reference page (``GET /api/docs``): the OpenAPI document of /api/v1/openapi.json
rendered on the server as one readable HTML page — each operation with its scopes, parameters,
request body and answers, the named schemas at the end. Nothing is loaded from elsewhere (the
page's own stylesheet only), so it works on a machine without internet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from chatserver.web.kit import page

__all__ = ["SchemaRow", "render_reference", "schema_rows", "spans"]

_LIMITS = {
    "minLength": "at least {} character(s)",
    "maxLength": "at most {} characters",
    "minimum": "≥ {}",
    "maximum": "≤ {}",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "pattern": "matches {}",
}


@dataclass(frozen=True, slots=True)
class SchemaRow:
    """One line of a schema's table: a field at ``depth`` with its type (``ref``: the named
    schema it links to), whether it is required, and what it says."""

    name: str
    depth: int
    type: str
    ref: str | None
    required: bool
    notes: str


def spans(text: str) -> list[tuple[str, bool]]:
    """Text with `code` in backticks as (piece, is_code) pieces, for the template to mark up."""
    return [(piece, n % 2 == 1) for n, piece in enumerate(text.split("`")) if piece]


def type_of(schema: dict[str, Any]) -> tuple[str, str | None]:
    """(the type as read, the named schema it refers to)."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return name, name
    kind = schema.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    if "array" in kinds:
        inner, ref = type_of(schema.get("items", {}))
        return " or ".join(f"array of {inner}" if k == "array" else k for k in kinds), ref
    return " or ".join(kinds), None


def notes_of(schema: dict[str, Any]) -> str:
    parts = [schema["description"]] if schema.get("description") else []
    if "enum" in schema:
        parts.append("one of: " + ", ".join(str(v) for v in schema["enum"]))
    parts += [text.format(schema[k]) for k, text in _LIMITS.items() if k in schema]
    items = schema.get("items", {})
    if "enum" in items:
        parts.append("each one of: " + ", ".join(str(v) for v in items["enum"]))
    parts += [f"each {text.format(items[k])}" for k, text in _LIMITS.items() if k in items]
    if schema.get("additionalProperties") is False:
        parts.append("no other fields")
    return "; ".join(parts)


def schema_rows(schema: dict[str, Any], depth: int = 0) -> list[SchemaRow]:
    """The fields of an object schema as rows, nested objects indented under their field."""
    rows: list[SchemaRow] = []
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        kind, ref = type_of(sub)
        rows.append(SchemaRow(name, depth, kind, ref, name in required, notes_of(sub)))
        if sub.get("type") == "object" and sub.get("properties"):
            rows.extend(schema_rows(sub, depth + 1))
    return rows


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            responses = []
            for status, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                responses.append(
                    {
                        "status": status,
                        "description": answer["description"],
                        "rows": schema_rows(schema) if schema else [],
                        "error": status >= "400",
                    }
                )
            ops.append(
                {
                    "id": op["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": op["summary"],
                    "description": op.get("description", ""),
                    "tag": op["tags"][0],
                    "params": [
                        {**prm, "type": type_of(prm["schema"])[0], "notes": notes_of(prm["schema"])}
                        for prm in op.get("parameters", [])
                    ],
                    "body": schema_rows(body["schema"]) if body else None,
                    "responses": responses,
                }
            )
    return ops


def render_reference(document: dict[str, Any]) -> Response:
    ops = _operations(document)
    tags: dict[str, list[dict[str, Any]]] = {}
    for op in ops:
        tags.setdefault(op["tag"], []).append(op)
    components = {
        name: {"description": schema.get("description", ""), "rows": schema_rows(schema)}
        for name, schema in document["components"]["schemas"].items()
    }
    return page(
        "api_docs.html", info=document["info"], tags=tags, components=components, spans=spans
    )
