"""Recognising value shapes: string formats, id-like path segments, typed text."""

from __future__ import annotations

import math
import re

_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}")
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_DATE_TIME = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d"
    r"(:[0-5]\d(\.\d+)?)?([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)?"
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s]+")
_IPV4 = re.compile(
    r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
)
_FORMATS = (
    ("uuid", _UUID),
    ("email", _EMAIL),
    ("date-time", _DATE_TIME),
    ("date", _DATE),
    ("uri", _URI),
    ("ipv4", _IPV4),
)
FORMAT_NAMES = frozenset(name for name, _ in _FORMATS)
NO_FORMATS: frozenset[str] = frozenset()

_INTEGER = re.compile(r"-?(0|[1-9]\d*)")
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{8,}")
_SLUG_NUMBER = re.compile(r"[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*[-_.]\d+")
# three or more lower-case words joined by hyphens: a title made into a slug
_WORD_SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+){2,}")
_ANY_DIGIT = re.compile(r"\d")
_PREFIX = re.compile(r"api|public|rest|v\d+([._]\d+)*([a-z]+\d*)?|\d+\.\d+(\.\d+)?")

# kinds of path segment that are values by their look alone
MACHINE_KINDS = frozenset(("integer", "uuid", "hex", "date"))


def string_formats(value: str) -> frozenset[str]:
    """Return the formats (uuid, email, date-time, ...) a string matches."""
    # cheap guards first: most strings are plain text and match nothing
    if len(value) < 6 or len(value) > 2048 or " " in value:
        return NO_FORMATS
    found = [name for name, pattern in _FORMATS if pattern.fullmatch(value)]
    return frozenset(found) if found else NO_FORMATS


def still_matching(value: str, formats: frozenset[str]) -> frozenset[str]:
    """Return the subset of formats that value also matches."""
    if not formats:
        return formats
    checks = _CHECKS.get(formats)
    if checks is None:
        checks = tuple((name, pattern) for name, pattern in _FORMATS if name in formats)
        if len(_CHECKS) >= _CHECKS_SIZE:
            _CHECKS.clear()
        _CHECKS[formats] = checks
    if len(checks) == 1 and len(formats) == 1:
        # one format left, the usual case: keep the same set while it matches
        return formats if checks[0][1].fullmatch(value) else NO_FORMATS
    kept = [name for name, pattern in checks if pattern.fullmatch(value)]
    # the usual answer is "all still match": the same set, no new one
    if len(kept) == len(formats):
        return formats
    return frozenset(kept)


# a set of format names -> its (name, pattern) pairs in _FORMATS order
_CHECKS: dict[frozenset[str], tuple[tuple[str, re.Pattern], ...]] = {}
# there are 64 subsets of the known names; more come only from odd saved state
_CHECKS_SIZE = 256


def segment_kind(segment: str) -> str | None:
    """Classify a decoded path segment that looks like a value, else None.

    Kinds: integer, uuid, hex, date, email, token (long mixes of letters and
    digits such as ``acc_5vWThLbE5nyO18``) and slug (words ending in a number,
    such as ``green-263``). Plain words return None: whether they are values
    is decided later from how their siblings behave.
    """
    if not segment:
        return None
    first = segment[0]
    if first.isdigit() or first == "-":
        if _INTEGER.fullmatch(segment):
            return "integer"
        if _DATE.fullmatch(segment):
            return "date"
    if len(segment) == 36 and _UUID.fullmatch(segment):
        return "uuid"
    if "@" in segment and _EMAIL.fullmatch(segment):
        return "email"
    if _ANY_DIGIT.search(segment) is None:
        # Limitation: a literal of three hyphenated words (/forgot-my-password)
        # is taken for a value
        return "slug" if _WORD_SLUG.fullmatch(segment) else None
    digits = sum(map(str.isdigit, segment))
    if len(segment) >= 8 and _HEX.fullmatch(segment) and digits < len(segment):
        return "hex"
    if _SLUG_NUMBER.fullmatch(segment):
        return "slug"
    # generated ids mix digits into letters, often in both cases
    mixed = digits >= 2 or (len(segment) >= 10 and _mixed_case(segment))
    if mixed and len(segment) >= 8 and _TOKEN.fullmatch(segment):
        return "token" if any(char.isalpha() for char in segment) else None
    return None


def _mixed_case(text: str) -> bool:
    """Tell whether text has upper-case letters after its first character."""
    return any(char.isupper() for char in text[1:]) and any(
        char.islower() for char in text
    )


def is_prefix_segment(segment: str) -> bool:
    """Tell whether a leading segment is an api, public or version marker."""
    return _PREFIX.fullmatch(segment.lower()) is not None


def typed_text(text: str) -> object:
    """Turn a query or form value into the JSON value it most likely stands for."""
    if not text:
        return text
    first = text[0]
    if first.isdigit() or first == "-":
        if _INTEGER.fullmatch(text):
            # very long digit strings are identifiers, not numbers
            return int(text) if len(text) <= 18 else text
        if _NUMBER.fullmatch(text):
            number = float(text)
            # "1e400" is no number JSON can hold: it stays text
            return number if math.isfinite(number) else text
        return text
    if text == "true":
        return True
    if text == "false":
        return False
    return text
