"""Contact-detail detection for chat messages (pure Python: no I/O, no models).

`find_contact_details(text)` returns the spans of a message that look like a way to reach a
person outside Expertline: a phone number, an email address, a messaging handle (or an
invitation to move to a messaging app), a meeting link, or a home address.
`has_contact_details(text)` is its boolean. The composer's warning
(`static/js/contact-warning.js`) is a port of the same patterns and word lists
(tests/privacy/test_detection_js.py checks they agree); this module is the authority.

The rules are shapes plus context, not lists of known strings. Each candidate is found by a
compiled pattern, then judged by the words just before it in its clause (at most eight,
nearest first; a clause ends at ! ? ; a line break or a full stop) and sometimes just after.

Phones
    A run of 7 to 15 digits joined by spaces, dashes, dots, slashes or parentheses, optionally
    after "+", not glued to a word, a URL, an amount, a decimal or a time.

    Shape: dates ("2024-03-15", "15.03.2024", "2024-11-30 23:59"), year ranges, IP addresses
    and US social security numbers are never phones. *Strong* shapes are "+"/"00"
    international numbers, North American groupings ("(415) 555-0132", "415.555.0132",
    "1-415-555-0132", a valid bare ten-digit number), trunk-prefixed national numbers
    ("07700 900123", "020 7946 0958", "06 12 34 56 78") and ten or more spaced single digits.
    Other runs are *weak* ("555-1234", "1234 5678") and count only with a phone word (call,
    text, cell, number, WhatsApp...) near them or in the message. A phone among other numbers
    ("415 555 0132 2 times") is found as the strong part of the run.

    Context, nearest deciding word first: "me", "my", "our" ("call me at", "my husband's
    number is", "my office line") make it personal; an identifier label right before it, with
    only filler between (order, case, ticket, invoice, tracking, ref, account, claim, serial,
    model, VIN, NHS number, build, error, quote...), makes it an identifier; an organisation,
    service or public place anywhere in the clause (hotline, helpline, poison control,
    support, customer service, clinic, pharmacy, surgery, the IRS, the DMV, Apple, Comcast...)
    makes it a public line. Toll-free and non-geographic service numbers (800/888/877/866/855/
    844/833 in North America, 0800/0808/03xx/084x/087x in the UK, 1800/1300 in Australia) are
    public lines unless offered as "me"/"my". Emergency and short codes (911, 111, 988,
    116 123, 13 11 14) have too few digits. A unit after the run (mg, ml, units, %, miles, GB,
    USD, hours...) or a currency sign before it makes it a quantity. Digits spelled out
    ("five five five, oh one three two", "double seven") count when seven or more follow each
    other, three of them at least in words.

Emails
    "local@domain.tld", and the obfuscations "[at]", "(at)", "{at}", " @ ", "[dot]", "(dot)",
    " dot " ("jane dot doe at gmail dot com", "jane[at]example[dot]com", "catlover88 at
    gmail"). The bare word "at" ("shop at amazon.com") counts only when the rest looks like
    an address: a spelled-out dot, a dotted or numbered local part, a free-mail provider with
    its TLD, or an email word in the message. Machine addresses (pi@raspberrypi.local,
    git@github.com) and placeholders (user@example.com) are not personal.

    Decision on organisations' addresses: a generic role mailbox (support@, info@, help@,
    contact@, sales@, billing@, privacy@, noreply@, customerservice@...) is an organisation's
    public inbox, like a hotline: "write to support@apple.com" is advice, not contact details.
    It is flagged when the writer offers it as theirs ("email me at info@smithlaw.com", "our
    email is hello@...", "sales@mybakery.com is my own business email"), because that is how
    a business takes a client off the platform. Any other local part (jane.doe@nhs.net) is a
    person's address.

Handles
    "platform: name", "my instagram is jane.doe", "skype id jane99", "discord jane#1234",
    "Skype ID: live:mike.repairs"; the name must stand alone at the end of its clause and not
    be an ordinary word ("Skype: messages not syncing", "my WhatsApp is broken" are
    complaints). "@name" near a platform or a social verb, or shaped like a handle
    ("@jane_doe"), but not an account one follows ("I follow @NASA"); "jane_doe99 on Skype";
    Discord tags when Discord is mentioned; profile links (instagram.com/..., linkedin.com/in/
    ..., t.me/..., wa.me/..., facebook.com/...); and invitations to move to a messaging app
    ("WhatsApp me", "add me on snap", "let's continue on Telegram", "are you on Signal?",
    "I'm on Telegram if that's easier"), unless refused ("please don't DM me on Instagram").
    Signal, Snap, X, Line and Threads are ordinary words too and need an unmistakable form.

Meeting links
    Join and room links of Zoom (/j/, /my/, /wc/), Google Meet codes, Teams meetup-join,
    Whereby rooms, Webex, Jitsi, GoTo, Skype join links, Calendly booking pages and a few
    others, and "Zoom meeting ID 812 3456 7890". Other pages of the same sites
    (zoom.us/download, whereby.com/pricing) are not.

Addresses
    A house number, one to four words of street name and a street type (Street, St, Avenue,
    Rd, Lane, Blvd, Close, Way...), with an optional flat/apartment/unit, city, US ZIP or UK
    postcode; continental forms ("Hauptstraße 5, 10115 Berlin", "23 rue des Lilas"); a PO box
    offered as mine; and a numbered place after "I live at", "my address is", "send it to".
    Lower-case street names need an unmistakable street type, so "a 1 TB hard drive" and "a
    10 minute walk" are not addresses; nor is "chapter 7 bankruptcy court". The address of a
    public place is not flagged: when the nearest deciding word before it is a place, an
    organisation or a workplace ("the clinic at 1 Main Street", "the courthouse at 100 Centre
    St", "Walgreens at 500 Market St", "he works at 10 Downing Street"). "I live at", "my
    house", "send it to", "my office at" make it personal. A street without a house number
    ("I live on Elm Street", "the Apple Store on 5th Avenue") and a postcode alone are not
    addresses.

Overlapping findings keep the more specific kind (email, meeting link, handle, phone,
address); overlapping findings of one kind merge. Patterns use ASCII classes, and Unicode
spaces count as spaces, as in the JavaScript port. Patterns that are costly to try
everywhere run only in small windows around the words that can anchor them, so a
5,000-character message takes about a millisecond (a few when it is packed with numbers).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["KINDS", "Finding", "find_contact_details", "has_contact_details"]

KINDS = ("phone", "email", "handle", "meeting_link", "address")
_PRIORITY = {"email": 0, "meeting_link": 1, "handle": 2, "phone": 3, "address": 4}


@dataclass(frozen=True)
class Finding:
    kind: str  # "phone" | "email" | "handle" | "meeting_link" | "address"
    start: int
    end: int
    text: str


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


def _ci(words: str) -> str:
    """Case-insensitive alternatives without an inline flag (as the JavaScript port needs)."""
    return "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)
        for word in words.split()
    )


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    # ASCII classes (\d, \w, \b), as in the JavaScript port.
    return re.compile(pattern, flags | re.ASCII)


# --------------------------------------------------------------------------- the message

# Expensive patterns run only in small windows around the words that can start or end them,
# so a long message costs about as much as its short pieces.
_WORD_SCAN_RE = re.compile(r"[^\W\d_][\w'’]*")  # any script's letters
_WHITESPACE_RE = _rx(r"\s")
_SPACES = {
    ord(c): " "
    for c in "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
}
# Full-width forms ("＠", "０７７００") read as their ASCII letters: one character for one.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}


class _Scan:
    """The message, lower-cased, with where each (lower-cased) word occurs."""

    __slots__ = (
        "_bound_ends",
        "_bound_starts",
        "_indexed",
        "_tok_ends",
        "_tok_norm",
        "_tok_raw",
        "_tok_starts",
        "lower",
        "text",
        "words",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        if len(self.lower) != len(text):  # "İ" lower-cases to two characters: keep positions
            self.lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        self.words: dict[str, list[tuple[int, int]]] = {}
        self._indexed = False
        for m in _WORD_SCAN_RE.finditer(self.lower):
            self.words.setdefault(m.group(), []).append(m.span())

    def spans(self, vocab: Iterable[str]) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for word in vocab:
            found.extend(self.words.get(word, ()))
        return found

    def has(self, vocab: Iterable[str]) -> bool:
        return any(word in self.words for word in vocab)

    def occurrences(self, needle: str) -> list[int]:
        found, i = [], self.lower.find(needle)
        while i >= 0:
            found.append(i)
            i = self.lower.find(needle, i + 1)
        return found

    def token_end(self, pos: int) -> int:
        m = _WHITESPACE_RE.search(self.text, pos)
        return m.start() if m else len(self.text)

    # The clause around a position and its words, computed once for the whole message.

    def _index_context(self) -> None:
        bounds = [m.span() for m in _BOUNDARY_RE.finditer(self.text)]
        self._bound_starts = [a for a, _ in bounds]
        self._bound_ends = [b for _, b in bounds]
        tokens = list(_TOKEN_RE.finditer(self.text))
        self._tok_starts = [t.start() for t in tokens]
        self._tok_ends = [t.end() for t in tokens]
        self._tok_raw = [t.group() for t in tokens]
        self._tok_norm: list[str | None] = [None] * len(tokens)
        self._indexed = True

    def clause_start(self, pos: int) -> int:
        if not self._indexed:
            self._index_context()
        k = bisect_right(self._bound_ends, pos) - 1
        return max(self._bound_ends[k] if k >= 0 else 0, pos - _WINDOW, 0)

    def clause_end(self, pos: int) -> int:
        if not self._indexed:
            self._index_context()
        k = bisect_left(self._bound_starts, pos)
        end = self._bound_starts[k] if k < len(self._bound_starts) else len(self.text)
        return min(end, pos + _WINDOW)

    def clause_before(self, pos: int) -> str:
        return self.text[self.clause_start(pos) : pos]

    def clause_after(self, pos: int) -> str:
        return self.text[pos : self.clause_end(pos)]

    def _norm(self, i: int) -> str:
        tok = self._tok_norm[i]
        if tok is None:
            tok = self._tok_norm[i] = _norm_token(self._tok_raw[i])
        return tok

    def raw_tokens_before(self, pos: int, limit: int = 8) -> list[str]:
        """The words before `pos` in its clause, nearest first, as written."""
        start = self.clause_start(pos)
        i = bisect_right(self._tok_ends, pos) - 1
        found: list[str] = []
        while i >= 0 and len(found) < limit and self._tok_starts[i] >= start:
            found.append(self._tok_raw[i])
            i -= 1
        return found

    def tokens_before(self, pos: int, limit: int = 8) -> list[str]:
        """The words before `pos` in its clause, nearest first, lower-cased, no 's."""
        start = self.clause_start(pos)
        i = bisect_right(self._tok_ends, pos) - 1
        found: list[str] = []
        while i >= 0 and len(found) < limit and self._tok_starts[i] >= start:
            found.append(self._norm(i))
            i -= 1
        return found

    def tokens_after(self, pos: int, limit: int = 5) -> list[str]:
        end = self.clause_end(pos)
        i = bisect_left(self._tok_starts, pos)
        found: list[str] = []
        while i < len(self._tok_starts) and len(found) < limit and self._tok_ends[i] <= end:
            found.append(self._norm(i))
            i += 1
        return found


