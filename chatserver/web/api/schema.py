"""The REST API v1's route table as data: each `Operation` declares its method, path, scopes,
parameters, request body and answers as JSON Schema (built with the small constructors below),
next to its handler. From the same declarations come the request checks (`check_value`: a bad
parameter or body is answered 422 naming the field, before the handler runs), the OpenAPI 3.1
document (`openapi`) and the reference page (/api/docs) — there is no separate JSON file to
keep in step.

Only the part of JSON Schema these declarations use is checked: ``type`` (object, array,
string, integer, boolean, null, and lists of them), ``properties``, ``required``,
``additionalProperties: false``, ``items``, ``minLength``/``maxLength``,
``minItems``/``maxItems``, ``minimum``/``maximum``, ``enum``, ``pattern``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

Schema = dict[str, Any]
Where = Literal["path", "query"]

__all__ = [
    "Body",
    "Invalid",
    "Operation",
    "Param",
    "Schema",
    "array",
    "boolean",
    "check_value",
    "integer",
    "nullable",
    "obj",
    "openapi",
    "ref",
    "string",
]


# --- constructors -------------------------------------------------------------------------


def string(description: str = "", **limits: Any) -> Schema:
    return {"type": "string", **_described(description), **limits}


def integer(description: str = "", **limits: Any) -> Schema:
    return {"type": "integer", **_described(description), **limits}


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", **_described(description)}


def array(items: Schema, description: str = "", **limits: Any) -> Schema:
    return {"type": "array", "items": items, **_described(description), **limits}


def nullable(schema: Schema) -> Schema:
    """The same, or null."""
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def obj(
    properties: Mapping[str, Schema],
    required: Sequence[str] = (),
    description: str = "",
    *,
    closed: bool = True,
) -> Schema:
    """An object; ``closed``: no other properties (a request body refuses unknown fields)."""
    schema: Schema = {"type": "object", "properties": dict(properties), **_described(description)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def ref(name: str) -> Schema:
    """A schema named in the document's ``components.schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _described(description: str) -> dict[str, str]:
    return {"description": description} if description else {}


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Where
    schema: Schema
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Body:
    schema: Schema
    description: str = ""
    #: False: a request without a body is taken as ``{}``.
    required: bool = True


Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the API. ``scopes``: the API key scopes that may call it (any one is
    enough); None: an admin's session (the API keys' own management). ``responses``: status →
    (description, schema or None for no body). The handler gets the request and the checked
    input (parameters by name, the body under ``"body"``)."""

    operation_id: str
    method: str
    path: str
    summary: str
    tag: str
    handler: Handler
    scopes: frozenset[str] | None
    responses: Mapping[int, tuple[str, Schema | None]]
    params: Sequence[Param] = ()
    body: Body | None = None
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


# --- checking a value against a schema -----------------------------------------------------


class Invalid(ValueError):
    """A value that does not match its schema; ``field`` names where (``body.text``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: type(v) is int,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


def check_value(schema: Schema, value: object, where: str) -> None:
    """Raise `Invalid` unless ``value`` matches ``schema``."""
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_TYPES[k](value) for k in allowed):
            raise Invalid(where, f"expected {' or '.join(allowed)}")
    if "enum" in schema and value not in schema["enum"]:
        raise Invalid(where, f"expected one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        _check_string(schema, value, where)
    elif type(value) is int:
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(where, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(where, f"must be at most {schema['maximum']}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise Invalid(where, f"needs at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise Invalid(where, f"at most {schema['maxItems']} items")
        for n, item in enumerate(value):
            check_value(schema.get("items", {}), item, f"{where}[{n}]")
    elif isinstance(value, dict):
        _check_object(schema, value, where)


def _check_string(schema: Schema, value: str, where: str) -> None:
    if "\x00" in value:  # no store keeps it: PostgreSQL's text and jsonb refuse U+0000
        raise Invalid(where, "must not contain the NUL character (U+0000)")
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise Invalid(where, f"must be at least {schema['minLength']} character(s)")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise Invalid(where, f"must be at most {schema['maxLength']} characters")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        raise Invalid(where, f"must match {schema['pattern']}")


def _check_object(schema: Schema, value: dict[str, Any], where: str) -> None:
    properties: dict[str, Schema] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            raise Invalid(f"{where}.{name}", "is required")
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            raise Invalid(
                f"{where}.{unknown[0]}",
                f"unknown field (allowed: {', '.join(properties) or 'none'})",
            )
    for name, sub in properties.items():
        if name in value:
            check_value(sub, value[name], f"{where}.{name}")


# --- the document -------------------------------------------------------------------------

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def openapi(
    operations: Sequence[Operation], components: Mapping[str, Schema], version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "description": _description(op),
            "security": [{"apiKey": []}] if op.scopes is not None else [{"session": []}],
            "responses": {
                str(status): _response(description, schema)
                for status, (description, schema) in sorted(op.responses.items())
            },
        }
        if op.params:
            entry["parameters"] = [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.required or p.where == "path",
                    "description": p.description,
                    "schema": p.schema,
                }
                for p in op.params
            ]
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body.required,
                "description": op.body.description,
                "content": {"application/json": {"schema": op.body.schema}},
            }
        entry.update(op.extra)
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chatserver REST API",
            "version": version,
            "description": (
                "Conversations, messages, notes, tags, transfers and agents for integrations,"
                " with scoped API keys (read, write, bot). See docs/api.md."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(components),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (csk_…) made by an admin at /admin/api-keys.",
                },
                "session": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin's token from /api/v1/auth/login (or the session"
                    " cookie).",
                },
            },
        },
    }


def _description(op: Operation) -> str:
    who = (
        "an admin's session or token"
        if op.scopes is None
        else "an API key with the scope " + " or ".join(f"`{s}`" for s in sorted(op.scopes))
    )
    return f"{op.description}\n\nNeeds {who}.".strip()


def _response(description: str, schema: Schema | None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_schema(status: int) -> Schema:
    """The JSON error shape every refusal answers with (``field``: the input it is about)."""
    return obj(
        {
            "error": string("machine-readable code", enum=[_ERROR_CODES[status]]),
            "message": string("what went wrong, for a person"),
            "field": string("the parameter or body field the message is about"),
        },
        required=["error", "message"],
    )
