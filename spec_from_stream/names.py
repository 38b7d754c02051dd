"""Names in the document: singular resource names, camelCase identifiers."""

from __future__ import annotations

import re

from spec_from_stream.formats import MACHINE_KINDS, segment_kind, string_formats

# value kinds (see formats.segment_kind) a parameter or property name never
# has: such a name is data, often personal (an email, a user's uuid); a name
# like a release number is a value only as an IPv4 address (below)
VALUE_KINDS = (MACHINE_KINDS - {"version"}) | {"email"}
# a generated token has many digits; a name such as ipv4Address or sha256sum few
TOKEN_DIGITS = 4
# a phone number: an optional plus, then digits with spaces, dots or hyphens
_PHONE = re.compile(r"\+?\d[\d .()-]{6,}\d")

_IRREGULAR = {
    "people": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "data": "data",
    "media": "media",
    "news": "news",
    "series": "series",
    "indices": "index",
    "statuses": "status",
    "addresses": "address",
}


def singular(word: str) -> str:
    """Return the singular of an English resource name (last word only)."""
    parts = re.split(r"([-_.\s]+)", word)
    last = parts[-1]
    lowered = last.lower()
    if lowered in _IRREGULAR:
        last = _IRREGULAR[lowered]
    elif lowered.endswith("ies") and len(lowered) > 4:
        last = last[:-3] + "y"
    elif lowered.endswith(("sses", "shes", "ches", "xes", "zes")):
        last = last[:-2]
    elif lowered.endswith("s") and not lowered.endswith(("ss", "us", "is")):
        last = last[:-1]
    parts[-1] = last
    return "".join(parts)


def camel_case(text: str) -> str:
    """Return text in lowerCamelCase with only letters and digits."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", text) if word]
    if not words:
        return "param"
    first = words[0]
    head = first[0].lower() + first[1:]
    camel = head + "".join(word[0].upper() + word[1:] for word in words[1:])
    if camel[0].isdigit():
        camel = "p" + camel
    return camel


def looks_like_value(name: str) -> bool:
    """Tell whether a name is a value (an email, a uuid, a number, a phone, an
    address, a generated key, words with spaces such as a person's name)."""
    if any(char.isspace() for char in name):
        return True
    kind = segment_kind(name)
    if kind in VALUE_KINDS:
        return True
    if kind == "version":
        # an IPv4 address reads as a version number
        return "ipv4" in string_formats(name)
    if kind == "token":
        return sum(map(str.isdigit, name)) >= TOKEN_DIGITS
    return _PHONE.fullmatch(name) is not None
