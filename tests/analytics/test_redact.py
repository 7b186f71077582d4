"""Redaction: every rule against a corpus of tricky cases, names, pseudonyms, the batch path."""

from __future__ import annotations

import random
import re

import pytest

from chatserver.analytics.redact import Redactor
from chatserver.analytics.redact_known import KnownPII
from chatserver.analytics.redact_patterns import luhn_ok, redact_text

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
    # What the quick tests in front of the rules must not let through: spelled-out addresses
    # with other brackets, spacing and case, and a bracketed "dot" after a bare " at "…
    ("write to john at example (dot) com", "write to [EMAIL]"),
    ("ann{at }mail.example.net", "[EMAIL]"),
    ("ann <at > mail.example.net", "[EMAIL]"),
    ("john (at\t) example (dot) com", "[EMAIL]"),
    ("john\tat\texample\tdot\tcom", "[EMAIL]"),
    ("JOHN (AT) EXAMPLE (DOT) COM", "[EMAIL]"),
    # … numbers with no "+", grouped by spaces, dashes or dots, in ASCII text or not …
    ("my number is 0176 12345678, thanks", "my number is [PHONE], thanks"),
    ("téléphone : 06 12 34 56 78", "téléphone : [PHONE]"),
    ("Kartennummer 4111-1111-1111-1111 – danke", "Kartennummer [CARD] – danke"),
    ("números 5555 5555 5555 4444 ¿vale?", "números [CARD] ¿vale?"),
    ("full width ４１１１ １１１１ １１１１ １１１１", "full width [CARD]"),
    ("arabic ٤١١١ ١١١١ ١١١١ ١١١١ digits", "arabic [CARD] digits"),
    ("not a card ٤١١١ ١١١١ ١١١١ ١١١٢", "not a card ٤١١١ ١١١١ ١١١١ ١١١٢"),
    # … IPv6 with all eight groups (no "::") and IPv4 at the very end
    ("from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 today", "from [IP] today"),
    ("server 10.20.30.40", "server [IP]"),
    # Phone numbers (and IPv4 addresses) in the digits of other scripts, as cards are: every
    # form the ASCII rules take, with the same exceptions
    ("اتصل ٠١٧٦ ١٢٣٤٥٦٧٨ شكرا", "اتصل [PHONE] شكرا"),  # trunk prefix, Arabic-Indic
    ("my number ٠١٧٦-١٢٣٤٥٦٧٨ ok", "my number [PHONE] ok"),
    ("नंबर ०१७६ १२३४५६७८ है", "नंबर [PHONE] है"),  # Devanagari
    ("call ０１７６ １２３４５６７８", "call [PHONE]"),  # full width
    ("شماره ۰۹۱۲ ۳۴۵ ۶۷۸۹", "شماره [PHONE]"),  # extended Arabic-Indic (Persian)
    ("রিং ০৬ ১২ ৩৪ ৫৬ ৭৮", "রিং [PHONE]"),  # Bengali, grouped
    ("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", "[PHONE]"),
    ("(٥٥٥) ١٢٣-٤٥٦٧ and ٥٥٥-١٢٣٤", "[PHONE] and [PHONE]"),
    ("٥٥٥-١٢٣-٤٥٦٧ ٥٥٥-٧٦٥-٤٣٢١", "[PHONE] [PHONE]"),
    ("bare ٥٥٥١٢٣٤٥٦٧ and ０１７６１２３４５６７", "bare [PHONE] and [PHONE]"),
    ("mixed 0176 １２３４５６７８", "mixed [PHONE]"),
    ("from ١٩٢.١٦٨.١.٢٠ and ２５５.２５５.２５５.０", "from [IP] and [IP]"),
    ("order #٥٥٥١٢٣٤٥٦٧ on ٢٠٢٦-٠٥-٠١", "order #٥٥٥١٢٣٤٥٦٧ on ٢٠٢٦-٠٥-٠١"),
    (
        "bad ٩٩٩.١.١.١, version ٢.٣.١٤, ticket #٤٨٢١٣",
        "bad ٩٩٩.١.١.١, version ٢.٣.١٤, ticket #٤٨٢١٣",
    ),
    ("date ٠١.٠٥.٢٠٢٦ and ٠١٢ ٣٤", "date ٠١.٠٥.٢٠٢٦ and ٠١٢ ٣٤"),
]


