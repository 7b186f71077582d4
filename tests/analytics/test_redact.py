"""Redaction: every rule against a corpus of tricky cases, names, pseudonyms, the batch path."""

from __future__ import annotations

import pytest

from chatserver.analytics.redact import KnownPII, Redactor, luhn_ok, redact_text

# (text, expected) — what must go, and what must stay.
CORPUS: list[tuple[str, str]] = [
    # e-mail addresses, plain and in odd spellings
    ("mail me at maria.garcia+shop@example.co.uk please", "mail me at [EMAIL] please"),
    ("MARIA @ Example . COM", "[EMAIL]"),
    ("josé.núñez@correo.es", "[EMAIL]"),
    ("write to john (at) example (dot) com", "write to [EMAIL]"),
    ("john [at] example [dot] org or john at example dot com", "[EMAIL] or [EMAIL]"),
    ("reach me: ann{at}mail.example.net", "reach me: [EMAIL]"),
    ("x@y.com.", "[EMAIL]."),
    ("see a@b.co.uk, ok", "see [EMAIL], ok"),
    # … and look-alikes that are not addresses
    ("I'm at home.It works now", "I'm at home.It works now"),
    ("let's meet at noon dot", "let's meet at noon dot"),
    ("ping @support on twitter", "ping @support on twitter"),
    ("user@localhost", "user@localhost"),
    # payment cards: Luhn decides
    ("card 4111 1111 1111 1111 thanks", "card [CARD] thanks"),
    ("card 4111-1111-1111-1111", "card [CARD]"),
    ("card 4111111111111111", "card [CARD]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
    ("4111 1111 1111 1111 2 items", "[CARD] 2 items"),
    ("not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"),
    ("tracking 1234567812345678", "tracking 1234567812345678"),
    ("order #1234567890123 shipped", "order #1234567890123 shipped"),
    # phone numbers
    ("call +1 (555) 123-4567 now", "call [PHONE] now"),
    ("call +44 20 7946 0958", "call [PHONE]"),
    ("ring 06 12 34 56 78", "ring [PHONE]"),
    ("(555) 123-4567", "[PHONE]"),
    ("555-123-4567 or 555.123.4567", "[PHONE] or [PHONE]"),
    ("555-123-4567 555-765-4321", "[PHONE] [PHONE]"),
    ("555-1234", "[PHONE]"),
    ("5551234567", "[PHONE]"),
    ("phone: 0176 12345678", "phone: [PHONE]"),
    # … and numbers that are not phones
    ("order #5551234567", "order #5551234567"),
    ("on 2026-05-01 at 10:30", "on 2026-05-01 at 10:30"),
    ("date 01.05.2026", "date 01.05.2026"),
    ("version 10.4.2 and 2.3.14", "version 10.4.2 and 2.3.14"),
    ("amount $1,234.56 and 1.000.000", "amount $1,234.56 and 1.000.000"),
    ("invoice INV-2026-0042", "invoice INV-2026-0042"),
    ("I waited 45 minutes, 3 times", "I waited 45 minutes, 3 times"),
    ("expiry 09/27, cvc 123", "expiry 09/27, cvc 123"),
    ("ticket #48213", "ticket #48213"),
    # IP addresses
    ("from 192.168.1.20 and 10.0.0.1.", "from [IP] and [IP]."),
    ("bad ip 999.1.1.1", "bad ip 999.1.1.1"),
    ("ipv6 2001:db8::8a2e:370:7334 and ::1", "ipv6 [IP] and [IP]"),
    ("time 12:30:45", "time 12:30:45"),
    ("ratio 3:2:1", "ratio 3:2:1"),
    # nothing at all
    ("Thanks, that fixed it!", "Thanks, that fixed it!"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CORPUS)
def test_corpus(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_the_batch_path_gives_what_each_text_gives_alone() -> None:
    texts = [t for t, _ in CORPUS]
    known = Redactor(b"k" * 32).known("v1", ["Emma Wilson"], ["emma@corp.example"])
    assert Redactor.many(texts, known) == [Redactor.text(t, known) for t in texts]
    assert Redactor.many([t for t, _ in CORPUS]) == [e for _, e in CORPUS]


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("340000000000009")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("1234567812345678")


def test_known_names_and_emails_become_the_pseudonym_and_a_placeholder() -> None:
    redactor = Redactor(b"k" * 32)
    known = redactor.known("visitor-1", ["Maria José García", None], ["MJG@corp.example"])
    out = redactor.text(
        "Hi Maria! maria josé garcía wrote from mjg@CORP.example; Garcías is a shop", known
    )
    p = redactor.pseudonym("visitor-1")
    assert out == f"Hi {p}! {p} wrote from [EMAIL]; Garcías is a shop"


def test_short_name_parts_are_left_alone() -> None:
    known = KnownPII("Visitor-000000", ["Li Wei"], [])
    # "Li Wei" as a whole and "Wei" go; "li" alone (two letters) would eat too much text.
    assert known.apply("Li Wei said: Wei here, please link it") == (
        "Visitor-000000 said: Visitor-000000 here, please link it"
    )


def test_pseudonyms_are_stable_per_key_and_do_not_show_the_id() -> None:
    a, b = Redactor(b"a" * 32), Redactor(b"b" * 32)
    assert a.pseudonym("v1") == a.pseudonym("v1") != a.pseudonym("v2")
    assert a.pseudonym("v1") != b.pseudonym("v1")
    assert a.visitor_ref("v1").startswith("v_") and "v1" not in a.visitor_ref("v1")[2:]
    with pytest.raises(ValueError, match="16 bytes"):
        Redactor(b"short")
