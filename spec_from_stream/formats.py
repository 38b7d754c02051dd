"""Recognising value shapes: string formats, id-like path segments, typed text."""

from __future__ import annotations

import ipaddress
import math
import re

_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}")
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
# a release number (1.2.3, 2.0.0-rc.1) after a resource segment; leading ones
# are api versions (see _PREFIX)
_VERSION = re.compile(r"\d+(\.\d+){1,3}([-+][0-9A-Za-z.-]+)?")
# digits in groups (0042, 2024-001-0042): numbers an integer would change
_DIGIT_GROUPS = re.compile(r"\d+([-_]\d+)*")
# a phone number as E.164 writes it (+4915112345678): personal data
_PHONE_NUMBER = re.compile(r"\+\d{7,15}")
# a number written with punctuation: a phone number ("(415)555-0100",
# "+49-151-1234-5678"), coordinates ("52.5200,13.4050"); NUMERIC_DIGITS or more
_NUMERIC_TEXT = re.compile(r"[-+(]?\d[\d.,;_()+ -]*")
NUMERIC_DIGITS = 4
# a MAC address (00:1A:2B:3C:4D:5E, 00-1a-2b-3c-4d-5e)
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
# what an IPv6 address is written with
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
# letters in both cases with this many small letters standing alone, and one
# in RANDOM_ALONE_SHARE at least: a generated key (kQzTrwPmLxVbNhYs), not
# camelCase words (readOnlyAccess)
RANDOM_ALONE = 3
RANDOM_ALONE_SHARE = 5
RANDOM_MIN_LENGTH = 12
# an access key in capitals and digits (AKIAIOSFODNN7EXAMPLE)
UPPER_KEY_MIN_LENGTH = 16
# a language tag with its region or script as BCP 47 writes them (en-US,
# es-419, zh-Hant-TW); a bare language (en) is a plain word
_LOCALE = re.compile(r"[a-z]{2,3}((-[A-Z][a-z]{3})?-([A-Z]{2}|\d{3})|-[A-Z][a-z]{3})")
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
# git's short hashes: seven lower-case hex digits
SHORT_HEX_LENGTH = 7
_SHORT_HEX = re.compile(r"[0-9a-f]{7}")
_WORD_AND_NUMBER = re.compile(r"[a-f]+[0-9]+")
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{8,}")
_SLUG_NUMBER = re.compile(r"[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*[-_.]\d+")
# three or more lower-case words joined by hyphens: a title made into a slug
_WORD_SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+){2,}")
_ANY_DIGIT = re.compile(r"\d")
_PREFIX = re.compile(r"api|public|rest|v\d+([._]\d+)*([a-z]+\d*)?|\d+\.\d+(\.\d+)?")

# kinds of path segment that are values by their look alone
MACHINE_KINDS = frozenset(
    (
        "integer",
        "digits",
        "uuid",
        "hex",
        "date",
        "datetime",
        "month",
        "version",
        "phone",
        "ip",
        "mac",
        "random",
        "redacted",
    )
)
# what the recorder writes in place of a secret (recorder.redact.REDACTED): a
# path segment it replaced held a value
REDACTED = "[REDACTED]"
# a method named after a colon at the end of a segment, as resource-oriented
# APIs write actions on a resource (jobs/nightly:cancel, jobs:batchGet)
_CUSTOM_METHOD = re.compile(r"(.*[^:]):([A-Za-z][A-Za-z0-9]*)")
# file extensions that name a representation of the resource before them
# (reports/2025-01.csv beside reports/2025-01.json)
_EXTENSION = re.compile(
    r"(.+)(\.(json|csv|tsv|xml|txt|html|pdf|yaml|yml|ndjson|xlsx|zip|png|jpg|svg))",
    re.IGNORECASE,
)


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
    check = ONE_FORMAT_CHECKS.get(formats)
    if check is not None:
        # one format left, the usual case: keep the same set while it matches
        return formats if check(value) else NO_FORMATS
    checks = _CHECKS.get(formats)
    if checks is None:
        checks = tuple((name, pattern) for name, pattern in _FORMATS if name in formats)
        if len(_CHECKS) >= _CHECKS_SIZE:
            _CHECKS.clear()
        _CHECKS[formats] = checks
    kept = [name for name, pattern in checks if pattern.fullmatch(value)]
    # the usual answer is "all still match": the same set, no new one
    if len(kept) == len(formats):
        return formats
    return frozenset(kept)


# a set of one format name -> the check of that format, for the usual case of a
# field holding one format (the schema walk of object fields calls it in place)
ONE_FORMAT_CHECKS = {
    frozenset((name,)): pattern.fullmatch for name, pattern in _FORMATS
}
# a set of format names -> its (name, pattern) pairs in _FORMATS order
_CHECKS: dict[frozenset[str], tuple[tuple[str, re.Pattern], ...]] = {}
# there are 64 subsets of the known names; more come only from odd saved state
_CHECKS_SIZE = 256