@pytest.mark.parametrize(("text", "expected"), CORPUS)
def test_corpus(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_the_batch_path_gives_what_each_text_gives_alone() -> None:
    texts = [t for t, _ in CORPUS]
    known = Redactor(b"k" * 32).known("v1", ["Emma Wilson"], ["emma@corp.example"])
    assert Redactor.many(texts, known) == [Redactor.text(t, known) for t in texts]
    assert Redactor.many([t for t, _ in CORPUS]) == [e for _, e in CORPUS]


def test_the_batch_path_takes_texts_already_joined() -> None:
    texts = [t for t, _ in CORPUS]
    known = Redactor(b"k" * 32).known("v1", ["Emma Wilson"], ["emma@corp.example"])
    assert Redactor.many("\0".join(texts), known) == [Redactor.text(t, known) for t in texts]
    assert Redactor.many("one text, 555-1234") == ["one text, [PHONE]"]
    # A text holding a NUL itself cannot be joined: each is done on its own.
    odd = ["a\0b 555-1234", "call 5551234567"]
    assert Redactor.many(odd) == ["a\0b [PHONE]", "call [PHONE]"]


def test_a_name_with_a_nul_cannot_join_two_texts() -> None:
    known = KnownPII("Visitor-000000", ["Ann\0Lee"], [])
    texts = ["Hi Ann", "Lee here"]
    assert Redactor.many(texts, known) == [Redactor.text(t, known) for t in texts]
    assert Redactor.many(texts, known) == ["Hi Ann", "Lee here"]


def _luhn_by_the_book(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("340000000000009")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("1234567812345678")
    assert luhn_ok("") and luhn_ok("0") and not luhn_ok("1")
    rng = random.Random(7)
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 19)))
        assert luhn_ok(digits) == _luhn_by_the_book(digits), digits


def test_known_names_and_emails_become_the_pseudonym_and_a_placeholder() -> None:
    redactor = Redactor(b"k" * 32)
    known = redactor.known("visitor-1", ["Maria José García", None], ["MJG@corp.example"])
    out = redactor.text(
        "Hi Maria! maria josé garcía wrote from mjg@CORP.example; Garcías is a shop", known
    )
    p = redactor.pseudonym("visitor-1")
    assert out == f"Hi {p}! {p} wrote from [EMAIL]; Garcías is a shop"


@pytest.mark.parametrize(
    ("names", "text", "expected"),
    [
        # Turkish: "İ" lower-cases to two characters ("i" and a combining dot above); the
        # dotted and dotless i are taken as one letter.
        (["İlker Şahin"], "İlker here", "P here"),
        (["İlker Şahin"], "ilker here, İLKER ŞAHİN there", "P here, P there"),
        (["İlker Şahin"], "ILKER, ılker and i\u0307lker", "P, P and P"),
        (["ilker sahin"], "İlker'in dosyası; SAHİN", "P'in dosyası; P"),
        (["İlker Şahin"], "Sahin, İlkerx, xİlker", "Sahin, İlkerx, xİlker"),  # accents stay
        (["Işık"], "IŞIK, ışık, işik, ISIK", "P, P, P, ISIK"),
        (["İlker"], "Straße, ﬁne: İlker.", "Straße, ﬁne: P."),  # text folds longer
        # German: "ß", "ẞ" and "ss" fold alike, so the usual upper case "SS" matches.
        (
            ["Jörg Weiß"],
            "Herr WEISS, Herr Weiß, Herr WEIẞ, Herr weiss",
            "Herr P, Herr P, Herr P, Herr P",
        ),
        (["Jörg Weiss"], "weiß; Weißmann", "P; Weißmann"),
        (["Straßer"], "STRASSER und straßer.", "P und P."),
        # Greek: final sigma, and the upper case.
        (["Νίκος Παπαδόπουλος"], "ΝΊΚΟΣ ΠΑΠΑΔΌΠΟΥΛΟΣ, νίκοσ, Νίκος's", "P, P, P's"),
        (["Οδυσσέας"], "ΟΔΥΣΣΈΑΣ και Οδυσσεας", "P και Οδυσσεας"),
        # A name that lower-cases longer, in text that does not.
        (["İbrahim"], "ibrahim İBRAHİM ıbrahım", "P P P"),
        # A text holding the visitor's e-mail in another case, with a Turkish dotted I.
        (["Ayşe"], "write to AYŞE.İLKER@ÖRNEK.COM.TR", "write to [EMAIL]"),
    ],
)
def test_names_match_however_cased_in_any_script(
    names: list[str], text: str, expected: str
) -> None:
    known = KnownPII("P", names, ["ayşe.ilker@örnek.com.tr"])
    assert known.apply(text) == expected
    # The same in a conversation's batch, beside texts of either kind.
    texts = ["Straße", text, "plain ascii", text.upper()]
    assert Redactor.many(texts, known) == [Redactor.text(t, known) for t in texts]