def _windows(
    spans: Iterable[tuple[int, int]], before: int, after: int, limit: int
) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        a, b = max(0, s - before), min(limit, e + after)
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _search(
    regex: re.Pattern[str], text: str, windows: list[tuple[int, int]]
) -> Iterator[re.Match[str]]:
    for a, b in windows:
        yield from regex.finditer(text, a, b)


# --------------------------------------------------------------------------- context words

# A clause ends at ! ? ; a line break, or a full stop and a space after a number, after a
# word of four letters or more, or before a capital ("no. 5", "Tel. 555..." go on).
_BOUNDARY_RE = _rx(r"[!?;\n\r]|\.(?:(?<=\d\.)|(?<=[A-Za-z]{4}\.)|(?=\s+[A-Z]))\s+")
_TOKEN_RE = _rx(r"#|[A-Za-z0-9][A-Za-z0-9'’&/+-]*(?:\.[A-Za-z0-9]+)*")
_WINDOW = 90

_PERSONAL = _words("me my our us mine myself ourselves")
_POSSESSIVE_FIRST = _words("my our")
_NUMBER_WORDS = _words("number numbers no num nr nbr # #s line lines")
_FILLER = _words(
    """
    is was are were the a an my your our his her their its it's this that of for on new old
    original full complete official actual reads says said shows showed listed given
    """
)
_PERSONAL_LINES = _words("home work direct personal private contact own new old business")
_OWN_LINES = _PERSONAL_LINES | _words(
    "office cell cellphone mobile phone landline whatsapp fax desk shop clinic practice"
)

# Words that make a number an identifier of a thing, not a way to reach a person.
_LABELS = _words(
    """
    order orders ord case cases ticket tickets tkt invoice invoices inv tracking track trk
    ref reference confirmation conf booking reservation account acct a/c policy claim claims
    member membership serial s/n sn model part p/n pn sku isbn upc ean vin po item items
    transaction txn receipt id ids identifier patient mrn nhs ssn sin license licence
    registration reg plate permit build version ver kb error code pin routing iban swift bic
    sort card docket file matter lot batch ndc rx prescription record report incident request
    req application chassis imei mac barcode voucher coupon passport employee student tax ein
    tin zip postcode postal pnr flight seat parcel package shipment consignment waybill awb
    specimen sample accession citation index bill statement cheque check quote estimate rma
    warranty contract deed folio product catalog catalogue cusip meter gtin asin engine
    firmware bios revision rev sequence ip checksum hash sha md5 utr nino certificate cert
    vendor supplier room gate bay dock
    """
)

# Organisations, services and places whose numbers and addresses are public.
_PUBLIC = _words(
    """
    hotline hotlines helpline helplines lifeline crisis emergency emergencies non-emergency
    poison support helpdesk help-desk desk service services care switchboard reception
    receptionist front office offices clinic clinics hospital hospitals pharmacy pharmacist
    practice surgery gp vet vets veterinarian veterinary dentist lab laboratory department
    dept agency authority council court courthouse clerk embassy consulate police sheriff
    fire dmv irs ssa hmrc dvla nhs cdc fda ftc fbi cms medicare medicaid va samaritans
    childline aaa aarp aspca rspca store stores shop shops dealership dealer dealers
    manufacturer company firm business bank insurer insurance provider carrier utility
    school university college library center centre foundation charity organisation
    organization association society bureau board commission administration ministry
    government gov hq headquarters branch toll-free tollfree freephone apple microsoft
    google amazon comcast xfinity verizon at&t att t-mobile tmobile sprint dell hp lenovo
    samsung sony usps ups fedex dhl royal geek squad bestbuy paypal visa mastercard amex
    chase citi citibank kaiser cvs walgreens walmart target costco lowe lowes depot ikea
    starbucks mcdonald toyota honda ford tesla bmw nissan hyundai kia chevrolet chevy gm
    subaru volkswagen vw mazda geico progressive allstate aetna cigna humana unitedhealthcare
    bluecross ombudsman citizens advice acas shelter nami museum station mall restaurant
    cafe hotel airport stadium theater theatre gym park church temple mosque synagogue
    cathedral hall market supermarket salon garage showroom outlet warehouse venue arena
    gallery zoo precinct jail prison registry building tower plaza campus institute ward
    dispensary urgent er a&e general memorial parenthood terminal palace monument cemetery
    capitol parliament inc llc ltd corp plc gmbh hoa management leasing
    """
)

# Places a writer can own or run: "my office", "our shop" are the writer's own.
_OWNABLE = _words(
    """
    office offices desk practice surgery clinic clinics shop shops store stores studio salon
    garage workshop business firm company dealership agency lab bakery restaurant cafe
    """
)

_PHONE_CUES = _words(
    """
    call calls called calling ring rings text texts texting txt sms mms phone phones tel
    tele telephone cell cellphone mobile mob whatsapp viber telegram signal dial fax
    landline ph reach contact contacts
    """
)
_PHONE_VERBS = _words(
    "call calls called calling ring rings text texts texting txt sms mms dial reach"
)
# Weak phone shapes ("555-1234") count only when one of these is in the message.
_PHONE_MESSAGE_WORDS = _PHONE_CUES | _words("number digits")

# A quantity: a unit or a currency after the number.
# (Only unmistakable units: "call 415 555 0132 in the evening" is not 0132 inches.)
_UNIT_AFTER_RE = _rx(
    r"\s?(?:mg|mcg|ug|kg|grams?|ml|mls|cc|iu|units?|mmol|meq|mm|cm|km|"
    r"miles?|kms?|ft|feet|inch(?:es)?|yds?|yards?|lbs?|pounds?|oz|ounces?|"
    r"tons?|tonnes?|psi|rpm|hp|kw|kwh|volts?|amps?|mah|mph|kph|hz|khz|mhz|"
    r"ghz|gb|mb|kb|tb|bytes|bits|px|dpi|calories|kcal|usd|eur|gbp|cad|aud|"
    r"dollars?|bucks|euros?|pence|cents?|percent|degrees?|times|people|"
    r"sqft|acres?|hectares?|seconds?|secs?|minutes?|mins?|hours?|hrs?|"
    r"years?|yrs?|views|likes|followers|words|pages|rows|records|results)\b|[ \t]?[%°]",
    re.I,
)
_CURRENCY_BEFORE_RE = _rx(
    r"(?:[$€£¥₹₩₽]|\b(?:usd|eur|gbp|cad|aud|rs|inr|chf|sek|nok|dkk|jpy|cny|mxn|brl))\s*$",
    re.I,
)


def _norm_token(tok: str) -> str:
    if "'" not in tok and "’" not in tok:
        return tok.lower()
    tok = tok.lower().replace("’", "'")
    if tok.endswith("'s") and len(tok) > 2:
        tok = tok[:-2]
    return tok.rstrip("'")


def _cue_or_public(tokens: list[str], start: int) -> str:
    """After a phone word, further back in the clause: an organisation ("the pharmacy said
    call back at ...") makes it their line; a person ("me", "she", "my") keeps it a cue."""
    for j in range(start, len(tokens)):
        tok = tokens[j]
        if tok in _PERSONAL or tok in _PRONOUNS:
            return "cue"
        if tok in _PUBLIC:
            left = tokens[j + 1] if j + 1 < len(tokens) else ""
            return "cue" if left in _POSSESSIVE_FIRST and tok in _OWNABLE else "public"
    return "cue"


