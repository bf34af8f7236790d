"""The contact-detail detector (privacy.detection): edge cases by category, spans, corpus floor.

The samples below are shared with test_detection_js.py, which runs them through the
composer's JavaScript port of the same rules.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.bench_detector import load_corpus
from privacy.detection import KINDS, Finding, find_contact_details, has_contact_details

CORPUS = Path(__file__).resolve().parent.parent / "data" / "contact_corpus.tsv"

# (message, kind, the exact text of that finding)
POSITIVES: dict[str, list[tuple[str, str, str]]] = {
    "phone": [
        ("Call me at +44 20 7946 0958 tonight", "phone", "+44 20 7946 0958"),
        ("my cell is (415) 555-0132", "phone", "(415) 555-0132"),
        ("415.555.0132 is my number", "phone", "415.555.0132"),
        ("text me on 07700 900123", "phone", "07700 900123"),
        ("WhatsApp: +49 30 1234567", "phone", "+49 30 1234567"),
        ("Call me at 1-415-555-0132.", "phone", "1-415-555-0132"),
        ("you can get me at +1 (617) 555-0144", "phone", "+1 (617) 555-0144"),
        ("my new number is +44 (0)7700 900 888", "phone", "+44 (0)7700 900 888"),
        ("Contact me on 06 12 34 56 78, I'm in Lyon.", "phone", "06 12 34 56 78"),
        ("call or text 9175550123 anytime", "phone", "9175550123"),
        ("Just call 0044 20 7946 0011 when you land.", "phone", "0044 20 7946 0011"),
        ("my number is 4 1 5 5 5 5 0 1 3 2", "phone", "4 1 5 5 5 5 0 1 3 2"),
        ("reach me at 4 1 5 - 5 5 5 - 0 1 6 6", "phone", "4 1 5 - 5 5 5 - 0 1 6 6"),
        ("Call me at 555-1234", "phone", "555-1234"),
        ("Tel:+14155550132", "phone", "+14155550132"),
        ("call 555-0100x23", "phone", "555-0100"),
        ("the number is 415 555 0132 2 times a day, call after six", "phone", "415 555 0132"),
        (
            "five five five, oh one three two, four one five",
            "phone",
            "five five five, oh one three two, four one five",
        ),
        (
            "call me on nine one seven, five five five, oh one two six",
            "phone",
            "nine one seven, five five five, oh one two six",
        ),
        (
            "Ring me: oh seven seven double oh nine double oh one two three",
            "phone",
            "oh seven seven double oh nine double oh one two three",
        ),
        ("text only please: seven one eight 555 0156", "phone", "seven one eight 555 0156"),
        ("Text me the quote at 917 555 0101, I don't check this site", "phone", "917 555 0101"),
        ("my office number is 1-800-555-0199, ask for me", "phone", "1-800-555-0199"),
    ],
    "email": [
        ("my email is jane.doe@gmail.com, send the forms", "email", "jane.doe@gmail.com"),
        ("jane dot doe at gmail dot com", "email", "jane dot doe at gmail dot com"),
        ("jane[at]example[dot]com", "email", "jane[at]example[dot]com"),
        ("contact me at mark (at) outlook (dot) com", "email", "mark (at) outlook (dot) com"),
        ("email: hank1972 AT aol DOT com", "email", "hank1972 AT aol DOT com"),
        ("jenny.w @ hotmail . com", "email", "jenny.w @ hotmail . com"),
        ("my gmail is catlover88 at gmail", "email", "catlover88 at gmail"),
        ("I'm tom.b at hotmail.co.uk", "email", "tom.b at hotmail.co.uk"),
        ("email me at info@smithlaw.com", "email", "info@smithlaw.com"),
        ("you can email our office at info@greenlawn.com", "email", "info@greenlawn.com"),
        ("contact: sales@mybakery.com is my own business email", "email", "sales@mybakery.com"),
        ("Reply to alex+expertline@gmail.com please", "email", "alex+expertline@gmail.com"),
    ],
    "handle": [
        ("@jane_doe on Instagram", "handle", "@jane_doe on Instagram"),
        ("skype: jane.doe", "handle", "skype: jane.doe"),
        ("WhatsApp me", "handle", "WhatsApp me"),
        ("my telegram is @x", "handle", "telegram is @x"),
        ("discord jane#1234", "handle", "discord jane#1234"),
        ("add me on snap: jdoe", "handle", "add me on snap: jdoe"),
        ("Skype ID: live:mike.repairs", "handle", "Skype ID: live:mike.repairs"),
        ("my insta is @the.real.rosa", "handle", "insta is @the.real.rosa"),
        ("my ig is tinaloveshorses", "handle", "ig is tinaloveshorses"),
        ("Add me on WeChat: zhang_wei88", "handle", "Add me on WeChat: zhang_wei88"),
        ("my contact is jane_doe99 on skype", "handle", "jane_doe99 on skype"),
        (
            "let's continue this on WhatsApp, it's easier",
            "handle",
            "let's continue this on WhatsApp",
        ),
        ("Are you on Signal?", "handle", "Are you on Signal?"),
        ("I'm on Telegram if that's easier", "handle", "I'm on Telegram"),
        ("linkedin.com/in/sarah-connor-law", "handle", "linkedin.com/in/sarah-connor-law"),
        ("https://instagram.com/jane.doe.art.", "handle", "https://instagram.com/jane.doe.art"),
        ("wa.me/14155550132", "handle", "wa.me/14155550132"),
        ("My reddit is u/car_doc_88", "handle", "u/car_doc_88"),
    ],
    "meeting_link": [
        (
            "Join me here: https://zoom.us/j/81234567890?pwd=Qk9abc.",
            "meeting_link",
            "https://zoom.us/j/81234567890?pwd=Qk9abc",
        ),
        ("meet.google.com/abc-defg-hij at 3?", "meeting_link", "meet.google.com/abc-defg-hij"),
        (
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA%40thread.v2/0",
            "meeting_link",
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA%40thread.v2/0",
        ),
        ("whereby.com/dr-evans-room", "meeting_link", "whereby.com/dr-evans-room"),
        (
            "https://acme.webex.com/meet/jsmith",
            "meeting_link",
            "https://acme.webex.com/meet/jsmith",
        ),
        (
            "book me: calendly.com/tara-lawyer/30min",
            "meeting_link",
            "calendly.com/tara-lawyer/30min",
        ),
        (
            "Zoom meeting ID 812 3456 7890, passcode 4455",
            "meeting_link",
            "Zoom meeting ID 812 3456 7890",
        ),
    ],
    "address": [
        (
            "I live at 42 Elm Street, Springfield",
            "address",
            "42 Elm Street, Springfield",
        ),
        ("my address is 10 Downing St", "address", "10 Downing St"),
        ("Apt 4B, 221 Baker Street", "address", "Apt 4B, 221 Baker Street"),
        (
            "Ship it to 3 Primrose Lane, Leeds LS6 2AB",
            "address",
            "3 Primrose Lane, Leeds LS6 2AB",
        ),
        (
            "Please mail the documents to 2200 Pine St, Apt 12, San Francisco, CA 94115",
            "address",
            "2200 Pine St, Apt 12, San Francisco, CA 94115",
        ),
        ("My landlord lives at 3 Pine Road.", "address", "3 Pine Road"),
        ("i live at 12 oak st", "address", "12 oak st"),
        ("my address is 42 Elm, Springfield", "address", "42 Elm, Springfield"),
        ("my address: Hauptstraße 5, 10115 Berlin", "address", "Hauptstraße 5, 10115 Berlin"),
        ("My address is 23 rue des Lilas, 69003 Lyon", "address", "23 rue des Lilas, 69003 Lyon"),
        ("my mailing address is PO Box 4412, Boise", "address", "PO Box 4412"),
        ("Our house is 3021 W 43rd Street", "address", "3021 W 43rd Street"),
    ],
}

NEGATIVES: dict[str, list[str]] = {
    "prices": [
        "It cost $1,299.99 plus tax",
        "I paid 1299 USD for the repair",
        "Is €45 a fair price?",
        "the painting was insured for $250,000",
        "call about the 1250000 estimate",
        "I was quoted 1,500-2,000 for the job",
    ],
    "dates and times": [
        "The hearing is on 2024-03-15 at 9:30.",
        "My appointment is 03/15/2024.",
        "I was born 15.03.1987",
        "Surgery was March 15 at 14:30",
        "Between 2019-2023 the car was serviced at the dealer.",
        "It was 20240315 in the file name",
        "Call me before the deadline 2024-11-30 23:59",
    ],
    "identifiers": [
        "My order #123-4567890 never arrived.",
        "The case no. 2023-CV-004512 was dismissed.",
        "Support gave me ticket 5551234 but nothing happened.",
        "Tracking 1Z999AA10123456784 shows it's stuck in Memphis.",
        "Invoice INV-20231234 lists a part I never got.",
        "My order number is 4155550132 and it says delivered.",
        "NHS number 943 476 5919, do I need it for the referral?",
        "USPS tracking 9400 1000 0000 0000 0000 00",
        "VIN 1HGCM82633A004352",
        "IMEI 356938035643809",
        "IP 192.168.1.254 is the router",
    ],
    "doses and lab values": [
        "Take 500 mg twice a day, 2.5 ml at night, 10 units of insulin",
        "prednisone taper 60 40 20 10 mg over four weeks",
        "TSH 4.5 mIU/L, glucose 105 mg/dL, BP 120/80",
        "cholesterol 5.2 mmol/L and HbA1c 6.1%",
        "my BP readings were 142/91, 138/88, 145/95",
    ],
    "models and codes": [
        "The window is 12 x 24 inches.",
        "2014 Civic, iPhone 13, Windows 10 build 19045",
        "Error 0x80070005 and code P0420",
        "2 TB hard drive shows as 1.8 TB",
        "It's about a 10 minute walk from the station.",
        "Is chapter 7 better than chapter 13 for me?",
    ],
    "public lines": [
        "If it's an emergency call 911.",
        "Poison control is 1-800-222-1222, call them now.",
        "I called the IRS at 800-829-1040 and waited 2 hours.",
        "Apple support 1-800-MY-APPLE told me to come here.",
        "For non-urgent stuff ring NHS 111, or Samaritans on 116 123.",
        "HMRC helpline 0300 200 3300 is always busy.",
        "the clinic's phone is (555) 010-4477 but no one answers.",
        "The county courthouse number is (312) 603-5656.",
        "the vet ER's after-hours line is 415-555-0180",
    ],
    "public places": [
        "The clinic at 1 Main Street has weekend hours.",
        "I went to the Apple Store on 5th Avenue.",
        "File it at the courthouse at 100 Centre St.",
        "Walgreens at 500 Market St has it in stock.",
        "The White House at 1600 Pennsylvania Avenue",
        "My hospital is at 55 Fruit St, Boston.",
        "He works at 10 Downing Street, as you know.",
        "I live on Elm Street, is that within the school district?",
        "My postcode is SW1A 1AA, which council do I contact?",
    ],
    "public sites and mailboxes": [
        "See https://www.nhs.uk/medicines/ibuprofen/ for the dosage.",
        "support.microsoft.com has the fix for that error.",
        "Download it from zoom.us/download first.",
        "https://www.facebook.com/help/contact",
        "Email support@apple.com about the warranty.",
        "noreply@amazon.com sent me a refund notice",
        "Replace user@example.com with your own address.",
        "Run ssh pi@raspberrypi.local and enter the password.",
    ],
    "apps without handles": [
        "Discord keeps crashing when I join a voice channel.",
        "My Instagram got hacked, how do I get it back?",
        "Skype: error 0x80070005 on startup",
        "Twitter: is it legal to post my landlord's notice?",
        "Please don't DM me on Instagram",
        "I follow @NASA on twitter for launch news.",
        "shop at amazon.com and look at gmail.com for the login",
        "The @ key on my keyboard doesn't work.",
        "Can you call my insurer for me?",
    ],
}

POSITIVE_CASES = [case for cases in POSITIVES.values() for case in cases]
NEGATIVE_CASES = [text for texts in NEGATIVES.values() for text in texts]


def _describe(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in findings]


@pytest.mark.parametrize(("text", "kind", "span"), POSITIVE_CASES)
def test_positive(text: str, kind: str, span: str) -> None:
    findings = find_contact_details(text)
    assert (kind, span) in _describe(findings), _describe(findings)
    assert has_contact_details(text)


@pytest.mark.parametrize("text", NEGATIVE_CASES)
def test_negative(text: str) -> None:
    assert find_contact_details(text) == [], _describe(find_contact_details(text))
    assert not has_contact_details(text)


def test_spans_point_at_their_text() -> None:
    text = (
        "Thanks!\nCall me at (415) 555-0132 or write to jane dot doe at gmail dot com; "
        "I live at 42 Elm Street, Springfield. Also @jane_doe on Instagram and "
        "https://zoom.us/j/81234567890 at 5."
    )
    findings = find_contact_details(text)
    assert _describe(findings) == [
        ("phone", "(415) 555-0132"),
        ("email", "jane dot doe at gmail dot com"),
        ("address", "42 Elm Street, Springfield"),
        ("handle", "@jane_doe on Instagram"),
        ("meeting_link", "https://zoom.us/j/81234567890"),
    ]
    for f in findings:
        assert text[f.start : f.end] == f.text


def test_findings_are_ordered_disjoint_and_exact_on_the_corpus() -> None:
    for sample in load_corpus(CORPUS):
        findings = find_contact_details(sample.text)
        ends = -1
        for f in findings:
            assert f.kind in KINDS
            assert sample.text[f.start : f.end] == f.text, sample.text
            assert f.text.strip() == f.text, (sample.text, f)
            assert f.start >= ends, (sample.text, findings)
            ends = f.end


def test_overlaps_keep_the_more_specific_kind() -> None:
    # The digits of a meeting link are not also a phone number.
    assert _describe(find_contact_details("zoom.us/j/4155550132")) == [
        ("meeting_link", "zoom.us/j/4155550132")
    ]
    assert _describe(find_contact_details("Hit me up on WhatsApp: +1 555 123 4567")) == [
        ("handle", "Hit me up on WhatsApp"),
        ("phone", "+1 555 123 4567"),
    ]


def test_finding_is_a_frozen_value() -> None:
    f = Finding("phone", 0, 3, "555")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.kind = "email"  # type: ignore[misc]
    assert f == Finding("phone", 0, 3, "555")


def test_empty_and_odd_input() -> None:
    assert find_contact_details("") == []
    assert find_contact_details("   \n\t") == []
    assert find_contact_details("@") == []
    # Characters whose lower case is longer ("İ") do not shift the spans.
    text = "İİİ call me İstanbul at 415-555-0132"
    (f,) = find_contact_details(text)
    assert text[f.start : f.end] == "415-555-0132"


def test_long_message() -> None:
    text = ("My 2014 Civic has 98,000 miles; the dealer quoted $1,299.99 on 2023-08-01. " * 60)[
        :4990
    ] + " 415-555-0132"
    findings = find_contact_details(text)
    assert _describe(findings) == [("phone", "415-555-0132")]


def test_precision_and_recall_on_the_corpus_are_at_least_95_percent() -> None:
    samples = load_corpus(CORPUS)
    assert len(samples) >= 400
    positives = sum(s.label for s in samples)
    assert 0.35 <= positives / len(samples) <= 0.55
    tp = fp = fn = 0
    for s in samples:
        found = has_contact_details(s.text)
        tp += found and s.label
        fp += found and not s.label
        fn += (not found) and s.label
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall


def test_corpus_kinds_are_known() -> None:
    for s in load_corpus(CORPUS):
        assert s.kind in (*KINDS, "none"), s
        assert (s.kind == "none") == (not s.label), s
