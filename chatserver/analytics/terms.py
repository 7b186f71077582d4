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

__all__ = ["HIGH", "LOW", "STOPWORDS", "log_odds", "pain_terms", "tokens"]

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


def pain_terms(
    snapshot: ReadSnapshot,
    filters: Filters,
    redactor: Redactor,
    *,
    top: int = 12,
    examples: int = 2,
    min_count: int = 3,
) -> dict[str, Any]:
    low: Counter[str] = Counter()
    high: Counter[str] = Counter()
    low_conversations: set[str] = set()
    high_conversations: set[str] = set()
    for cid, rating, text in _redacted(snapshot.rated_texts(filters, LOW | HIGH), redactor):
        if rating in LOW:
            low.update(tokens(text))
            low_conversations.add(cid)
        else:
            high.update(tokens(text))
            high_conversations.add(cid)
    ranked = [t for t in log_odds(low, high, min_count) if t["z"] > 0][:top]
    wanted = {t["term"]: t for t in ranked}
    for t in ranked:
        t["examples"] = []
    if wanted and examples:
        # One quote per conversation and no quote twice, so the examples show variety.
        seen: dict[str, set[str]] = {term: set() for term in wanted}
        for cid, rating, text in _redacted(snapshot.rated_texts(filters, LOW), redactor):
            for term in sorted(set(tokens(text)) & wanted.keys()):
                found = wanted[term]["examples"]
                quote = _quote(text, term)
                if len(found) < examples and not {cid, quote} & seen[term]:
                    seen[term].update((cid, quote))
                    found.append({"conversation_id": cid, "rating": rating, "quote": quote})
    return {
        "low_conversations": len(low_conversations),
        "high_conversations": len(high_conversations),
        "low_tokens": sum(low.values()),
        "high_tokens": sum(high.values()),
        "terms": ranked,
    }