def _owner_before(tokens: list[str], cues: frozenset[str]) -> str | None:
    """'personal', 'label', 'public', 'cue' or None, from the nearest deciding word.

    An identifier label decides only when nothing but filler stands between it and the
    number ("order no. is 123..."); "me"/"my" only when close ("call me at", "my husband's
    number is"); organisations and phone words anywhere in the clause.
    """
    adjacent = True
    for i, tok in enumerate(tokens):
        left = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in _PERSONAL and i <= (4 if tok in _POSSESSIVE_FIRST else 3):
            return "personal"
        if tok in _NUMBER_WORDS or tok in cues:
            # "my number", "my direct line", "the clinic's phone", "order number"
            if left in _POSSESSIVE_FIRST:
                return "personal"
            owner = tokens[i + 2] if i + 2 < len(tokens) else ""
            if tok in _NUMBER_WORDS and owner in _POSSESSIVE_FIRST and left in _OWN_LINES:
                return "personal"  # "my office number", "my cell number", "our home line"
            if (left in _PUBLIC or left in _LABELS) and tok not in _PHONE_VERBS:
                return "public"  # "the clinic's phone", "the support line", "order number"
            if tok in _NUMBER_WORDS:
                continue
            return _cue_or_public(tokens, i + 1)
        if tok == "code" and left == "area":
            return "cue"
        if tok in _LABELS and adjacent:
            return "label"
        if tok in _PUBLIC:
            return "personal" if left in _POSSESSIVE_FIRST and tok in _OWNABLE else "public"
        if tok not in _FILLER:
            adjacent = False
    return None


# --------------------------------------------------------------------------- phones

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015"
_SP = "[ \\t\u00a0]"
_GROUP = rf"(?:\({_SP}?\d{{1,5}}{_SP}?\)|\d+)"
# "." joins groups only without a space after it: "on 2023-08-01. 415..." ends a sentence.
_SEP = rf"(?:{_SP}?[-/{_DASHES}]{_SP}?|{_SP}?\.(?!{_SP})|{_SP}{{1,2}}|(?<=\))|(?=\())"
_PHONE_CAND_RE = _rx(
    rf"(?<![\w@/=$€£¥₹#+{_DASHES}-])(?<!\d[.,:])(?:\+{_SP}?)?{_GROUP}(?:{_SEP}{_GROUP})*"
)
_DIGIT_GROUP_RE = _rx(r"\d+")
_NOT_SEPARATORS = frozenset("0123456789()+ \t\u00a0")
_DATE_IN_RUN_RE = _rx(
    r"(?:^|\s)(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2(?:\d{4}|\d{2}))(?:\s|$)"
)
_AREA_CODE_PARENS_RE = _rx(r"(?:1\D*)?\(\s?\d{3}\s?\)")
_GROUP_SPAN_RE = _rx(r"\(?\+?\d+\)?")

_NANP_TOLLFREE = frozenset({"800", "888", "877", "866", "855", "844", "833", "822"})
_UK_SERVICE = tuple(
    _words(
        "0800 0808 0500 0300 0303 0330 0333 0343 0344 0345 0370 0371 0372 0373 0843 0844 0845 "
        "0870 0871 0872 0873"
    )
)
_YMD_SIZES = {(4, 2, 2), (4, 1, 2), (4, 2, 1), (4, 1, 1)}
_DMY_SIZES = {(a, b, c) for a in (1, 2) for b in (1, 2) for c in (2, 4)}


def _is_tollfree(digits: str, plus: bool) -> bool:
    """Toll-free and non-geographic service numbers: organisations' lines, not people's."""
    d = digits
    if d.startswith("00"):
        d, plus = d[2:], True
    if plus:
        if d.startswith("1") and len(d) == 11:
            return d[1:4] in _NANP_TOLLFREE
        if d.startswith("44"):
            return ("0" + d[2:]).startswith(_UK_SERVICE)
        if d.startswith("61"):
            return d[2:6] in ("1800", "1300")
        return False
    if len(d) == 11 and d.startswith("1"):
        d = d[1:]
    if len(d) == 10 and d[:3] in _NANP_TOLLFREE:
        return True
    if d.startswith(_UK_SERVICE):
        return True
    return len(d) == 10 and d[:4] in ("1800", "1300")


def _phone_shape(raw: str) -> str | None:
    """'strong', 'weak' or None (not shaped like a phone number)."""
    stripped = raw.strip()
    groups = _DIGIT_GROUP_RE.findall(stripped)
    digits = "".join(groups)
    n = len(digits)
    if n < 7 or n > 15:
        return None
    sizes = tuple(len(g) for g in groups)
    seps = set(stripped) - _NOT_SEPARATORS
    parens = "(" in stripped
    if stripped.startswith("+") or (digits.startswith("00") and n >= 10 and not parens):
        return "strong" if n >= 8 else None
    one_sep = len(groups) == 3 and not parens and len(seps) == 1 and seps <= {"-", ".", "/"}
    if (one_sep and (sizes in _YMD_SIZES or sizes in _DMY_SIZES)) or _DATE_IN_RUN_RE.search(
        stripped
    ):
        return None  # a date, or a date and a time ("2024-11-30 23:59")
    if "/" in seps and not (len(groups) == 2 and digits.startswith("0") and sizes[1] >= 5):
        return None  # fractions, dates, readings; a phone with a slash looks like 030/1234567
    if sizes == (4, 4) and all(g[:2] in ("19", "20") for g in groups):
        return None  # a range of years
    if sizes == (3, 2, 4) and seps == {"-"}:
        return None  # a US social security number
    if len(groups) == 4 and seps == {"."} and max(sizes) <= 3:
        return None  # an IP address
    if parens and n in (10, 11) and _AREA_CODE_PARENS_RE.match(stripped):
        return "strong"
    if sizes in ((3, 3, 4), (1, 3, 3, 4), (3, 7), (1, 3, 7)):
        return "strong"
    if len(groups) == 1:
        if digits.endswith("000") and n <= 9:
            return None  # a round amount: 1250000
        if n == 10 and digits[0] in "23456789" and digits[3] in "23456789":
            return "strong"
        if n == 11 and digits[0] == "1" and digits[1] in "23456789":
            return "strong"
    if digits.startswith("0") and 10 <= n <= 12 and len(groups) <= 5 and min(sizes) >= 2:
        return "strong"
    if len(sizes) >= 7 and max(sizes) == 1:
        return "strong" if n >= 10 else "weak"
    if len(groups) >= 5 and max(sizes) <= 2:
        return "weak"
    if n <= 12 and len(groups) <= 4:
        return "weak"
    return None


def _phone_verdict(sc: _Scan, start: int, end: int, shape: str, tollfree: bool) -> bool:
    ctx = _owner_before(sc.tokens_before(start), _PHONE_CUES)
    if ctx is None:
        # "4155550132 is my order number", "... is the clinic's line", "... (cell)"
        after = sc.tokens_after(end)
        for i, tok in enumerate(after):
            mine = tok in _OWNABLE and i > 0 and after[i - 1] in _POSSESSIVE_FIRST
            if (tok in _LABELS or tok in _PUBLIC) and not mine:
                ctx = "label"
                break
            if tok in _PHONE_CUES or tok in _NUMBER_WORDS:
                ctx = "cue"
                break
    if ctx in ("label", "public"):
        return False
    if ctx == "personal":
        return True
    if tollfree:
        return False
    if ctx == "cue" or shape == "strong":
        return True
    return sc.has(_PHONE_MESSAGE_WORDS)


def _find_phones(sc: _Scan) -> Iterator[Finding]:
    text = sc.text
    for m in _PHONE_CAND_RE.finditer(text):
        raw = m.group()
        if len(raw) < 7 or sum(map(str.isdigit, raw)) < 7:
            continue
        start, end = m.span()
        nxt = text[end : end + 1]
        extension = nxt in "xX" and text[end + 1 : end + 2].isdigit()  # 555-0100x23
        if nxt and (nxt.isalnum() or nxt in "%°_@") and not extension:
            continue  # glued to a word: a code, a model number
        if nxt == "," and text[end + 1 : end + 2].isdigit():
            continue  # 1,299
        # A unit or a time after the run, or a currency before it, makes its last/first group
        # a quantity ("60 40 20 10 mg", "2024-11-30 23:59", "$ 1 299").
        time_after = nxt == ":" and text[end + 1 : end + 2].isdigit()
        unit_after = time_after or _UNIT_AFTER_RE.match(text, end) is not None
        money_before = _CURRENCY_BEFORE_RE.search(text, max(0, start - 6), start) is not None
        shape = None if unit_after or money_before else _phone_shape(raw)
        if shape == "strong":
            if _judge_phone(sc, raw, start, shape):
                yield Finding("phone", start, end, raw)
            continue
        found = list(_phones_within(sc, raw, start, not money_before, not unit_after))
        yield from found
        if not found and shape == "weak" and _judge_phone(sc, raw, start, shape):
            yield Finding("phone", start, end, raw)


def _judge_phone(sc: _Scan, raw: str, start: int, shape: str) -> bool:
    digits = "".join(_DIGIT_GROUP_RE.findall(raw))
    tollfree = _is_tollfree(digits, raw.startswith("+"))
    return _phone_verdict(sc, start, start + len(raw), shape, tollfree)


def _phones_within(
    sc: _Scan, raw: str, offset: int, first_ok: bool, last_ok: bool
) -> Iterator[Finding]:
    """Phone numbers among other numbers ("415 555 0132 2 times", "on 2023-08-01 415-555-0132"):
    runs of groups with a strong shape, cut only where the run has a space."""
    spans = [g.span() for g in _GROUP_SPAN_RE.finditer(raw)]
    n = len(spans)
    if not 2 <= n <= 12:
        return
    cuts = [k for k in range(1, n) if any(c.isspace() for c in raw[spans[k - 1][1] : spans[k][0]])]
    starts = ([0] if first_ok else []) + cuts
    ends = sorted(set(cuts) | ({n} if last_ok else set()), reverse=True)
    done = 0
    for i in starts:
        if i < done:
            continue
        for j in ends:
            if j <= i or (i, j) == (0, n):
                continue
            sub = raw[spans[i][0] : spans[j - 1][1]]
            s = offset + spans[i][0]
            if _phone_shape(sub) == "strong" and _judge_phone(sc, sub, s, "strong"):
                yield Finding("phone", s, s + len(sub), sub)
                done = j
                break