def test_names_in_any_case_and_overlapping_needles() -> None:
    known = KnownPII("P", ["Anna Annabel", "Belle"], [])
    # Longest first at a place, leftmost first overall, whole words only, then on from the
    # end of each match (the regex alternation's rules, which `_whole_needles` follows).
    assert known.apply("ANNA ANNABEL, annabel; Annas anna-belle BELLE") == ("P, P; Annas P-P P")
    # A text whose lower case is longer (İ): the names are found in the text itself.
    assert KnownPII("P", ["Anna"], []).apply("İ: ANNA and anna") == "İ: P and P"


def _fold_by_the_book(text: str) -> str:
    """Case folding as redact_known.py documents it: ``casefold``, the dotless i as i, an i and the
    dots above after it as one i."""
    return re.sub("i\u0307+", "i", text.casefold().replace("ı", "i"))


def _inside_a_letter(text: str) -> list[bool]:
    """Per position: is this a dot above that belongs to the i before it?"""
    inside = [False] * (len(text) + 1)
    for k in range(1, len(text)):
        if text[k] == "\u0307":
            before = text[k - 1]
            inside[k] = inside[k - 1] or _fold_by_the_book(before).endswith("i")
    return inside


def _names_by_the_book(needles: tuple[str, ...], text: str, replacement: str) -> str:
    """Every whole word of ``text`` that folds to a needle, leftmost first, at one place the
    first needle in order, none overlapping one taken before — tried at every place."""
    inside = _inside_a_letter(text)
    word = [c.isalnum() or c == "_" for c in text]
    out, done, i, n = [], 0, 0, len(text)
    while i < n:
        hit = None
        if not inside[i] and not (i > 0 and word[i - 1]):
            for needle in needles:
                for j in range(i + 1, n + 1):
                    if (j < n and (inside[j] or word[j])) or (
                        _fold_by_the_book(text[i:j]) != needle
                    ):
                        continue
                    hit = j
                    break
                if hit is not None:
                    break
        if hit is None:
            i += 1
            continue
        out += [text[done:i], replacement]
        done = i = hit
    return "".join(out) + text[done:]


def test_finding_names_matches_the_definition() -> None:
    """Names and texts over letters that fold to more or fewer letters (ß, ẞ, İ, ﬁ, ŉ, the
    dot above), Greek sigmas and word boundaries, against the definition tried everywhere."""
    rng = random.Random(3)
    letters = ["a", "b", "A", "B", "s", "S", "i", "I", "ß", "ẞ", "İ", "ı", "\u0307", "ﬁ",
               "f", "ŉ", "n", "σ", "ς", "Σ", "é"]  # fmt: skip
    alphabet = [*letters, " ", "_", "-", ".", "'"]
    for _ in range(4000):
        names = [
            "".join(rng.choice([*letters, " "]) for _ in range(rng.randint(1, 6))) for _ in range(2)
        ]
        known = KnownPII("<P>", names, [])
        # The names themselves, in other cases, among the letters.
        variants = [f(n) for n in names for f in (str.upper, str.lower, str.swapcase, str.title)]
        pieces = alphabet + variants * 3
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        want = _names_by_the_book(known._needles, text, "<P>")
        out, folded = known.apply_lowered(text)
        assert out == want, (names, text)
        assert folded is None or folded == _fold_by_the_book(out), (names, text)
        assert all(n == _fold_by_the_book(n) for n in known._needles)


def test_the_fold_and_where_each_character_lands() -> None:
    from chatserver.analytics.redact_known import _fold, _irregular

    texts = ["", "ascii", "İlker", "i\u0307\u0307x", "İ\u0307", "\u0307i", "ßẞﬁŉ", "ΣΑΣ ς",
             "ﬁ\u0307ß", "ı\u0307 a\u0307", "Straße İ\u0307 i\u0307\u0307ß"]  # fmt: skip
    for text in texts:
        folded, aligned = _fold(text)
        assert folded == _fold_by_the_book(text)
        # By the book: where each character starts in the folded text (a dot above that
        # joins an i folds to nothing).
        inside = _inside_a_letter(text)
        sizes = [0 if inside[k] else len(_fold_by_the_book(c)) for k, c in enumerate(text)]
        starts = [sum(sizes[:k]) for k in range(len(text) + 1)]
        assert starts[-1] == len(folded)
        # "aligned" may say no for nothing (then places are mapped), never yes wrongly.
        assert not aligned or starts == list(range(len(text) + 1))
        if text.isascii():
            assert aligned
        irregular = _irregular(text)
        for f in range(len(folded) + 1):
            last = max(k for k in range(len(text) + 1) if starts[k] <= f)
            assert irregular.place(f) == (last, starts[last] == f), (text, f)
    # `_irregular` looks for them below U+20000: nothing above folds to more, or to an i.
    import sys

    above = (chr(c).casefold() for c in range(0x20000, sys.maxunicode + 1))
    assert all(len(f) == 1 and f not in ("i", "ı") for f in above)


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


