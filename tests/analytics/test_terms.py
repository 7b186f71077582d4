"""The terms that hurt: the weighted log-odds recomputed here from the generated data."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from chatserver.analytics.redact import Redactor
from chatserver.analytics.rollups import tally
from chatserver.analytics.sample import SampleData
from chatserver.analytics.terms import TermCounts, log_odds, pain_terms, tokens
from chatserver.store import Filters, ReadSnapshot
from tests.analytics.helpers import snapshot_of


def fightin_words(low: Counter[str], high: Counter[str], term: str) -> float:
    """Monroe, Colaresi & Quinn (2008), eq. 16-22, prior = pooled counts."""
    n1, n2 = sum(low.values()), sum(high.values())
    a = low[term] + high[term]
    a0 = n1 + n2
    l1 = math.log((low[term] + a) / (n1 + a0 - low[term] - a))
    l2 = math.log((high[term] + a) / (n2 + a0 - high[term] - a))
    return (l1 - l2) / math.sqrt(1 / (low[term] + a) + 1 / (high[term] + a))


def counts_of(snap: ReadSnapshot, redactor: Redactor) -> TermCounts:
    """The term counts of the whole store, as a summary gathers them."""
    counts = tally(snap, Filters(), redactor)[1]
    assert counts is not None
    return counts


def test_log_odds_formula_on_a_small_example() -> None:
    low = Counter({"refund": 8, "slow": 4, "great": 1, "app": 5})
    high = Counter({"refund": 1, "great": 9, "app": 5})
    ranked = log_odds(low, high, min_count=1)
    assert [t["term"] for t in ranked][:2] == ["refund", "slow"]
    for t in ranked:
        assert t["z"] == pytest.approx(fightin_words(low, high, t["term"]))
    assert ranked[-1]["term"] == "great" and ranked[-1]["z"] < 0
    assert all(t["low"] >= 3 for t in log_odds(low, high, min_count=3))


def test_pain_terms_match_an_independent_count(sample: SampleData, sample_url: str) -> None:
    with snapshot_of(sample_url) as snap:
        redactor = Redactor(snap.key("pseudonym"))
        got = pain_terms(snap, Filters(), redactor, counts_of(snap, redactor), top=8, examples=2)
    low: Counter[str] = Counter()
    high: Counter[str] = Counter()
    for c in sample.conversations:
        if c.rating is None or c.rating == 3:
            continue
        known = redactor.known(c.visitor_id, [c.name], [c.email])
        texts = [
            e.body["text"] for e in c.events if e.kind == "message" and e.actor_role == "visitor"
        ]
        if c.comment:
            texts.append(c.comment)
        target = low if c.rating <= 2 else high
        for text in texts:
            target.update(tokens(Redactor.text(text, known)))
    assert got["low_tokens"] == sum(low.values())
    assert got["high_tokens"] == sum(high.values())
    mine = sorted((t for t in low if low[t] >= 3), key=lambda t: (-fightin_words(low, high, t), t))[
        :8
    ]
    assert [t["term"] for t in got["terms"]] == mine
    for t in got["terms"]:
        assert t["z"] == pytest.approx(fightin_words(low, high, t["term"]))
        assert (t["low"], t["high"]) == (low[t["term"]], high[t["term"]])


def test_the_generated_pain_shows_and_quotes_are_redacted(
    sample: SampleData, sample_url: str
) -> None:
    with snapshot_of(sample_url) as snap:
        redactor = Redactor(snap.key("pseudonym"))
        got = pain_terms(snap, Filters(), redactor, counts_of(snap, redactor), top=12)
    terms = [t["term"] for t in got["terms"]]
    # The issues the generator makes hurt (double charges, lost refunds, lock-outs, crashes).
    assert {"refund", "locked", "crashes"} <= set(terms) or {"twice", "refund"} <= set(terms)
    assert "great" not in terms and "thanks" not in terms
    pii = {p for c in sample.conversations for p in (c.email, c.name)}
    for t in got["terms"]:
        assert 1 <= len(t["examples"]) <= 2
        assert len({ex["quote"] for ex in t["examples"]}) == len(t["examples"])
        for ex in t["examples"]:
            assert ex["rating"] <= 2
            assert t["term"] in ex["quote"].lower()
            assert not any(p in ex["quote"] for p in pii)