_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_REPEATS = {"double": 2, "triple": 3}
_NUMWORD = (
    r"(?:zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine|double|triple|\d{1,4})"
)
_SPELLED_RE = _rx(
    rf"(?<![\w'’-])(?:\+\s?)?{_NUMWORD}(?:[\s,.\-{_DASHES}]{{1,3}}{_NUMWORD}\b){{4,}}",
    re.I,
)
_SPELLED_TOKEN_RE = _rx(r"[A-Za-z]+|\d+")


def _find_spelled_phones(sc: _Scan) -> Iterator[Finding]:
    triggers = sc.spans(_DIGIT_WORDS)
    if len(triggers) < 3:
        return
    text = sc.text
    for m in _search(_SPELLED_RE, text, _windows(triggers, 12, 40, len(text))):
        digits, words, repeat = "", 0, 1
        for tok in _SPELLED_TOKEN_RE.findall(m.group()):
            low = tok.lower()
            if low in _REPEATS:
                repeat = _REPEATS[low]
                continue
            if tok.isdigit():
                digits += tok * repeat
            else:
                digits += _DIGIT_WORDS[low] * repeat
                words += 1
            repeat = 1
        if words < 3 or not 7 <= len(digits) <= 15:
            continue
        if _owner_before(sc.tokens_before(m.start()), _PHONE_CUES) in ("label", "public"):
            continue
        yield Finding("phone", m.start(), m.end(), m.group())


# --------------------------------------------------------------------------- emails

_EMAIL_RE = _rx(
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
)
_OB_AT_RE = _rx(
    r"[ \t]*[\[\(\{<][ \t]*(?:at|@)[ \t]*[\]\)\}>][ \t]*|[ \t]+(?:at|@)[ \t]+|[ \t]*@[ \t]*",
    re.I,
)
_OB_DOT = r"(?:[ \t]*[\[\(\{<][ \t]*(?:dot|\.)[ \t]*[\]\)\}>][ \t]*|[ \t]+dot[ \t]+|[ \t]?\.[ \t]?)"
_OB_WORD = r"[a-z0-9](?:[a-z0-9_+-]{0,40}[a-z0-9])?"
_OB_DOT_RE = _rx(_OB_DOT, re.I)
_ALPHA_TLD_RE = _rx(r"[a-z]{2,3}", re.I)
_SPELLED_OUT_RE = _rx(r"dot|[\[\(\{<]", re.I)
_OB_DOMAIN_RE = _rx(rf"{_OB_WORD}(?:{_OB_DOT}{_OB_WORD}){{0,3}}", re.I)
_OB_LOCAL_END_RE = _rx(rf"(?<![\w.@'’]){_OB_WORD}(?:{_OB_DOT}{_OB_WORD}){{0,3}}\Z", re.I)
# "k e v i n @ g m a i l . c o m": one character at a time.
_SPACED_EMAIL_RE = _rx(
    r"(?<![\w@])(?:[A-Za-z0-9._-][ \t]){2,64}@(?:[ \t][A-Za-z0-9-]){2,64}"
    r"(?:[ \t]\.(?:[ \t][A-Za-z]){2,6})+(?![\w@])"
)
# "my gmail is jane.doe88": a free-mail user name with the provider said instead of written.
_WEBMAIL_NAME_RE = _rx(
    r"\b(?:my|our)\s+(?:gmail|googlemail|hotmail|yahoo|ymail|outlook|icloud|aol|protonmail|gmx)"
    r"(?:\s+(?:address|account|id|username|user\s+name))?\s*(?:is|:|=|-)\s*"
    r"(?P<local>[A-Za-z0-9][A-Za-z0-9._-]{0,62}[A-Za-z0-9])(?![\w@-]|\.\w)",
    re.I,
)
_EMAIL_WORD_RE = _rx(
    r"\b(?:e-?mail|emails|mail|inbox|address|write\s+(?:to\s+)?me|contact|reach)\b", re.I
)
_TLDS = _words(
    """
    com net org edu gov mil int io co uk de fr es it nl be ch at se no dk fi ie pl pt ru cn jp
    kr in au nz ca us mx br ar za ng ke eg il tr gr cz hu ro sk si hr rs ua me info biz app
    dev ai xyz online site email mail tv ly gg eu asia tech law legal health vet care clinic
    pro name store shop cloud page blog live life studio agency media works
    """
)
_FREEMAIL = _words(
    """
    gmail googlemail yahoo ymail rocketmail hotmail outlook live msn icloud me mac aol
    protonmail proton pm gmx mail yandex zoho fastmail hey tutanota tuta qq 163 126 web
    comcast verizon att btinternet sky virginmedia talktalk orange free laposte wanadoo
    t-online libero mailfence inbox sbcglobal bellsouth charter cox earthlink
    """
)
# Free-mail names that stand for an address even without ".com": "janedoe at gmail".
_WEBMAIL = _words("gmail googlemail hotmail yahoo ymail outlook icloud aol protonmail gmx")
_ROLE_LOCALS = _words(
    """
    support help helpdesk info information contact contactus enquiries enquiry inquiries
    inquiry hello hi sales billing accounts accounting privacy legal press media noreply
    donotreply customerservice customercare customers care service services feedback
    complaints admin webmaster postmaster abuse security returns orders reservations
    bookings booking office team careers jobs hr appeals disputes claims refunds marketing
    partners newsletter notifications alerts reception frontdesk appointments registrar
    records foia dpo gdpr membership members donations editor editors news tips general
    mail enquire recalls recall warranty warranties compliance ethics permissions licensing
    investors
    """
)
_PLACEHOLDER_LOCALS = _words(
    """
    user username yourname youremail yourusername name email emailaddress someone somebody
    test example foo bar git root pi ubuntu ec2user localuser me you
    """
)
_LOCAL_TLDS = _words("local localhost lan home internal localdomain arpa test invalid example corp")
_EMAIL_LOCAL_STOP = _words(
    """
    me us him her them it this that these those here there work home school shop shopping
    look looking available sold listed bought buy order ordered online be is was are were
    been arrive arrived stay staying live living log login sign signed register registered
    meet meeting see check found find posted post read issues issue problem problems someone
    somebody people person everyone anyone nobody staff team agent rep guy guys lady folks
    account accounts i'm im we're you you're they friend friends colleague colleagues brother
    sister cousin mate mates son daughter husband wife mom mum dad boss worked works working
    job manager engineer intern employee
    """
)
_PERSONAL_EMAIL_BEFORE_RE = _rx(
    r"(?:\b(?:my|our)\s+(?:\w+\s+){0,2}(?:e-?mail|address|inbox|contact)\b[^.!?]{0,20}"
    r"|\b(?:me|us)\s*(?:at|on|via|through|:|-)?\s*"
    r"|\b(?:e-?mail|mail|write\s+to|contact|reach)\s+(?:me|us|my|our)\b[^.!?]{0,25})$",
    re.I,
)
_PERSONAL_EMAIL_AFTER_RE = _rx(
    r"^\W*(?:my|our)\b|\b(?:(?:is|that'?s|that’s|it'?s|which\s+is)\s+(?:my|our)"
    r"|(?:my|our)\s+(?:\w+\s+){0,2}(?:e-?mail|address|inbox))\b",
    re.I,
)


def _email_is_public(sc: _Scan, start: int, end: int, local: str) -> bool:
    """A generic role mailbox (support@, info@...) not offered as the writer's own, or a
    placeholder (user@example.com) or a technical login (git@github.com)."""
    key = re.sub(r"[._-]", "", local.lower())
    if key in _PLACEHOLDER_LOCALS:
        return True
    if key not in _ROLE_LOCALS:
        return False
    if _PERSONAL_EMAIL_BEFORE_RE.search(sc.clause_before(start)):
        return False
    return not _PERSONAL_EMAIL_AFTER_RE.search(sc.clause_after(end))


def _find_emails(sc: _Scan) -> Iterator[Finding]:
    text = sc.text
    ats = sc.occurrences("@")
    for m in _search(_EMAIL_RE, text, _windows(((i, i + 1) for i in ats), 70, 260, len(text))):
        if m.group().rsplit(".", 1)[1].lower() in _LOCAL_TLDS:
            continue  # pi@raspberrypi.local: a machine on a home network
        if not _email_is_public(sc, m.start(), m.end(), m.group().split("@", 1)[0]):
            yield Finding("email", m.start(), m.end(), m.group())
    for m in _search(
        _SPACED_EMAIL_RE, text, _windows(((i, i + 1) for i in ats), 140, 160, len(text))
    ):
        yield Finding("email", m.start(), m.end(), m.group())
    for m in _search(_WEBMAIL_NAME_RE, text, _windows(sc.spans(_WEBMAIL), 12, 100, len(text))):
        local = m.group("local")
        start = m.end() - len(local)
        # A user name has a dot, an underscore or a digit, and a letter ("my outlook is
        # 2.5% better" is not one).
        if (
            re.search(r"[._\d]", local)
            and re.search(r"[A-Za-z]", local)
            and not _VERSION_RE.fullmatch(local)
        ):
            yield Finding("email", start, m.end(), local)
    triggers = sorted(set(ats) | {s for s, _ in sc.words.get("at", ())})
    for pos in triggers:
        finding = _obfuscated_email_at(sc, pos)
        if finding is not None:
            yield finding


def _is_tld(label: str, dot: str) -> bool:
    spelled_dot = dot.strip() != "."
    return label.lower() in _TLDS or (spelled_dot and _ALPHA_TLD_RE.fullmatch(label) is not None)


