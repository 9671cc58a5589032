"""Phone numbers: the one place that parses, validates, stores and masks them.

Built on ``phonenumbers`` (Google's libphonenumber metadata), so a number is recognised
however a person typed it — ``13912345678``, ``139 1234 5678``, ``139-1234-5678``,
``+86-139-1234-5678``, ``0086 139 1234 5678``, ``(010) 1234 5678`` — and in full-width
digits from a Chinese input method (``１３９１２３４５６７８``), which are folded to ASCII
first.

- ``parse(text)``: the number in E.164 (``+8613912345678``), how it is stored and
  compared; ``PhoneError`` if it is not a valid number.
- ``is_valid(text)``.
- ``mask(number)``: what a screen shows (``139****5678``), the same mask agents see.
- ``mask_text(text)``: free text with every number in it masked, for logs.
- ``canonical(text)``: E.164 when valid, otherwise its digits (for a keyed hash that
  must recognise a returning caller whatever the format).

Numbers without a country code are read as mainland numbers (``REGION``).
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import Leniency, PhoneNumber, PhoneNumberFormat, PhoneNumberMatcher

from cases.db import DatabaseError

REGION = "CN"

# A valid number has at least 7 digits (a country code and the shortest national
# numbers); text with fewer is left alone without running the matcher.
_MIN_DIGITS = 7
_LATIN = re.compile(r"[A-Za-z]")
_NON_DIGITS = re.compile(r"[^0-9]")


class PhoneError(DatabaseError):
    """A text is not a valid phone number."""


def normalise(text: str) -> str:
    """Fold full-width digits, plus signs, dashes, brackets and spaces to ASCII.

    Character by character (NFKC of each), so positions in the result are positions in
    ``text``: ``mask_text`` finds numbers in the folded text and replaces them in the
    original.
    """
    if text.isascii():
        return text
    folded = []
    for char in text:
        nfkc = unicodedata.normalize("NFKC", char)
        folded.append(nfkc if len(nfkc) == 1 else char)
    return "".join(folded)


def _parse(text: str, region: str) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(normalise(text), region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def parse(text: str, region: str = REGION) -> str:
    """The number in ``text`` in E.164 (``+8613912345678``); ``PhoneError`` if none."""
    number = _parse(text, region)
    if number is None:
        raise PhoneError(f"not a valid phone number: {mask_digits(text)!r}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_valid(text: str, region: str = REGION) -> bool:
    """Whether ``text`` is a valid phone number (for ``region`` if it has no country code)."""
    return _parse(text, region) is not None


def canonical(text: str, region: str = REGION) -> str:
    """E.164 when ``text`` is a valid number, otherwise its ASCII digits (``12348``)."""
    number = _parse(text, region)
    if number is None:
        return _NON_DIGITS.sub("", normalise(text))
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_digits(digits: str) -> str:
    """Keep the first three and last four digits: ``13912345678`` → ``139****5678``;
    seven digits or fewer are all masked. Anything but digits is dropped."""
    digits = _NON_DIGITS.sub("", normalise(digits))
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def _mask_number(number: PhoneNumber, region: str) -> str:
    if phonenumbers.region_code_for_number(number) == region:
        # As dialled at home: 139****5678 for a mobile, 010****5678 for Beijing.
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        return mask_digits(national)
    return f"+{number.country_code} {mask_digits(phonenumbers.national_significant_number(number))}"


def mask(number: str, region: str = REGION) -> str:
    """A number as screens show it: ``139****5678`` (``+44 207***0958`` from abroad).

    A text that is not a valid number is masked digit by digit, never shown in clear.
    """
    parsed = _parse(number, region)
    if parsed is None:
        return mask_digits(number)
    return _mask_number(parsed, region)


def mask_text(text: str, region: str = REGION) -> str:
    """``text`` with every phone number in it masked as ``mask`` does, for logs.

    Numbers are found by libphonenumber's matcher (``Leniency.VALID``: valid numbers in
    any common format, not dates, times or addresses). Latin letters are blanked for the
    search so that a number glued to a word (``x13912345678``) is still found.
    """
    folded = normalise(text)
    if sum(c.isdigit() for c in folded) < _MIN_DIGITS:
        return text
    search = _LATIN.sub("#", folded)
    pieces: list[str] = []
    end = 0
    for match in PhoneNumberMatcher(search, region, leniency=Leniency.VALID):
        pieces.append(text[end : match.start])
        pieces.append(_mask_number(match.number, region))
        end = match.end
    if not pieces:
        return text
    pieces.append(text[end:])
    return "".join(pieces)
