"""Phone numbers in every format people type them: parsed to E.164, masked on screens
and in logs, stored in E.164, hashed to one returning-caller key."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cases import phone
from cases.db import Database
from cases.models import SessionRecord, Ticket
from cases.phone import PhoneError
from hotline.logs import JsonFormatter
from signaling.tokens import Tokens

E164 = "+8613912345678"
# One mobile number as people write it (the formats of the hardening issue).
MOBILE_FORMATS = [
    "13912345678",
    "139 1234 5678",
    "139-1234-5678",
    "+86-139-1234-5678",
    "+86 139 1234 5678",
    "+8613912345678",
    "0086 139 1234 5678",
    "+86 (139) 1234-5678",
    "139.1234.5678",
    "１３９１２３４５６７８",
    "１３９　１２３４　５６７８",
    "１３９－１２３４－５６７８",
    "＋８６－１３９－１２３４－５６７８",
    "＋８６ １３９ １２３４ ５６７８",
]
NOT_NUMBERS = ["", "hello", "12348", "12812345678", "1391234567", "139123456789"]


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", phone.normalise(text))


class TestParse:
    @pytest.mark.parametrize("text", MOBILE_FORMATS)
    def test_every_format_is_one_e164_number(self, text: str) -> None:
        """However the mobile number is written, it parses to the same E.164 form."""
        assert phone.parse(text) == E164
        assert phone.is_valid(text)

    @pytest.mark.parametrize(
        ("text", "e164"),
        [
            ("(010) 1234 5678", "+861012345678"),
            ("010-12345678", "+861012345678"),
            ("０１０－１２３４５６７８", "+861012345678"),
            ("+44 20 7946 0958", "+442079460958"),
        ],
    )
    def test_landlines_and_other_countries(self, text: str, e164: str) -> None:
        """Mainland landlines with their area code and numbers from abroad parse too."""
        assert phone.parse(text) == e164

    @pytest.mark.parametrize("text", NOT_NUMBERS)
    def test_not_a_number_is_refused(self, text: str) -> None:
        """A short code, an unassigned range or a wrong length is not a phone number,
        and the error does not repeat the digits in clear."""
        assert not phone.is_valid(text)
        with pytest.raises(PhoneError) as raised:
            phone.parse(text)
        if len(digits(text)) > 7:
            assert digits(text) not in str(raised.value)

    def test_canonical_falls_back_to_digits(self) -> None:
        """A valid number's canonical form is E.164; anything else its ASCII digits."""
        assert phone.canonical("１３９ 1234-5678") == E164
        assert phone.canonical("１２３４８") == "12348"


class TestMask:
    @pytest.mark.parametrize("text", MOBILE_FORMATS)
    def test_screens_show_the_agents_mask(self, text: str) -> None:
        """Every format shows as 139****5678, the mask agents see."""
        assert phone.mask(text) == "139****5678"

    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("(010) 1234 5678", "010****5678"),
            ("+44 20 7946 0958", "+44 207***0958"),
            ("12348", "*****"),
            ("12812345678", "128****5678"),
        ],
    )
    def test_other_numbers_are_masked_too(self, text: str, masked: str) -> None:
        """Landlines as dialled at home, foreign numbers with their country code; what
        is not a valid number is masked digit by digit, never shown in clear."""
        assert phone.mask(text) == masked