def _obfuscated_email_at(sc: _Scan, pos: int) -> Finding | None:
    """The obfuscated address whose "at" (or spaced "@") is at `pos`, if any."""
    text = sc.text
    if (
        text[pos] == "@"
        and text[pos - 1 : pos] not in ("", " ", "\t")
        and text[pos + 1 : pos + 2] not in ("", " ", "\t")
    ):
        return None  # local@domain, the plain pattern's job
    s = pos
    while s > 0 and text[s - 1] in " \t":
        s -= 1
    if s > 0 and text[s - 1] in "[({<":
        s -= 1
        while s > 0 and text[s - 1] in " \t":
            s -= 1
    at = _OB_AT_RE.match(text, s)
    if at is not None and not at.start() <= pos < at.end():
        at = None
    if at is None or at.group() == "@":
        return None  # no "at" here, or a plain local@domain (the plain pattern's job)
    dm = _OB_DOMAIN_RE.match(text, at.end())
    if dm is None:
        return None
    # The domain's labels, each with the dot before it; keep the longest run that ends with a
    # TLD (any two or three letters after a spelled-out dot: "fastmail dot fm").
    labels: list[tuple[str, int, str]] = []
    last, dot = dm.start(), ""
    for sep in _OB_DOT_RE.finditer(text, dm.start(), dm.end()):
        labels.append((text[last : sep.start()], sep.start(), dot))
        last, dot = sep.end(), sep.group()
    labels.append((text[last : dm.end()], dm.end(), dot))
    while len(labels) >= 2 and not _is_tld(labels[-1][0], labels[-1][2]):
        labels.pop()
    names = [label.lower() for label, _, _ in labels]
    is_free = any(name in _FREEMAIL for name in (names[:-1] or names))
    has_tld = len(names) >= 2 and _is_tld(labels[-1][0], labels[-1][2])
    if not (has_tld or (len(names) == 1 and names[0] in _WEBMAIL)):
        return None
    end = labels[-1][1]
    lm = _OB_LOCAL_END_RE.search(text, max(0, at.start() - 120), at.start())
    if lm is None or len(lm.group()) < 2:
        return None
    local = lm.group()
    local_parts = _OB_DOT_RE.split(local)
    plain_at = "@" not in at.group() and not re.search(r"[\[\(\{<]", at.group())
    if plain_at:
        # "shop at amazon.com" is not an address; "jane.doe at gmail dot com" is.
        if len(local_parts) == 1 and local.lower() in _EMAIL_LOCAL_STOP:
            return None
        spelled = _SPELLED_OUT_RE.search(text, lm.start(), end) is not None
        if not (
            spelled
            or len(local_parts) > 1
            or re.search(r"[_\d]", local)
            or (is_free and has_tld)
            or _EMAIL_WORD_RE.search(text)
            or _PERSONAL.intersection(sc.tokens_before(lm.start(), 6))
        ):
            return None
    if _email_is_public(sc, lm.start(), end, ".".join(local_parts)):
        return None
    return Finding("email", lm.start(), end, text[lm.start() : end])


# --------------------------------------------------------------------------- handles

_PLAT_LOOSE = (
    r"whats\s?app|telegram|viber|wechat|skype|discord|snapchat|instagram|insta|ig|facebook|"
    r"fb|messenger|twitter|tik\s?tok|linkedin|kik|imessage|facetime|kakao(?:talk)?|threema|"
    r"reddit|mastodon|bluesky|bsky|twitch|line\s+id"
)
_PLAT_STRICT = r"signal|snap|x|threads|line"
# The first word of every platform name above, to find where to look.
_PLATFORM_WORDS = _words(
    """
    whatsapp whats telegram viber wechat skype discord snapchat instagram insta ig facebook
    fb messenger twitter tiktok tik linkedin kik imessage facetime kakao kakaotalk threema
    reddit mastodon bluesky bsky twitch line signal snap x threads
    """
)
_HANDLE_LABELED_RE = _rx(
    rf"(?<![\w@./-])(?:(?P<loose>{_PLAT_LOOSE})|(?P<strict>{_PLAT_STRICT}))"
    r"(?P<qual>[ \t]+(?:id|user[ \t]?name|user|handle|name|account|acct|profile|tag|contact|"
    r"details|addy|info|number|no\.?))?"
    r"(?P<sep>[ \t]*[:=][ \t]*|[ \t]+is[ \t]*:?[ \t]*|[ \t]*[-–—][ \t]*|[ \t]+)"
    r"(?P<id>live:[\w.\-:]*[\w]|@?[A-Za-z0-9_](?:[\w.\-]{0,30}[A-Za-z0-9_])?(?:#\d{4})?)",
    re.I,
)
# A handle stands alone: the clause ends after it, or a short tail word follows.
_STANDALONE_AFTER_RE = _rx(
    r"\s*(?:$|[,;!?)\]\n]|\.(?:\s|$)|:\)|\s(?:or|and|if|pls|please|thanks|thx|ty|anytime|"
    r"too|also|instead|btw|cheers|x+)\b|\s[(\-–—])",
    re.I,
)
_HANDLE_STOP = _words(
    """
    a an the this that it its is are was were be been not no yes on off up down out in at to
    for of with from by as or and but if so too also just still very really quite all any
    some my your our their his her me us you them i we they he she working work works broken
    blocked banned hacked locked suspended private public open closed same different free
    paid slow fast fine ok okay great good bad new old gone deleted disabled set linked
    connected full empty app apps web desktop mobile phone call calls video voice chat chats
    group groups channel channels server servers page pages account accounts profile post
    posts story stories message messages update updates updated version settings setting
    notifications login log sign password error errors issue issues problem problems crash
    crashing crashes keeps won't doesn't isn't can't cannot never always sometimes again
    there here where when what why how who which because since while until after before
    better worse best worst easy hard strong weak dead available unavailable installed
    uninstalled live business personal official support help team only either neither both
    none nothing something everything anything ads marketplace feed reels dms dm inbox status
    link links audio camera mic microphone screen sharing share weird strange annoying
    lagging frozen laggy buggy glitchy outdated secure encrypted safe unsafe usually mostly
    mainly probably maybe perhaps definitely actually fixed unlocked restricted verified
    unverified required needed optional enabled turned web
    """
)
_AT_HANDLE_RE = _rx(r"(?<![\w@.+/-])@(?P<h>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)")
_SOCIAL_CONTEXT_RE = _rx(
    rf"\b(?:{_PLAT_LOOSE}|{_PLAT_STRICT}|follow|dm|pm|message|msg|add|find|tag|ping|hmu|"
    r"handle|username|user\s?name|profile|account|look\s+me\s+up|search\s+for|tweet)\b",
    re.I,
)
_AT_HANDLE_STOP = _words(
    """
    home work here there everyone channel all team admin admins mention mentions mods
    moderator moderators support help
    """
)
_APPS_AS_VERBS = r"whats\s?app|telegram|skype|facetime|snapchat|snap|viber|imessage|wechat|kik"
_CHAT_APPS = (
    r"whats\s?app|telegram|signal|viber|wechat|skype|discord|snapchat|snap|messenger|"
    r"facetime|imessage|kik|line|instagram|insta|ig|facebook|fb|twitter|x|tik\s?tok|"
    r"linkedin|threema|kakao(?:talk)?"
)
_INVITE_RE = _rx(
    rf"\b(?:(?:{_APPS_AS_VERBS})\s+(?:me|us)\b"
    r"|(?:dm|pm|message|msg|text|ping|add|find|follow|contact|reach|hit|catch|call|chat\s+with|"
    r"talk\s+to|connect\s+with|friend|video\s+call|look)\s+(?:me|us)(?:\s+(?:up|back))?"
    r"(?:\s+(?:directly|privately|instead|there|anytime))?"
    rf"\s+(?:on|via|through|over|at|in|using)\s+(?:{_CHAT_APPS})\b"
    r"|(?:let'?s|let\s+us|(?:can|could|shall|should|may|might)\s+we|"
    r"we\s+(?:can|could|should|might|may)(?:\s+just)?|why\s+(?:don'?t\s+we|not)|how\s+about|"
    r"i'?d\s+(?:rather|prefer\s+to|like\s+to)|i\s+prefer\s+to|better\s+to|easier\s+to)"
    r"\s+(?:\w+\s+){0,3}?(?:on|to|over|via|through|using|onto|in)\s+"
    rf"(?:{_APPS_AS_VERBS}|signal|discord|messenger|instagram|insta|facebook)\b"
    rf"|are\s+you\s+on\s+(?:{_APPS_AS_VERBS}|signal|discord|instagram|insta|ig|facebook|fb|"
    r"twitter|linkedin|tik\s?tok|line)\s*(?:\?|$))",
    re.I,
)
_PROFILE_HOSTS = (
    "instagram.com",
    "instagr.am",
    "facebook.com",
    "fb.com",
    "fb.me",
    "twitter.com",
    "x.com",
    "tiktok.com",
    "linkedin.com",
    "t.me",
    "wa.me",
    "whatsapp.com",
    "m.me",
    "snapchat.com",
    "discord.gg",
    "discord.com",
    "discordapp.com",
    "threads.net",
    "bsky.app",
    "reddit.com",
)
_PROFILE_URL_RE = _rx(
    r"(?<![\w.@/-])(?:https?://)?(?:www\.|m\.|mobile\.)?(?:"
    r"(?:instagram\.com|instagr\.am)/(?!(?:p|reel|reels|explore|accounts|about|developer|legal|"
    r"stories|tv|direct|help)(?:/|\b))[A-Za-z0-9_.]{2,30}"
    r"|(?:facebook\.com|fb\.com|fb\.me)/(?!(?:help|groups|pages|events|marketplace|watch|login|"
    r"settings|policies|privacy|business|gaming|legal|about|photo|photos|share|sharer|"
    r"hashtag|story\.php|policy)(?:/|\b))(?:profile\.php\?id=\d+|[A-Za-z0-9.]{3,50})"
    r"|(?:twitter\.com|x\.com)/(?!(?:home|search|i|settings|explore|tos|privacy|intent|share|"
    r"hashtag|login|signup|notifications|messages|compose)(?:/|\b))[A-Za-z0-9_]{2,15}"
    r"|tiktok\.com/@[A-Za-z0-9_.]{2,24}"
    r"|linkedin\.com/in/[\w%-]{3,100}"
    r"|t\.me/(?:joinchat/|\+)?[A-Za-z0-9_]{4,32}"
    r"|wa\.me/\+?\d{6,15}|api\.whatsapp\.com/send\S*|chat\.whatsapp\.com/\w+"
    r"|m\.me/[A-Za-z0-9.]{3,50}"
    r"|snapchat\.com/add/[\w.-]{2,15}"
    r"|discord\.gg/\w{2,}|discord(?:app)?\.com/(?:invite/\w+|users/\d+)"
    r"|threads\.net/@[\w.]+|bsky\.app/profile/[\w.-]+"
    r"|reddit\.com/u(?:ser)?/[\w-]{3,20}"
    r")",
    re.I,
)
# "Please don't DM me on Instagram", "I'm not on WhatsApp" are refusals, not invitations.
_NEGATED_RE = _rx(r"\b(?:don'?t|don’t|do\s+not|never|stop|can'?t|cannot|won'?t|not)\W*$", re.I)
# "I follow @NASA", "she follows @taylorswift13": an account one follows is a public one.
_FOLLOWED_RE = _rx(r"(?:\bi\s+follow|\bfollows|\bfollowed|\bfollowing)\s+$", re.I)
# "jane_doe99 on Skype", "I'm @mike.fixes on twitter": a handle-shaped name before "on <app>".
_NAME_ON_PLATFORM_RE = _rx(
    r"(?<![\w@.#/-])(?P<id>@?[A-Za-z][\w.]{1,30}[A-Za-z0-9_])\s+(?:on|at|in|via|over)\s+"
    rf"(?:{_PLAT_LOOSE}|signal|snap|x|threads)\b",
    re.I,
)
_INTRODUCED_RE = _rx(
    r"\b(?:i'?m|i’m|i\s+am|my\s+name\s+is|search(?:\s+for)?|look\s+(?:me\s+)?up|find|add)\s*$",
    re.I,
)
# "I'm on WhatsApp if that's easier": offering an app, at the end of a clause.
_ON_APP_RE = _rx(
    r"\b(?:i'?m|i’m|i\s+am|we'?re|we’re|we\s+are)\s+(?:also\s+|now\s+)?on\s+"
    rf"(?:{_APPS_AS_VERBS}|signal|discord|instagram|insta|facebook|messenger|twitter|line)\b"
    r"(?=\s*(?:$|[,;!?)\]\n]|\.(?:\s|$)|\s(?:if|too|as|and|or|under|with|so|btw|pls|please|"
    r"anytime|instead|also)\b|\s[(\-–—]))",
    re.I,
)
_MINE_BEFORE_RE = _rx(r"\b(?:my|our)\W+(?:\w+\W+)?$", re.I)
_HANDLE_SHAPE_RE = _rx(r"[_.\d]")
_VERSION_RE = _rx(r"v?\d+(?:\.\d+)*[a-z]?")
_DISCORD_TAG_RE = _rx(r"(?<![\w#@])[A-Za-z][\w.]{1,31}#\d{4}\b")
_REDDIT_USER_RE = _rx(r"(?<![\w/])u/[A-Za-z0-9_-]{3,20}\b")