def _unguarded(text: str) -> str:
    """`redact_text` with no quick test in front of any rule: every rule's regex on all the
    text (the number rules on every run of digits, as they were before the guards)."""
    from chatserver.analytics import redact_patterns as r

    text = r._emails(text)
    text = r._EMAIL_SPELLED.sub(r.EMAIL, text)
    text = r._IPV6.sub(r._ipv6, text)
    for m in reversed(list(r._RUN.finditer(text))):
        start, end = m.span()
        if sum(c.isdigit() for c in text[start:end]) < 4:
            continue
        while start > 0 and text[start - 1] in "+( " and end - start < 40:
            start -= 1
        lo, hi = max(0, start - 1), min(len(text), end + 3)
        ipv4, phone = r._number_rules(text[lo:hi])
        segment = ipv4.sub(r.IP, text[lo:hi])
        segment = phone.sub(r._phone, r._CARD.sub(r._card, segment))
        text = text[:lo] + segment + text[hi:]
    return text


_PIECES = [
    *(t for t, _ in CORPUS), "at", " at ", "AT", "(", ")", "[", "]", "{", "}", "<", ">", "dot",
    " dot ", "DOT", "@", ".", ",", "-", "+", " ", "\t", "\n", ":", "::", "0", "1", "4", "5",
    "06", "555", "1234", "4111", "٤١١١", "é", "İ", "ß", "x", "mail", "example", "com",
    "٠", "٠١٧٦", "١٢٣٤٥٦٧٨", "०१७६", "１２３４", "#", "/", "(", ")", "192.168", ".1",
]  # fmt: skip


def test_the_quick_tests_never_skip_what_a_rule_would_take() -> None:
    rng = random.Random(11)
    for _ in range(4000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 9)))
        assert redact_text(text) == _unguarded(text), repr(text)


def test_the_batch_path_on_random_conversations() -> None:
    rng = random.Random(5)
    pieces = [*_PIECES, "Hi Emma,", "emma wilson", "EMMA@CORP.EXAMPLE", "Wilson's", "\0",
              "İLKER", "ilker weiss", "WEIẞ", "Straße", "i\u0307lker", "İlker@Örnek.com"]  # fmt: skip
    redactor = Redactor(b"k" * 32)
    emma = redactor.known("v1", ["Emma Wilson"], ["emma@corp.example"])
    ilker = redactor.known("v2", ["İlker Weiß"], ["ilker@örnek.com", "ILKER@ÖRNEK.COM"])
    for i in range(3000):
        known = emma if i % 2 else ilker
        texts = [
            "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
            for _ in range(rng.randint(1, 8))
        ]
        want = [Redactor.text(t, known) for t in texts]
        assert Redactor.many(texts, known) == want, texts
        if not any("\0" in t for t in texts):
            assert Redactor.many("\0".join(texts), known) == want, texts


# Each script's digits, and the ASCII text they stand for.
_SCRIPTS = [
    "٠١٢٣٤٥٦٧٨٩",
    "۰۱۲۳۴۵۶۷۸۹",
    "०१२३४५६७८९",
    "০১২৩৪৫৬৭৮৯",
    "０１２３４５６７８９",
    "๐๑๒๓๔๕๖๗๘๙",
]


def test_numbers_in_other_scripts_are_redacted_as_in_ascii() -> None:
    """The number rules do not care which script a number is written in: the text with its
    ASCII digits put into another script is redacted as the ASCII text is (the placeholders
    hold no digit), for random texts of numbers, separators and words."""
    rng = random.Random(17)
    pieces = [
        "0", "1", "4", "5", "9", "06", "25", "255", "555", "0176", "1234", "4111", "12345678",
        "2026", " ", " ", "-", ".", "/", "(", ")", "+", "#", ",", "call", "x", "é",
    ]  # fmt: skip
    corpus = [t for t, _ in CORPUS if t.isascii() and ":" not in t and "@" not in t]
    for i in range(3000):
        text = (
            corpus[i % len(corpus)]
            if i < len(corpus)
            else "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        )
        want = redact_text(text)
        for digits in _SCRIPTS:
            table = str.maketrans("0123456789", digits)
            assert redact_text(text.translate(table)) == want.translate(table), (text, digits)


def test_every_script_with_decimal_digits_is_known() -> None:
    import sys
    import unicodedata

    from chatserver.analytics.redact_patterns import _any_script

    every = set(re.findall(r"\d", "".join(map(chr, range(sys.maxunicode + 1)))))
    to_ascii = _any_script().to_ascii
    assert {chr(c) for c in to_ascii} == every
    assert all(chr(a) == str(unicodedata.decimal(chr(c))) for c, a in to_ascii.items())