class TestMaskText:
    @pytest.mark.parametrize("number", MOBILE_FORMATS)
    @pytest.mark.parametrize(
        "template",
        [
            "{}",
            "callback requested by {} at 09:30",
            "来电号码：{}，请回电",
            "caller={},queue=traffic",
            "x{}y",
        ],
    )
    def test_every_format_in_free_text(self, template: str, number: str) -> None:
        """A number in a sentence, in Chinese text, in a key=value pair or glued to
        letters is replaced by the screen mask; the rest of the text stays as it was."""
        masked = phone.mask_text(template.format(number))
        assert masked == template.format("139****5678")

    def test_several_numbers(self) -> None:
        """Each number in a text is masked where it stands."""
        text = "from 139 1234 5678 to (010) 1234 5678 or +44 20 7946 0958."
        assert phone.mask_text(text) == "from 139****5678 to 010****5678 or +44 207***0958."

    @pytest.mark.parametrize(
        "text",
        [
            "2026-11-23T17:30:37.123+00:00",
            "entry 1715000000000-0 acted",
            "session S-3f9c2a71d0e44b58 queued",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "listening on 127.0.0.1:8080",
            "waited 312.5 s, 12 in line, order 1234567890123",
            "call 12348 for legal aid",
            "12812345678",
        ],
    )
    def test_what_is_not_a_number_is_left_alone(self, text: str) -> None:
        """Timestamps, log ids, uuids, addresses and counts keep their digits."""
        assert phone.mask_text(text) == text

    @settings(deadline=None)  # the first match loads libphonenumber's metadata
    @given(
        prefix=st.sampled_from(["139", "138", "186", "150", "177", "199"]),
        rest=st.text("0123456789", min_size=8, max_size=8),
        style=st.sampled_from(["{}{}{}", "{} {} {}", "{}-{}-{}", "+86 {} {} {}", "+86-{}-{}-{}"]),
        wide=st.booleans(),
        before=st.text(st.sampled_from("来电号码 ,;:!?abcXYZ\n"), max_size=6),
        after=st.text(st.sampled_from("请回电 ,;:!?abcXYZ\n"), max_size=6),
    )
    def test_no_mobile_number_survives(
        self, prefix: str, rest: str, style: str, wide: bool, before: str, after: str
    ) -> None:
        """Whatever the format, width and surrounding text, only the first three and
        last four digits of a mobile number remain after masking."""
        number = style.format(prefix, rest[:4], rest[4:])
        if wide:
            number = number.translate(str.maketrans("0123456789+- ", "０１２３４５６７８９＋－　"))
        masked = phone.mask_text(before + number + after)
        assert digits(masked) == prefix + rest[4:]


class TestLogs:
    @pytest.mark.parametrize("number", MOBILE_FORMATS)
    def test_log_lines_carry_no_number_in_clear(self, number: str) -> None:
        """A log line with the number in its message and in a field shows only the mask."""
        record = logging.LogRecord("t", logging.INFO, "f", 1, "callback %s", (number,), None)
        record.caller = {"phone": number, "tries": [number]}
        event = json.loads(JsonFormatter().format(record))
        assert event["event"] == "callback 139****5678"
        assert event["caller"] == {"phone": "139****5678", "tries": ["139****5678"]}


class TestCallerKey:
    def test_one_caller_one_key_whatever_the_format(self) -> None:
        """The keyed hash that recognises a returning caller is the same for every way
        of writing the same number, and differs for another number."""
        tokens = Tokens(b"test-secret-of-enough-length-000")
        keys = {tokens.caller_key(text) for text in MOBILE_FORMATS}
        assert len(keys) == 1
        assert tokens.caller_key("13912345679") not in keys


class TestStored:
    async def test_numbers_are_stored_in_e164(self, db: Database) -> None:
        """A session's and a ticket's caller number reach the database in E.164."""
        async with db.session() as session:
            session.add(
                SessionRecord(
                    id="s1", queue="traffic", channel="phone", caller_phone="139 1234 5678"
                )
            )
            session.add(Ticket(kind="callback", caller_phone="＋８６－１３９－１２３４－５６７８"))
        async with db.session() as session:
            assert await session.scalar(select(SessionRecord.caller_phone)) == E164
            assert await session.scalar(select(Ticket.caller_phone)) == E164

    def test_an_invalid_number_is_refused_before_the_database(self) -> None:
        """A record cannot be given something that is not a phone number."""
        with pytest.raises(PhoneError):
            Ticket(kind="callback", caller_phone="12812345678")