def _find_handles(sc: _Scan) -> Iterator[Finding]:
    text = sc.text
    platforms = sc.spans(_PLATFORM_WORDS)
    for s, _ in platforms:
        m = _HANDLE_LABELED_RE.match(text, s)
        if m is not None:
            finding = _judge_labeled_handle(sc, m)
            if finding is not None:
                yield finding
    near_platforms = _windows(platforms, 80, 12, len(text))
    for regex in (_INVITE_RE, _ON_APP_RE):
        for m in _search(regex, text, near_platforms):
            if not _NEGATED_RE.search(sc.clause_before(m.start())):
                yield Finding("handle", m.start(), m.end(), m.group())
    for m in _search(_NAME_ON_PLATFORM_RE, text, _windows(platforms, 50, 12, len(text))):
        ident = m.group("id")
        bare = ident.lstrip("@").lower()
        shaped = ident.startswith("@") or _HANDLE_SHAPE_RE.search(bare) is not None
        before = sc.clause_before(m.start())
        if _FOLLOWED_RE.search(before):
            continue
        # "I'm jdoe on insta", "search for jdoe on TikTok": a name given as one's own.
        introduced = _INTRODUCED_RE.search(before) is not None
        if (shaped or introduced) and bare not in _HANDLE_STOP and not _VERSION_RE.fullmatch(bare):
            yield Finding("handle", m.start(), m.end(), m.group())
    for i in sc.occurrences("@"):
        m = _AT_HANDLE_RE.match(text, i)
        if m is None:
            continue
        h = m.group("h").rstrip(".")
        if h.lower() in _AT_HANDLE_STOP:
            continue
        before = sc.clause_before(i)
        if "follow" in before.lower() and _FOLLOWED_RE.search(before):
            continue
        end = i + 1 + len(h)
        shaped = len(h) >= 3 and _HANDLE_SHAPE_RE.search(h) is not None
        if shaped or _SOCIAL_CONTEXT_RE.search(before[-60:] + " " + sc.clause_after(end)[:60]):
            yield Finding("handle", i, end, text[i:end])
    hosts = [(i, sc.token_end(i)) for host in _PROFILE_HOSTS for i in sc.occurrences(host)]
    for m in _search(_PROFILE_URL_RE, text, _windows(hosts, 30, 0, len(text))):
        yield _url_finding("handle", text, m.start(), m.end())
    if "discord" in sc.words:
        tags = [(i, i + 1) for i in sc.occurrences("#")]
        for m in _search(_DISCORD_TAG_RE, text, _windows(tags, 33, 6, len(text))):
            yield Finding("handle", m.start(), m.end(), m.group())
    if "reddit" in sc.words:
        for i in sc.occurrences("u/"):
            m = _REDDIT_USER_RE.match(text, i)
            if m is not None:
                yield Finding("handle", m.start(), m.end(), m.group())


def _judge_labeled_handle(sc: _Scan, m: re.Match[str]) -> Finding | None:
    text = sc.text
    ident = m.group("id")
    sep_raw = m.group("sep").strip().lower()
    sep = "is" if sep_raw.startswith("is") else sep_raw
    qual = (m.group("qual") or "").strip().lower()
    end = m.end("id")
    while ident and ident[-1] in ".-" and "#" not in ident:
        ident, end = ident[:-1], end - 1  # a trailing dot belongs to the sentence
    bare = ident.lstrip("@").lower()
    at = ident.startswith("@")
    if len(bare) < (1 if at else 2) or bare in _HANDLE_STOP or not re.search(r"[a-z]", bare):
        return None
    if _VERSION_RE.fullmatch(bare):
        return None  # a version number
    if not _STANDALONE_AFTER_RE.match(text, end):
        return None  # "Skype: messages not syncing" is a complaint, not a handle
    shaped = at or re.search(r"[_.\d#:]", bare) is not None
    named = qual.startswith(("id", "user", "handle"))
    strict = m.group("strict")
    if strict is not None:
        # signal, snap, x, threads, line are ordinary words too: only unmistakable forms.
        plat, colon = strict.lower(), sep in (":", "=", "-", "–", "—")
        # "my snap is jess_lovesdogs": offered as mine, shaped like a handle.
        mine_shaped = sep == "is" and shaped and _MINE_BEFORE_RE.search(sc.clause_before(m.start()))
        if not (
            at
            or named
            or mine_shaped
            or (plat == "snap" and colon)
            or (plat == "signal" and colon and shaped)
        ):
            return None
    elif sep == "is":
        mine = _MINE_BEFORE_RE.search(sc.clause_before(m.start()))
        if not (shaped or named or mine):
            return None
    elif sep == "" and not (shaped or named):
        return None
    return Finding("handle", m.start(), end, text[m.start() : end])


# --------------------------------------------------------------------------- meeting links

