"""Routing configuration: one typed, frozen object read from a TOML file the operator edits.

``load_config(path)`` parses with :mod:`tomllib` and validates every key; a mistake raises
:class:`~routing.errors.ConfigError` naming the key, e.g.
``topics.billing.relax[1].after_s: must be a number > previous step's after_s``.
Keys left out take the shipped defaults (``routing/default_routing.toml``).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from routing.errors import ConfigError

MAX_LEVEL = 5
PRIORITY_RANGE = (-1000, 1000)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# Top-level numbers: name -> (default, smallest allowed value, zero allowed).
_SCALARS: dict[str, tuple[float, bool]] = {
    "offer_timeout_s": (30.0, False),
    "preferred_window_s": (15.0, True),
    "heartbeat_timeout_s": (15.0, False),
    "grace_s": (30.0, True),
    "reoffer_cooldown_s": (30.0, True),
    "handle_time_default_s": (300.0, False),
}
_MAX_SECONDS = 7 * 86400
_TOPIC_KEYS = {"topic_level", "language_level", "priority", "relax"}
_STEP_KEYS = {"after_s", "topic_level", "language_level"}


@dataclass(frozen=True)
class RelaxStep:
    """From ``after_s`` seconds of waiting on, these levels apply (None: keep the previous)."""

    after_s: float
    topic_level: int | None
    language_level: int | None


@dataclass(frozen=True)
class TopicConfig:
    name: str
    topic_level: int
    language_level: int
    priority: int
    relax: tuple[RelaxStep, ...]

    def levels(self, step: int) -> tuple[int, int]:
        """(topic level, language level) in force at relaxation step ``step`` (0 = none)."""
        tl, ll = self.topic_level, self.language_level
        for s in self.relax[:step]:
            tl = tl if s.topic_level is None else s.topic_level
            ll = ll if s.language_level is None else s.language_level
        return tl, ll

    def step_at(self, waited_s: float) -> int:
        """The relaxation step in force after waiting ``waited_s`` (compared in milliseconds)."""
        waited_ms = round(waited_s * 1000)
        step = 0
        for i, s in enumerate(self.relax, start=1):
            if waited_ms >= round(s.after_s * 1000):
                step = i
            else:
                break
        return step


@dataclass(frozen=True)
class RoutingConfig:
    topics: dict[str, TopicConfig]
    languages: tuple[str, ...]
    offer_timeout_s: float
    preferred_window_s: float
    heartbeat_timeout_s: float
    grace_s: float
    reoffer_cooldown_s: float
    handle_time_default_s: float

    def topic(self, name: str) -> TopicConfig:
        try:
            return self.topics[name]
        except KeyError:
            known = ", ".join(sorted(self.topics))
            raise ConfigError(f"unknown topic {name!r} (configured: {known})") from None

    def requirements(
        self, topic: str, language: str, waited_s: float
    ) -> tuple[int, dict[str, int]]:
        """(step index, {skill: minimum level}) for a conversation that has waited ``waited_s``.

        Step 0 is the topic's base requirement; step i is in force once ``relax[i-1].after_s``
        has passed. A level of 0 means "not required" and the skill is left out.
        """
        t = self.topic(topic)
        step = t.step_at(waited_s)
        tl, ll = t.levels(step)
        required: dict[str, int] = {}
        if tl > 0:
            required[topic] = tl
        if ll > 0:
            required[language] = max(ll, required.get(language, 0))
        return step, required

    def script_fields(self) -> dict[str, str]:
        """The form the Lua scripts read, stored as one Redis hash of small JSON texts (times
        in integer milliseconds): "base", "names" and one "t:<topic>" per topic."""

        def ms(seconds: float) -> int:
            return round(seconds * 1000)

        def dump(value: Any) -> str:
            return json.dumps(value, separators=(",", ":"), sort_keys=True)

        base = {
            "ot": ms(self.offer_timeout_s),
            "pw": ms(self.preferred_window_s),
            "cd": ms(self.reoffer_cooldown_s),
            "gr": ms(self.grace_s),
            "hb": ms(self.heartbeat_timeout_s),
            "htd": ms(self.handle_time_default_s),
        }
        fields = {"base": dump(base)}
        names = []
        for name, t in self.topics.items():
            steps = []
            for i, s in enumerate(t.relax, start=1):
                tl, ll = t.levels(i)
                steps.append({"at": ms(s.after_s), "tl": tl, "ll": ll})
            any_agent = t.topic_level == 0 or any(st["tl"] == 0 for st in steps)
            fields[f"t:{name}"] = dump(
                {"tl": t.topic_level, "ll": t.language_level, "steps": steps, "any": any_agent}
            )
            names.append([name, any_agent])
        fields["names"] = dump(names)
        fields["classes"] = dump(self.classes())
        return fields

    def classes(self) -> list[str]:
        """Every requirement class a conversation can be in under this configuration:
        "<topic>|<topic level>|<language>|<language level>" for each topic, step and language,
        with "*" for a topic or language not required (level 0). The scripts index each one
        (docs/routing.md, "Storage and scripts")."""
        out: set[str] = set()
        for name, t in self.topics.items():
            for step in range(len(t.relax) + 1):
                tl, ll = t.levels(step)
                for language in self.languages:
                    out.add(f"{name if tl else '*'}|{tl}|{language if ll else '*'}|{ll}")
        return sorted(out)


# Parsing ------------------------------------------------------------------------------------


def _number(value: object, where: str, *, zero_ok: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: must be a number, got {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"{where}: must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")
    if value > _MAX_SECONDS:
        raise ConfigError(f"{where}: must be at most {_MAX_SECONDS} seconds, got {value!r}")
    return float(value)


def _level(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LEVEL:
        raise ConfigError(
            f"{where}: must be an integer from 0 (not required) to {MAX_LEVEL}, got {value!r}"
        )
    return value


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(
            f"{where}: must be a name of letters, digits, '_', '.' or '-', got {value!r}"
        )
    return value


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{extra[0]}: unknown key (known: {', '.join(sorted(allowed))})")


_DEFAULT_RELAX = (RelaxStep(60.0, None, 1), RelaxStep(120.0, None, 0))


def _relax(value: object, where: str, tl: int, ll: int) -> tuple[RelaxStep, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f"{where}: must be a list of steps like {{after_s = 60, language_level = 1}}"
        )
    steps: list[RelaxStep] = []
    previous = 0.0
    for i, raw in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at}: must be a table like {{after_s = 60, language_level = 1}}")
        _unknown(raw, _STEP_KEYS, at)
        if "after_s" not in raw:
            raise ConfigError(f"{at}.after_s: missing")
        after = raw["after_s"]
        if (
            isinstance(after, bool)
            or not isinstance(after, int | float)
            or not math.isfinite(after)
            or after <= previous
        ):
            what = "previous step's after_s" if i else "0"
            raise ConfigError(f"{at}.after_s: must be a number > {what}")
        after = _number(after, f"{at}.after_s", zero_ok=False)
        new_tl = _level(raw["topic_level"], f"{at}.topic_level") if "topic_level" in raw else None
        new_ll = (
            _level(raw["language_level"], f"{at}.language_level")
            if "language_level" in raw
            else None
        )
        if new_tl is None and new_ll is None:
            raise ConfigError(f"{at}: a step must set topic_level and/or language_level")
        if new_tl is not None and new_tl > tl:
            raise ConfigError(
                f"{at}.topic_level: a relaxation step cannot raise the level "
                f"({new_tl} > {tl} in force before it)"
            )
        if new_ll is not None and new_ll > ll:
            raise ConfigError(
                f"{at}.language_level: a relaxation step cannot raise the level "
                f"({new_ll} > {ll} in force before it)"
            )
        tl = tl if new_tl is None else new_tl
        ll = ll if new_ll is None else new_ll
        steps.append(RelaxStep(after, new_tl, new_ll))
        previous = after
    return tuple(steps)


def _topic(name: str, raw: object, where: str) -> TopicConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table ([{where}])")
    _unknown(raw, _TOPIC_KEYS, where)
    tl = _level(raw.get("topic_level", 1), f"{where}.topic_level")
    ll = _level(raw.get("language_level", 1), f"{where}.language_level")
    priority = raw.get("priority", 0)
    lo, hi = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not lo <= priority <= hi:
        raise ConfigError(
            f"{where}.priority: must be an integer from {lo} to {hi}, got {priority!r}"
        )
    if "relax" in raw:
        relax = _relax(raw["relax"], f"{where}.relax", tl, ll)
    else:  # default: after 60 s any language level, after 120 s no language needed
        relax = tuple(
            s for s in _DEFAULT_RELAX if s.language_level is not None and s.language_level < ll
        )
    return TopicConfig(name, tl, ll, priority, relax)


def parse_config(data: dict[str, Any], defaults: RoutingConfig | None = None) -> RoutingConfig:
    """Validate a parsed TOML document; keys left out come from ``defaults``."""
    _unknown(data, set(_SCALARS) | {"languages", "topics"}, "")
    scalars: dict[str, float] = {}
    for key, (default, zero_ok) in _SCALARS.items():
        if key in data:
            scalars[key] = _number(data[key], key, zero_ok=zero_ok)
        else:
            scalars[key] = getattr(defaults, key) if defaults else default
    if "languages" in data:
        raw_langs = data["languages"]
        if not isinstance(raw_langs, list) or not raw_langs:
            raise ConfigError("languages: must be a non-empty list of language names")
        languages = tuple(_name(x, f"languages[{i}]") for i, x in enumerate(raw_langs))
        if len(set(languages)) != len(languages):
            raise ConfigError("languages: each language must appear once")
    elif defaults:
        languages = defaults.languages
    else:
        raise ConfigError("languages: missing")
    if "topics" in data:
        raw_topics = data["topics"]
        if not isinstance(raw_topics, dict) or not raw_topics:
            raise ConfigError("topics: must hold at least one [topics.<name>] table")
        topics: dict[str, TopicConfig] = {}
        for name, raw in raw_topics.items():
            _name(name, f"topics.{name}")
            if name in languages:
                raise ConfigError(f"topics.{name}: a topic cannot share its name with a language")
            topics[name] = _topic(name, raw, f"topics.{name}")
    elif defaults:
        topics = dict(defaults.topics)
    else:
        raise ConfigError("topics: missing")
    for name in topics:
        if name in languages:
            raise ConfigError(f"topics.{name}: a topic cannot share its name with a language")
    return RoutingConfig(topics=topics, languages=languages, **scalars)


def load_config(path: str | Path) -> RoutingConfig:
    """Read and validate a routing TOML file; keys it leaves out take the shipped defaults."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read routing configuration {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_config(data, default_config())
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {p})") from None


