"""docs/protocol.md and `frames.py` agree field for field.

The reference is parsed: every `### \\`type\\` — to …` section under "Server frames" gives the
frame's fields (its table: `name`, `name`? for an optional one) and, where the type column
spells an object (`{id, username, …}`, `array of {…}`, `same object as in \\`offer\\``), the
fields of that object too. Each builder in `frames.py` is called with every optional part given
(and again with none); the keys of what it returns must be exactly what the section lists, the
bare call must hold every field the section does not mark optional, and the section's JSON
examples must themselves fit the table. A field added on one side only fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatserver.protocol import frames

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"

# An object spec as the reference writes it: `{a, b, c:{d, e}, role: "agent"}`.
Spec = dict[str, "Spec | None"]


@dataclass
class Section:
    type: str
    audience: str
    fields: dict[str, bool] = field(default_factory=dict)  # name → optional
    objects: dict[str, Spec] = field(default_factory=dict)  # name → its object's fields
    examples: list[dict[str, Any]] = field(default_factory=list)
    same_as: dict[str, str] = field(default_factory=dict)  # name → section type


def _parse_spec(text: str) -> tuple[Spec, str]:
    """`{a, b:{c}}rest` → ({a: None, b: {c: None}}, rest)."""
    assert text.startswith("{"), text
    text = text[1:]
    spec: Spec = {}
    while True:
        text = text.lstrip()
        if text.startswith("}"):
            return spec, text[1:]
        name = re.match(r"[a-z_]+", text)
        assert name, f"no field name at {text!r}"
        text = text[name.end() :].lstrip()
        value: Spec | None = None
        if text.startswith(":"):
            text = text[1:].lstrip()
            if text.startswith("{"):
                value, text = _parse_spec(text)
            else:  # a literal value: `role: "agent"`
                literal = re.match(r'"[^"]*"', text)
                assert literal, f"no value at {text!r}"
                text = text[literal.end() :]
        spec[name.group()] = value
        text = text.lstrip()
        if text.startswith(","):
            text = text[1:]


def server_sections() -> list[Section]:
    text = DOC.read_text(encoding="utf-8")
    body = text.split("\n## Server frames\n", 1)[1].split("\n## ", 1)[0]
    sections: list[Section] = []
    for chunk in re.split(r"\n### ", body)[1:]:
        head, _, rest = chunk.partition("\n")
        named = re.match(r"`([a-z_]+)`(?: — (.*))?", head)
        if named is None:  # "Answers": the table of which frame answers which
            continue
        section = Section(named.group(1), named.group(2) or "")
        for line in rest.splitlines():
            row = re.match(r"\| `([a-z_]+)`(\?)?[^|]*\| ([^|]*)\|", line)
            if row:
                name, optional, kind = row.group(1), bool(row.group(2)), row.group(3)
                section.fields[name] = optional
                obj = re.search(r"`(\{.*\})`", kind)
                if obj:
                    section.objects[name], _ = _parse_spec(obj.group(1))
                same = re.match(r"same object as in `([a-z_]+)`", kind.strip())
                if same:
                    section.same_as[name] = same.group(1)
            elif line.startswith('{"type":'):
                section.examples.append(orjson.loads(line))
        sections.append(section)
    return sections


SECTIONS = server_sections()


def section(type_: str, audience: str = "") -> Section:
    found = [s for s in SECTIONS if s.type == type_ and audience in s.audience]
    assert len(found) == 1, f"{type_!r} ({audience!r}): {len(found)} sections"
    return found[0]


def object_spec(s: Section, name: str) -> Spec | None:
    if name in s.same_as:
        return section(s.same_as[name]).objects.get(name)
    return s.objects.get(name)


# -- what frames.py builds: every builder, with every optional part and with none ------------

BRIEF = frames.ConversationBrief("c_1", "billing", "en", "Ann", 4, "Hello", "https://shop.example/")
PROFILE = frames.AgentProfile("a_1", "ann", "Ann", {"billing": 3}, 2, ("agent",))
SUMMARY = frames.ConversationSummary("c_1", "active", 3)
TS = "2024-05-01T12:00:00.000Z"

#: (doc section, audience) → (builder, the fullest call, the barest call)
Call = Callable[[], str]
CALLS: dict[tuple[str, str], tuple[Callable[..., str], Call, Call]] = {
    ("welcome", "visitor"): (
        frames.welcome_visitor,
        lambda: frames.welcome_visitor("v_1", "vt", [SUMMARY], ref="h"),
        lambda: frames.welcome_visitor("v_1", "vt", []),
    ),
    ("identified", "visitor"): (
        frames.identified,
        lambda: frames.identified(False, None, [SUMMARY], reason="no hash", ref="i"),
        lambda: frames.identified(True, "user-42", []),
    ),
    ("welcome", "agent"): (
        frames.welcome_agent,
        lambda: frames.welcome_agent(PROFILE, [SUMMARY], status="online", ref="h"),
        lambda: frames.welcome_agent(PROFILE, []),
    ),
    ("queued", ""): (
        frames.queued,
        lambda: frames.queued("c_1", 2, 30, ref="s"),
        lambda: frames.queued("c_1", 1, None),
    ),
    ("queue", ""): (
        frames.queue,
        lambda: frames.queue("c_1", 2, 30),
        lambda: frames.queue("c_1", 2, None),
    ),
    ("offline", ""): (
        frames.offline,
        lambda: frames.offline("c_1", topic="billing", language="en"),
        lambda: frames.offline("c_1", topic="billing", language="en"),
    ),
    ("assigned", ""): (
        frames.assigned,
        lambda: frames.assigned("c_1", "Ann", seq=3, ts=TS, conversation=BRIEF, ref="a"),
        lambda: frames.assigned("c_1", "Ann", seq=3, ts=TS),
    ),
    ("offer", ""): (
        frames.offer,
        lambda: frames.offer("o_1", BRIEF, 20),
        lambda: frames.offer("o_1", BRIEF, 20),
    ),
    ("offer_withdrawn", ""): (
        frames.offer_withdrawn,
        lambda: frames.offer_withdrawn("o_1", "c_1", reason="expired"),
        lambda: frames.offer_withdrawn("o_1", "c_1"),
    ),
    ("ack", ""): (
        frames.ack,
        lambda: frames.ack(
            "m",
            client_id="k",
            conversation_id="c_1",
            seq=3,
            ts=TS,
            tags=["vip"],
            status="online",
            offer_id="o_1",
        ),
        lambda: frames.ack(),
    ),
    ("message", ""): (
        frames.message,
        lambda: frames.message(
            "c_1", seq=3, client_id="k", from_role="visitor", from_name="Ann", text="hi", ts=TS
        ),
        lambda: frames.message(
            "c_1", seq=3, client_id=None, from_role="system", from_name=None, text="hi", ts=TS
        ),
    ),
    ("typing", ""): (
        frames.typing,
        lambda: frames.typing("c_1", True, by_role="agent"),
        lambda: frames.typing("c_1", False, by_role="visitor"),
    ),
    ("read", ""): (
        frames.read,
        lambda: frames.read("c_1", 3, by_role="agent"),
        lambda: frames.read("c_1", 3, by_role="visitor"),
    ),
    ("resumed", ""): (
        frames.resumed,
        lambda: frames.resumed("c_1", 3, ref="r"),
        lambda: frames.resumed("c_1", 3),
    ),
    ("closed", ""): (
        frames.closed,
        lambda: frames.closed("c_1", by="visitor", seq=4, ts=TS),
        lambda: frames.closed("c_1", by="system", seq=4, ts=TS),
    ),
    ("error", ""): (
        frames.error,
        lambda: frames.error("bad_frame", "no", "m"),
        lambda: frames.error("bad_frame", "no"),
    ),
    ("pong", ""): (frames.pong, lambda: frames.pong("k"), lambda: frames.pong()),
    ("note", ""): (
        frames.note,
        lambda: frames.note("c_1", seq=5, from_name="Ann", text="vip", ts=TS),
        lambda: frames.note("c_1", seq=5, from_name=None, text="vip", ts=TS),
    ),
    ("tagged", ""): (
        frames.tagged,
        lambda: frames.tagged("c_1", ["vip"], seq=6, ts=TS, by_name="Ann"),
        lambda: frames.tagged("c_1", [], seq=6, ts=TS, by_name=None),
    ),
    ("transferred", ""): (
        frames.transferred,
        lambda: frames.transferred("c_1", seq=7, ts=TS, by_name="Ann", to_topic="tech"),
        lambda: frames.transferred("c_1", seq=7, ts=TS, by_name="Ann", to_agent="bob"),
    ),
    ("status", ""): (
        frames.status,
        lambda: frames.status("away", reason="missed offers"),
        lambda: frames.status("away"),
    ),
    ("rated", ""): (
        frames.rated,
        lambda: frames.rated("c_1", 5, comment="good", seq=8, ts=TS),
        lambda: frames.rated("c_1", 5, comment=None, seq=8, ts=TS),
    ),
}


#: functions of frames.py that build no frame of their own (checked below through the others)
NOT_BUILDERS = {"iso_ts", "dump", "typing_object", "read_object"}


def builders() -> set[str]:
    return {
        name
        for name in frames.__all__
        if inspect.isfunction(getattr(frames, name)) and name not in NOT_BUILDERS
    }


def test_the_relayed_objects_are_the_frames() -> None:
    # typing and read cross the bus as objects; on the wire they are the builders' frames
    assert frames.dump(frames.typing_object("c_1", True, by_role="agent")) == frames.typing(
        "c_1", True, by_role="agent"
    )
    assert frames.dump(frames.read_object("c_1", 3, by_role="visitor")) == frames.read(
        "c_1", 3, by_role="visitor"
    )


def test_every_builder_and_every_section_is_compared() -> None:
    assert {b.__name__ for b, _, _ in CALLS.values()} == builders()
    documented = {(s.type, s.audience) for s in SECTIONS}
    compared = {
        (section(type_, audience).type, section(type_, audience).audience)
        for type_, audience in CALLS
    }
    assert compared == documented


def _check_object(where: str, value: Any, spec: Spec) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        assert isinstance(item, dict), f"{where}: {item!r} is not an object"
        assert set(item) == set(spec), f"{where}: built {sorted(item)}, documented {sorted(spec)}"
        for name, inner in spec.items():
            if inner is not None:
                _check_object(f"{where}.{name}", item[name], inner)


@pytest.mark.parametrize("key", sorted(CALLS), ids=lambda k: "-".join(filter(None, k)))
def test_builder_emits_the_documented_fields(key: tuple[str, str]) -> None:
    s = section(*key)
    _, fullest, barest = CALLS[key]
    full, bare = orjson.loads(fullest()), orjson.loads(barest())
    assert full["type"] == bare["type"] == s.type
    fields = set(full) - {"type"}
    assert fields == set(s.fields), (
        f"`{s.type}`: frames.py builds {sorted(fields)}, docs/protocol.md lists {sorted(s.fields)}"
    )
    required = {name for name, optional in s.fields.items() if not optional}
    assert required <= set(bare), f"`{s.type}`: the bare call lacks {required - set(bare)}"
    for name in fields:
        spec = object_spec(s, name)
        if spec is not None:
            _check_object(f"{s.type}.{name}", full[name], spec)


@pytest.mark.parametrize(
    "s",
    [s for s in SECTIONS if s.examples],
    ids=lambda s: f"{s.type}-{s.audience.split()[-1] if s.audience else ''}".rstrip("-"),
)
def test_examples_fit_their_table(s: Section) -> None:
    for example in s.examples:
        assert example["type"] == s.type
        keys = set(example) - {"type"}
        assert keys <= set(s.fields), f"`{s.type}` example has {sorted(keys - set(s.fields))}"
        # an `ack` example may be the bare one (`{"type":"ack","ref":"st1"}`)
        if s.type != "ack":
            required = {n for n, optional in s.fields.items() if not optional}
            assert required <= keys, f"`{s.type}` example lacks {sorted(required - keys)}"
        for name in keys:
            spec = object_spec(s, name)
            if spec is not None:
                _check_object(f"{s.type} example .{name}", example[name], spec)


def test_the_parser_reads_nested_objects() -> None:
    spec, rest = _parse_spec('{a, b:{c, d}, role: "agent"}!')
    assert spec == {"a": None, "b": {"c": None, "d": None}, "role": None}
    assert rest == "!"
    assert section("offer").objects["conversation"]["visitor"] == {"name": None}