_URL_REST = r"[^\s<>\"'()\[\]{}]*"
_MEETING_HOSTS = (
    "zoom.",
    "meet.google.",
    "g.co/meet",
    "teams.microsoft.",
    "teams.live.",
    "whereby.",
    "webex.",
    "meet.jit.si",
    "jitsi.",
    "gotomeeting.",
    "gotomeet.me",
    "meet.goto.",
    "join.skype.",
    "calendly.",
    "bluejeans.",
    "chime.aws",
    "facetime.apple.",
    "meet.zoho.",
    "call.whatsapp.",
    "8x8.vc",
    "around.co",
    "doxy.me",
    "cal.com/",
    "savvycal.",
    "tidycal.",
    "zcal.co",
    "meetings.hubspot.",
    "youcanbook.me",
)
_MEETING_RE = _rx(
    r"(?<![\w@.-])(?:https?://)?(?:www\.)?(?:"
    rf"(?:[\w-]+\.)*zoom\.(?:us|com)/(?:j|my|s|w|wc/join|wc|meeting/register)/{_URL_REST}"
    rf"|meet\.google\.com/(?!(?:about|intl|new|landing|_meet)\b)[a-z0-9][\w-]{{4,}}{_URL_REST}"
    r"|g\.co/meet/[\w-]+"
    rf"|teams\.microsoft\.com/(?:l/(?:meetup-join|meet|call|chat)|meet)/{_URL_REST}"
    rf"|teams\.live\.com/meet/{_URL_REST}"
    r"|(?:[\w-]+\.)?whereby\.com/(?!(?:information|pricing|blog|user|login|signup|sign-up|"
    r"about|features|solutions|embedded|careers|legal|support|help|terms|privacy)\b)[\w-]{2,}"
    rf"|(?:[\w-]+\.)*webex\.com/(?:meet/|join/|[\w.-]+/j\.php|[\w.-]+/meet/|wbxmjs/){_URL_REST}"
    r"|meet\.jit\.si/[\w-]+"
    r"|(?:global\.|app\.)?gotomeeting\.com/(?:join/|\?meetingId=)\d+|gotomeet\.me/[\w-]+"
    r"|meet\.goto\.com/\d+|doxy\.me/[\w-]+"
    r"|join\.skype\.com/[\w-]+"
    r"|calendly\.com/(?!(?:pricing|about|blog|login|signup|help|resources|integrations|"
    rf"features|solutions|app|careers|legal|privacy|security)\b)[\w-]+{_URL_REST}"
    rf"|(?:[\w-]+\.)?bluejeans\.com/\d+{_URL_REST}|chime\.aws/\d+"
    rf"|facetime\.apple\.com/join{_URL_REST}"
    rf"|meet\.zoho\.\w+/{_URL_REST}|call\.whatsapp\.com/\w+/\w+"
    r"|(?:cal\.com|savvycal\.com|tidycal\.com|zcal\.co|meetings\.hubspot\.com)/"
    r"(?!(?:pricing|about|blog|login|signup|sign-up|help|docs|features|enterprise|careers|"
    rf"legal|privacy|terms|security|integrations|solutions)\b)[\w-]{{2,}}{_URL_REST}"
    r"|[\w-]+\.youcanbook\.me\b"
    r"|(?:[\w-]+\.)?(?:zoom|webex|whereby|around|jitsi|8x8)\.(?:us|com|vc|co)/"
    r"(?:j|join|meet|room)/[\w-]+"
    r")",
    re.I,
)
# A Google Meet code on its own ("google meet kpr-vwxt-qmd", "meet code: kpr-vwxt-qmd"),
# after the word Google or code ("the non-stop-bar" is not one).
_MEET_CODE_WORDS = _words("google hangout hangouts code")
_MEET_CODE_RE = _rx(r"(?<![\w-])[a-z]{3}-[a-z]{4}-[a-z]{3}(?![\w-])")
_MEETING_ID_WORDS = _words("zoom webex teams meeting conference gotomeeting bluejeans")
_MEETING_ID_RE = _rx(
    r"\b(?:zoom|webex|teams|meeting|conference|gotomeeting|bluejeans)\s+(?:meeting\s+|call\s+)?"
    r"(?:id|number|no\.?|code|#)\s*(?:is\s*)?[:#]?\s*\d{3}[\s-]?\d{3,4}[\s-]?\d{3,5}\b",
    re.I,
)


def _url_finding(kind: str, text: str, start: int, end: int) -> Finding:
    while end > start and text[end - 1] in ".,;:!?)]}'\"":
        end -= 1
    return Finding(kind, start, end, text[start:end])


def _find_meeting_links(sc: _Scan) -> Iterator[Finding]:
    text = sc.text
    hosts = [(i, sc.token_end(i)) for host in _MEETING_HOSTS for i in sc.occurrences(host)]
    for m in _search(_MEETING_RE, text, _windows(hosts, 40, 0, len(text))):
        yield _url_finding("meeting_link", text, m.start(), m.end())
    words = sc.spans(_MEETING_ID_WORDS)
    for m in _search(_MEETING_ID_RE, text, _windows(words, 0, 60, len(text))):
        yield Finding("meeting_link", m.start(), m.end(), m.group())
    for m in _search(_MEET_CODE_RE, text, _windows(sc.spans(_MEET_CODE_WORDS), 0, 40, len(text))):
        yield Finding("meeting_link", m.start(), m.end(), m.group())


# --------------------------------------------------------------------------- addresses

_ALL_SUFFIXES = _words(
    """
    street st avenue ave av road rd lane ln boulevard blvd drive dr court ct terrace ter
    crescent cres parkway pkwy highway hwy circle cir close place pl way square sq trail trl
    mews grove gardens gdns row walk alley plaza pike loop cove crossing expressway expy
    freeway fwy turnpike tpke broadway hill heights hts park green rise vale wharf quay path
    run ridge point pt bend landing commons estate view end gate
    """
)
_SUFFIXES = "|".join(sorted(_ALL_SUFFIXES, key=lambda w: (-len(w), w)))
# Street types that stay unambiguous when written in lower case ("12 oak st").
_LC_SUFFIXES = _words(
    "street st avenue ave road rd lane ln boulevard blvd terrace crescent parkway pkwy highway hwy"
)
_ABBREVIATED_SUFFIXES = _words(
    "st ave av rd ln blvd dr ct ter cres pkwy hwy cir pl sq trl gdns expy fwy tpke hts pt"
)
_UNIT = rf"(?:{_ci('apt apartment unit flat suite ste')}|#)\.?[ \t]*#?[ \t]*[A-Za-z0-9]{{1,6}}"
_DIR = r"(?:[NSEW]\.?|North|South|East|West|Northeast|Northwest|Southeast|Southwest|NE|NW|SE|SW)"
_NAME_TOKEN = r"(?:[A-Za-z][A-Za-z'’.\-]*|\d{1,3}(?:st|nd|rd|th))"
_ADDRESS_RE = _rx(
    rf"(?<![\w$€£#./,:-])(?:(?P<unit>{_UNIT}),?[ \t]+)?"
    r"(?P<num>\d{1,5}[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?)?),?[ \t]+"
    rf"(?P<name>(?:{_DIR}[ \t]+)?{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,3}}?)"
    rf"[ \t]+(?P<suf>{_SUFFIXES})\b\.?",
    re.I,
)
_ADDRESS_TAIL_RE = _rx(
    rf"(?:,?[ \t]*{_UNIT})?"
    r"(?:,[ \t]*[A-Z][a-z][a-zA-Z]*(?:[ -][A-Z][a-z][a-zA-Z]*){0,2})?"
    r"(?:,?[ \t]+(?:[A-Z]{2}[ \t]+)?\d{5}(?:-\d{4})?\b"
    r"|,?[ \t]+[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b)?"
)
_CONTINENTAL_ENDINGS = tuple(_words("straße strasse str weg gasse platz allee damm ufer"))
_CONTINENTAL_WORDS = _words(
    """
    calle via viale piazza carrer rua avenida plaza paseo corso rue avenue av boulevard bd
    place chemin allée impasse quai cours
    """
)
_CONTINENTAL_RE = _rx(
    r"(?<![\w-])(?:[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer)"
    r"|(?:Calle|Via|Viale|Piazza|Carrer|Rua|Avenida|Plaza|Paseo|Corso)\s+"
    r"(?:(?:de|del|la|las|los|da|do|di|della)\s+)?[A-ZÁÉÍÓÚ][\wáéíóúñ]+"
    r"(?:\s+[A-ZÁÉÍÓÚ][\wáéíóúñ]+)?,?)"
    r"\s+\d{1,4}[a-z]?\b(?:,\s*\d{4,5}\s+[A-ZÄÖÜ][\wäöüß]+)?"
    r"|(?<![\w-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+"
    rf"(?:{_ci('rue avenue av. boulevard bd place chemin allée impasse quai cours')})\s+"
    r"(?:(?:de|du|des|la|le|l'|d')\s*){0,2}[A-ZÉÈ][\w'’-]+"
    r"(?:\s+[A-ZÉÈ][\w'’-]+){0,3}(?:,\s*\d{5}\s+[A-ZÉ][\w-]+)?"
)
_PO_BOX_RE = _rx(r"\b(?:P\.?\s?O\.?|post\s+office)\s*box\s+\d{1,6}\b", re.I)
_ADDRESS_CUE_WORDS = _words(
    "live living stay staying reside residing address ship send deliver mail post bring "
    "courier come visit pick"
)
_ADDRESS_CUE_RE = _rx(
    r"\b(?:(?P<home>(?:i|we)(?:'m|’m|\s+am|'re|’re|\s+are)?\s+(?:live|living|stay|staying|"
    r"reside|residing)\s+(?:at|on)"
    r"|my\s+(?:home\s+|house\s+|postal\s+|mailing\s+|street\s+|delivery\s+|shipping\s+)?"
    r"address(?:\s+is)?|(?:home|postal|mailing|shipping|delivery)\s+address(?:\s+is)?"
    r"|address\s*:)"
    r"|(?:ship|send|deliver|mail|post|bring|courier)\s+(?:it|them|this|that|everything|"
    r"(?:the|my|your)\s+\w+)?\s*(?:over\s+)?to(?:\s+me\s+at)?"
    r"|come\s+(?:over\s+)?to|visit\s+(?:me|us)\s+at"
    r"|pick\s+(?:me|us|it|them)\s+up\s+(?:at|from))\s*:?\s*",
    re.I,
)
_CUED_NUMBER_RE = _rx(
    rf"(?:{_UNIT},?[ \t]+)?\d{{1,5}}[A-Za-z]?,?[ \t]+[A-Za-z][\w'’.-]*"
    r"(?:[ \t]+[A-Za-z][\w'’.-]*){0,3}"
)
_UNIT_WORD_RE = _rx(r"(?:apt|apartment|unit|flat|suite|ste|#)", re.I)
_ADDR_STOP = _words(
    """
    the a an of and or to in on at by for from with my your his her our their this that these
    those it is are was were be been has have had do does did not no more less than times time
    days day weeks week years year months month hours hour minutes minute mins min seconds sec
    secs miles mile mi km kms blocks block feet foot ft inches inch cm mm m meters metres yards
    yd mph kph kmh mg ml g kg lb lbs oz tb gb mb kb units unit pills pill tablets tablet doses
    dose people kids dogs cats cars lanes other others different new old few several many
    extra additional separate straight more most some any each every per x about around
    approx approximately over under past just only like very really pm am hrs tabs caps drops
    puffs sprays shots spoons cups glasses rooms floors stories steps stairs bedroom bedrooms
    bathroom bathrooms bed bath door doors car lane stop stops exit exits story storey level
    levels i you we they he she me us them
    """
)
_NUMBER_CONTEXT_STOP = _words(
    """
    chapter section article title rule part form page step model version level grade stage
    type class tier phase round exit route episode season volume vol bus ch sec art para
    paragraph clause schedule table figure fig appendix item line question q no number
    """
)
_COURT_WORDS = _words(
    """
    supreme district circuit bankruptcy claims family county superior appeals appellate
    magistrate magistrates federal high crown probate tax housing juvenile municipal traffic
    small civil criminal divorce
    """
)
_PERSONAL_PLACE = _words(
    """
    me my our us i we mine i'm im we're live lives living lived reside resides residing stay
    staying home house flat apartment apt condo send ship deliver mail post courier bring
    visit moved move moving
    """
)
_PLACE_LINKS = _words("at on")
_REPORTED_AFTER_RE = _rx(
    r"\s+(?:has\s+|have\s+)?(?:announced|said|says|confirmed|stated|issued|denied|declined|"
    r"reported|warned|insisted|responded|replied)\b"
)
_WORKPLACE = _words("work works worked working employed employer job")
_COPULAS = _words("is are was were sits stands")
_PRONOUNS = _words("i i'm im we we're me us my our you you're he he's she she's they they're")