def default_config() -> RoutingConfig:
    """The shipped configuration (``routing/default_routing.toml``): topics general, billing,
    account and technical; languages en, es, ar and zh."""
    text = resources.files("routing").joinpath("default_routing.toml").read_text("utf-8")
    return parse_config(tomllib.loads(text))


# The editable document ----------------------------------------------------------------------
# Topics and languages may also be edited at run time (the admin pages): the hub keeps them as
# a JSON document of the same shape as the TOML tables, and lays it over the file's
# configuration with `apply_document` — so it is validated by `parse_config`, key by key, with
# the same messages. The timings (offer_timeout_s …) stay in the file.

#: The keys a routing document may hold.
DOCUMENT_KEYS = ("languages", "topics")


def _plain(seconds: float) -> int | float:
    return int(seconds) if float(seconds).is_integer() else seconds


def topic_document(topic: TopicConfig) -> dict[str, Any]:
    """One topic as the table ``parse_config`` reads (``relax`` always explicit)."""
    steps: list[dict[str, Any]] = []
    for s in topic.relax:
        step: dict[str, Any] = {"after_s": _plain(s.after_s)}
        if s.topic_level is not None:
            step["topic_level"] = s.topic_level
        if s.language_level is not None:
            step["language_level"] = s.language_level
        steps.append(step)
    return {
        "topic_level": topic.topic_level,
        "language_level": topic.language_level,
        "priority": topic.priority,
        "relax": steps,
    }


def to_document(config: RoutingConfig) -> dict[str, Any]:
    """The topics and languages of ``config`` as plain JSON-able data, topics in order:
    ``apply_document(config, to_document(config)) == config``."""
    return {
        "languages": list(config.languages),
        "topics": {name: topic_document(t) for name, t in config.topics.items()},
    }


def apply_document(base: RoutingConfig, document: object) -> RoutingConfig:
    """``base`` with the languages and topics of ``document`` (validated by ``parse_config``;
    any other key is refused, as is a document that is not an object)."""
    if not isinstance(document, dict):
        raise ConfigError(f"routing document: must be an object with {' and '.join(DOCUMENT_KEYS)}")
    _unknown(document, set(DOCUMENT_KEYS), "")
    return parse_config(document, base)


__all__ = [
    "DOCUMENT_KEYS",
    "RelaxStep",
    "RoutingConfig",
    "TopicConfig",
    "apply_document",
    "default_config",
    "load_config",
    "parse_config",
    "to_document",
    "topic_document",
]