def segment_kind(segment: str) -> str | None:
    """Classify a decoded path segment that looks like a value, else None.

    Kinds: integer, digits (``0042``, ``2024-001-0042``, and numbers with
    punctuation: ``(415)555-0100``, ``52.52,13.40``), uuid, hex, date,
    datetime, month (``2025-01``), version (``1.2.3``), phone
    (``+4915112345678``), email, ip (IPv6; IPv4 reads as a version), mac,
    locale (``en-US``), token (long mixes of letters and digits such as
    ``acc_5vWThLbE5nyO18``, also before a colon: ``123456:AAHdqTcv``), random
    (generated keys without digits or in capitals: ``kQzTrwPmLxVbNhYs``,
    ``AKIAIOSFODNN7EXAMPLE``) and slug (words ending in a number, such as
    ``green-263``), and redacted (the recorder's ``[REDACTED]`` in place of
    a credential). Plain words return None: whether they are values is
    decided later from how their siblings behave.
    """
    if not segment:
        return None
    first = segment[0]
    if first == "[" and segment == REDACTED:
        return "redacted"
    if first.isdigit() or first == "-":
        if _INTEGER.fullmatch(segment):
            return "integer"
        if _DATE.fullmatch(segment):
            return "date"
        if _MONTH.fullmatch(segment):
            return "month"
        if _VERSION.fullmatch(segment):
            return "version"
    elif first == "+" and _PHONE_NUMBER.fullmatch(segment):
        return "phone"
    if len(segment) == 36 and _UUID.fullmatch(segment):
        return "uuid"
    if first.isdigit():
        # after the uuid check: a uuid can be all digits and hyphens
        if _DIGIT_GROUPS.fullmatch(segment):
            return "digits"
        if _DATE_TIME.fullmatch(segment):
            return "datetime"
    if (
        (first.isdigit() or first in "+(-")
        and _NUMERIC_TEXT.fullmatch(segment)
        and sum(map(str.isdigit, segment)) >= NUMERIC_DIGITS
    ):
        return "digits"
    if ":" in segment:
        colon_kind = _colon_kind(segment)
        if colon_kind is not None:
            return colon_kind
    elif "-" in segment and _MAC.fullmatch(segment):
        return "mac"
    if "@" in segment and _EMAIL.fullmatch(segment):
        return "email"
    if "-" in segment and _LOCALE.fullmatch(segment):
        return "locale"
    if _ANY_DIGIT.search(segment) is None:
        if _random_letters(segment):
            return "random"
        # Limitation: a literal of three hyphenated words (/forgot-my-password)
        # is taken for a value
        return "slug" if _WORD_SLUG.fullmatch(segment) else None
    if len(segment) >= UPPER_KEY_MIN_LENGTH and segment.isalnum() and segment.isupper():
        return "random"
    digits = sum(map(str.isdigit, segment))
    if len(segment) >= 8 and _HEX.fullmatch(segment) and digits < len(segment):
        return "hex"
    if (
        len(segment) == SHORT_HEX_LENGTH
        and digits >= 2
        and digits < len(segment)
        and _SHORT_HEX.fullmatch(segment)
        and not _WORD_AND_NUMBER.fullmatch(segment)
    ):
        # a short commit hash (`3f2a9c1`); one with fewer digits, or a word
        # and a number (`ed25519`, `dec2024`), reads as a word. Beside
        # other hashes such words are values all the same (paths.decide)
        return "hex"
    if _SLUG_NUMBER.fullmatch(segment):
        return "slug"
    # generated ids mix digits into letters, often in both cases
    mixed = digits >= 2 or (len(segment) >= 10 and _mixed_case(segment))
    if mixed and len(segment) >= 8 and _TOKEN.fullmatch(segment):
        return "token" if any(char.isalpha() for char in segment) else None
    return None


def _colon_kind(segment: str) -> str | None:
    """The kind of a segment holding a colon: an IPv6 or MAC address, or a
    token after an id (a bot token: ``123456:AAHdqTcvCH1vGWJxfSeofSAs0K5``)."""
    if _MAC.fullmatch(segment):
        return "mac"
    if set(segment) <= _IPV6_CHARS:
        try:
            ipaddress.IPv6Address(segment)
        except ValueError:
            pass
        else:
            return "ip"
    head, _, tail = segment.rpartition(":")
    if head and tail and segment_kind(tail) in ("token", "random", "hex"):
        return "token"
    return None


def _random_letters(text: str) -> bool:
    """Tell whether letters change case as a generated key's do, not as words'.

    camelCase and PascalCase words follow a capital with two or more small
    letters; a generated key has many small letters standing alone.
    """
    if len(text) < RANDOM_MIN_LENGTH or not text.isalpha():
        return False
    alone = 0
    run = 0
    for char in text + "A":
        if char.islower():
            run += 1
            continue
        if run == 1:
            alone += 1
        run = 0
    return alone >= max(RANDOM_ALONE, len(text) // RANDOM_ALONE_SHARE)


def split_suffix(segment: str) -> tuple[str, str]:
    """Split a method suffix (``:cancel``) or an id's file extension off a segment.

    Returns ``(stem, suffix)``, the suffix empty when there is none. An
    extension is split only from a stem that is a value by its look
    (``2025-01.csv``, ``42.json``): after a plain word it is part of a name
    (``robots.txt``, ``report.pdf``) and stays in the segment.
    """
    # cheap guard: most segments hold neither a colon nor a dot
    if ":" not in segment and "." not in segment:
        return segment, ""
    method = _CUSTOM_METHOD.fullmatch(segment)
    # a value after the colon is no method (sha256:e3b0c44298fc1c14, a digest)
    if method is not None and "@" not in segment and not segment_kind(method[2]):
        return method.group(1), ":" + method.group(2)
    extension = _EXTENSION.fullmatch(segment)
    if extension is not None and segment_kind(extension.group(1)) is not None:
        return extension.group(1), extension.group(2)
    return segment, ""


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