def _address_owner(sc: _Scan, start: int) -> str | None:
    """'personal', 'public' or None, from the nearest deciding word before an address."""
    raw = sc.raw_tokens_before(start)
    toks = [_norm_token(t) for t in raw]
    for i, tok in enumerate(toks):
        left = toks[i + 1] if i + 1 < len(toks) else ""
        if tok == "home" and left in ("nursing", "care", "funeral", "retirement", "group"):
            return "public"
        if tok in _PERSONAL_PLACE:
            return "personal"
        if tok in _WORKPLACE:
            return "public"  # "he works at 10 Downing Street"
        if tok in _PUBLIC:
            return "personal" if left in _POSSESSIVE_FIRST and tok in _OWNABLE else "public"
        # "Walgreens at 500 Market St", "Planned Parenthood at 26 Bleecker Street"
        proper_name = len(raw) > 1 and raw[1][0].isupper() and toks[1] not in _PRONOUNS
        if i == 0 and tok in _PLACE_LINKS and proper_name:
            return "public"
        # "The Met is at 1000 Fifth Avenue", "the White House is at ...": a named place
        # ("the" and one to three capitalised words) is at it.
        if i == 0 and tok in _PLACE_LINKS and len(raw) > 3 and toks[1] in _COPULAS:
            k = 2
            while (
                k < min(len(raw), 5)
                and toks[k] != "the"
                and raw[k][0].isupper()
                and toks[k] not in _PRONOUNS
            ):
                k += 1
            if k > 2 and k < len(toks) and toks[k] == "the":
                return "public"
    return None


def _valid_street(m: re.Match[str], sc: _Scan) -> bool:
    names = m.group("name").split()
    suffix = m.group("suf").lower()
    if any(n.lower().strip(".") in _ADDR_STOP for n in names):
        return False
    capitalised = all(n[0].isupper() or n[0].isdigit() for n in names)
    if not capitalised and (
        suffix not in _LC_SUFFIXES or any(n.lower() in _ALL_SUFFIXES for n in names)
    ):
        return False
    if suffix in ("court", "ct") and any(n.lower() in _COURT_WORDS for n in names):
        return False  # "Chapter 7 Bankruptcy Court"
    prev = sc.tokens_before(m.start(), 1)
    return not (prev and prev[0] in _NUMBER_CONTEXT_STOP and not m.group("unit"))


def _find_addresses(sc: _Scan) -> Iterator[Finding]:
    text = sc.text
    suffixes = [
        (s, e)
        for s, e in sc.spans(_ALL_SUFFIXES)
        if any(c.isdigit() for c in text[max(0, s - 60) : s])
    ]
    for m in _search(_ADDRESS_RE, text, _windows(suffixes, 100, 2, len(text))):
        if not _valid_street(m, sc) or _address_owner(sc, m.start()) == "public":
            continue
        if _REPORTED_AFTER_RE.match(text, m.end()):
            continue  # "10 Downing Street announced": the institution, not a home
        end = m.end()
        if text[end - 1] == "." and m.group("suf").lower() not in _ABBREVIATED_SUFFIXES:
            end -= 1  # "3 Pine Road." ends a sentence; "10 Downing St." keeps its dot
        tail = _ADDRESS_TAIL_RE.match(text, end)
        end = tail.end() if tail else end
        yield Finding("address", m.start(), end, text[m.start() : end])
    continental = [
        span
        for word, spans in sc.words.items()
        if word in _CONTINENTAL_WORDS or word.endswith(_CONTINENTAL_ENDINGS)
        for span in spans
    ]
    for m in _search(_CONTINENTAL_RE, text, _windows(continental, 20, 90, len(text))):
        if _address_owner(sc, m.start()) != "public":
            yield Finding("address", m.start(), m.end(), m.group())
    for m in _search(_PO_BOX_RE, text, _windows(sc.spans(["box"]), 20, 12, len(text))):
        if _address_owner(sc, m.start()) == "personal":
            yield Finding("address", m.start(), m.end(), m.group())
    cues = sc.spans(_ADDRESS_CUE_WORDS)
    for cue in _search(_ADDRESS_CUE_RE, text, _windows(cues, 20, 40, len(text))):
        finding = _cued_address(sc, cue)
        if finding is not None:
            yield finding


def _cued_address(sc: _Scan, cue: re.Match[str]) -> Finding | None:
    """A numbered place right after "I live at", "my address is", "send it to"."""
    text = sc.text
    m = _CUED_NUMBER_RE.match(text, cue.end())
    if m is None:
        return None
    words = m.group().replace(",", " ").split()
    while len(words) > 2 and words[-1].lower().strip(".") in _ADDR_STOP:
        words.pop()  # "42 Elm and ..." keeps "42 Elm"
    first = "" if _UNIT_WORD_RE.match(words[0]) else words[1]
    if first and first.lower().strip(".") in _ADDR_STOP:
        return None
    homely = cue.group("home") is not None
    if first and not first[0].isupper() and not homely:
        return None
    end = m.start() + m.group().rfind(words[-1]) + len(words[-1])
    if text[end - 1] == ".":
        end -= 1
    tail = _ADDRESS_TAIL_RE.match(text, end)  # ", Springfield", ", IL 62704"
    end = tail.end() if tail else end
    return Finding("address", m.start(), end, text[m.start() : end])


# --------------------------------------------------------------------------- entry points


def _resolve(findings: Iterable[Finding], text: str) -> list[Finding]:
    """Overlaps keep the more specific kind; overlapping findings of one kind merge."""
    chosen: list[Finding] = []
    cluster: list[Finding] = []
    cluster_end = -1
    for f in [*sorted(findings, key=lambda f: f.start), None]:
        if f is not None and f.start < cluster_end:
            cluster.append(f)
            cluster_end = max(cluster_end, f.end)
            continue
        chosen.extend(_resolve_cluster(cluster, text))
        if f is not None:
            cluster, cluster_end = [f], f.end
    return sorted(chosen, key=lambda f: f.start)


def _resolve_cluster(cluster: list[Finding], text: str) -> list[Finding]:
    if len(cluster) < 2:
        return cluster
    chosen: list[Finding] = []
    for f in sorted(cluster, key=lambda f: (_PRIORITY[f.kind], f.start - f.end, f.start)):
        for i, c in enumerate(chosen):
            if f.start < c.end and c.start < f.end:
                if c.kind == f.kind:
                    s, e = min(c.start, f.start), max(c.end, f.end)
                    chosen[i] = Finding(c.kind, s, e, text[s:e])
                break
        else:
            chosen.append(f)
    return chosen


def find_contact_details(text: str) -> list[Finding]:
    """Every span of `text` that looks like a personal contact detail, in text order."""
    if not text:
        return []
    # Unicode spaces become plain ones and full-width forms ASCII (one character for one:
    # the offsets stay right).
    sc = _Scan(text.translate(_SPACES).translate(_FULLWIDTH))
    findings: list[Finding] = []
    findings.extend(_find_emails(sc))
    findings.extend(_find_meeting_links(sc))
    findings.extend(_find_handles(sc))
    findings.extend(_find_phones(sc))
    findings.extend(_find_spelled_phones(sc))
    findings.extend(_find_addresses(sc))
    return [
        Finding(f.kind, f.start, f.end, text[f.start : f.end]) for f in _resolve(findings, text)
    ]


def has_contact_details(text: str) -> bool:
    """Whether `text` holds anything `find_contact_details` would report."""
    return bool(find_contact_details(text))
