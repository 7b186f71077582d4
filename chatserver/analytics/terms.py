"""What hurts users: the terms most over-represented in low-rated conversations.

The two corpora are what visitors wrote — their messages and their rating comments, redacted
— in conversations rated 1 or 2 (*low*) and in those rated 4 or 5 (*high*). Each term gets the
weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
"Fightin' Words"), the prior being the pooled counts of both corpora:

    a_w = y_low_w + y_high_w,   a_0 = n_low + n_high
    delta_w = ln((y_low_w + a_w) / (n_low + a_0 - y_low_w - a_w))
            - ln((y_high_w + a_w) / (n_high + a_0 - y_high_w - a_w))
    z_w = delta_w / sqrt(1 / (y_low_w + a_w) + 1 / (y_high_w + a_w))

Terms are ranked by ``z`` (high: typical of low ratings); a term needs ``min_count``
occurrences in the low corpus. Tokens are lower-cased runs of three letters or more, without
stop words, placeholders or pseudonyms.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from chatserver.store.snapshots import Filters, ReadSnapshot

from .redact import Redactor
from .redact_known import KnownPII

__all__ = [
    "EXAMPLE_CONVERSATIONS",
    "HIGH",
    "LOW",
    "STOPWORDS",
    "TermCounts",
    "log_odds",
    "pain_terms",
    "redacted_texts",
    "tokens",
]

LOW = frozenset({1, 2})
HIGH = frozenset({4, 5})
_WORD = re.compile(r"[^\W\d_]{3,}")
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IP)\]|Visitor-[0-9a-f]{6}")
STOPWORDS = frozenset(
    """
    the and for you your are was were this that with have has had not but all any can
    could would should will just very our out get got its it's from they them their there
    here what when where which who why how about into over than then too also been being
    did does doing done each few more most other some such only own same both again once
    under until while off yet nor per via let lets i'm i've i'll it's don't can't won't
    didn't doesn't isn't wasn't one two three thanks thank please hello hi hey okay yes
    que los las por para con una uno del como pero más mas muy esta este eso ese hay
    """.split()
)


def tokens(text: str) -> list[str]:
    """The terms of a (redacted) text, in order."""
    text = _PLACEHOLDER.sub(" ", text).lower()
    return [t for t in _WORD.findall(text) if t not in STOPWORDS]


def log_odds(low: Counter[str], high: Counter[str], min_count: int = 3) -> list[dict[str, Any]]:
    """Every term with at least ``min_count`` low occurrences, by z-score (highest first)."""
    n_low = sum(low.values())
    n_high = sum(high.values())
    a0 = n_low + n_high
    out: list[dict[str, Any]] = []
    for term, y_low in low.items():
        if y_low < min_count:
            continue
        y_high = high.get(term, 0)
        a = y_low + y_high
        delta = math.log((y_low + a) / (n_low + a0 - y_low - a)) - math.log(
            (y_high + a) / (n_high + a0 - y_high - a)
        )
        z = delta / math.sqrt(1 / (y_low + a) + 1 / (y_high + a))
        out.append({"term": term, "z": z, "log_odds": delta, "low": y_low, "high": y_high})
    out.sort(key=lambda t: (-t["z"], t["term"]))
    return out


def _quote(text: str, term: str, width: int = 70) -> str:
    match = re.search(rf"(?i)(?<![^\W\d_]){re.escape(term)}(?![^\W\d_])", text)
    if match is None:
        return text[: 2 * width]
    start = max(0, match.start() - width)
    end = min(len(text), match.end() + width)
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def _redacted(
    rows: Iterable[tuple[str, int, str, str | None, str | None, str]], redactor: Redactor
) -> Iterable[tuple[str, int, str]]:
    known: KnownPII | None = None
    current = ""
    for cid, rating, visitor_id, name, email, text in rows:
        if known is None or cid != current:
            known = redactor.known(visitor_id, [name], [email])
            current = cid
        yield cid, rating, Redactor.text(text, known)


class TermCounts:
    """The two corpora's counts, added text by text (`add`, a conversation's texts together)
    or merged from a rollup cell (`merge`): per term its occurrences in each corpus and the
    low-rated conversations it occurs in; the corpora's conversations and tokens."""

    __slots__ = ("_current", "_seen", "high", "high_conversations", "low", "low_conversations",
                 "low_in")  # fmt: skip

    def __init__(self) -> None:
        self.low: Counter[str] = Counter()
        self.high: Counter[str] = Counter()
        #: term -> the low-rated conversations it occurs in
        self.low_in: Counter[str] = Counter()
        self.low_conversations = 0
        self.high_conversations = 0
        self._current = ""
        self._seen: set[str] = set()

    def add(self, cid: str, rating: int, text: str) -> None:
        """One redacted text of conversation ``cid`` (its texts come one after another)."""
        self.add_words(cid, rating, tokens(text))

    def add_words(self, cid: str, rating: int, words: list[str]) -> None:
        """The terms of one text (`tokens`), as `add`."""
        new = cid != self._current
        if new:
            self._current = cid
            self._seen = set()
        if rating in LOW:
            self.low_conversations += new
            self.low.update(words)
            fresh = set(words) - self._seen
            self.low_in.update(fresh)
            self._seen |= fresh
        elif rating in HIGH:
            self.high_conversations += new
            self.high.update(words)

    def merge(self, other: TermCounts) -> None:
        for mine, theirs in ((self.low, other.low), (self.high, other.high),
                             (self.low_in, other.low_in)):  # fmt: skip
            for term, n in theirs.items():
                mine[term] = mine.get(term, 0) + n
        self.low_conversations += other.low_conversations
        self.high_conversations += other.high_conversations

    def dump(self) -> dict[str, Any]:
        return {
            "conversations": [self.low_conversations, self.high_conversations],
            "low": {t: [n, self.low_in[t]] for t, n in self.low.items()},
            "high": self.high,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> TermCounts:
        made = cls()
        made.low_conversations, made.high_conversations = data["conversations"]
        made.low = Counter({t: v[0] for t, v in data["low"].items()})
        made.low_in = Counter({t: v[1] for t, v in data["low"].items()})
        made.high = Counter(data["high"])
        return made


def redacted_texts(
    snapshot: ReadSnapshot, filters: Filters, scores: frozenset[int], redactor: Redactor
) -> Iterable[tuple[str, int, str]]:
    """(conversation id, rating, redacted text) of what visitors wrote in the conversations
    ``filters`` selects rated with one of ``scores``, in order."""
    return _redacted(snapshot.rated_texts(filters, scores), redactor)


#: The low-rated conversations the quotes are looked for in, at most, from the period's first.
EXAMPLE_CONVERSATIONS = 2000


def pain_terms(
    snapshot: ReadSnapshot,
    filters: Filters,
    redactor: Redactor,
    counts: TermCounts,
    *,
    top: int = 12,
    examples: int = 2,
    min_count: int = 3,
) -> dict[str, Any]:
    """The terms of ``counts`` most typical of low ratings, each with up to ``examples``
    quotes from different low-rated conversations of ``filters``' selection, no quote twice:
    looked for in order among its first `EXAMPLE_CONVERSATIONS`, until every term has as many
    as it can (its conversations, at most ``examples``)."""
    ranked = [t for t in log_odds(counts.low, counts.high, min_count) if t["z"] > 0][:top]
    wanted = {t["term"]: t for t in ranked}
    for t in ranked:
        t["examples"] = []
    if wanted and examples:
        # One quote per conversation and no quote twice, so the examples show variety.
        seen: dict[str, set[str]] = {term: set() for term in wanted}
        short = {term: min(examples, counts.low_in[term]) for term in wanted}
        short = {term: n for term, n in short.items() if n}
        conversations = 0
        current = ""
        for cid, rating, text in redacted_texts(snapshot, filters, LOW, redactor):
            if cid != current:
                if not short:
                    break
                conversations += 1
                if conversations > EXAMPLE_CONVERSATIONS:
                    break
                current = cid
            for term in sorted(set(tokens(text)) & short.keys()):
                found = wanted[term]["examples"]
                quote = _quote(text, term)
                if len(found) < examples and not {cid, quote} & seen[term]:
                    seen[term].update((cid, quote))
                    found.append({"conversation_id": cid, "rating": rating, "quote": quote})
                    if len(found) >= short[term]:
                        del short[term]
    return {
        "low_conversations": counts.low_conversations,
        "high_conversations": counts.high_conversations,
        "low_tokens": sum(counts.low.values()),
        "high_tokens": sum(counts.high.values()),
        "terms": ranked,
    }
