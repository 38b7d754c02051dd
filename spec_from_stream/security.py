"""Security schemes seen in requests: Authorization schemes and API-key headers."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

# header and query names that carry API keys or tokens; matched on lower case
_KEY_NAME = re.compile(
    r"(^|[-_])(api[-_]?key|apikey|access[-_]?token|auth[-_]?token|"
    r"session[-_]?token|secret|token|key)$"
)
# headers that are never credentials although their names end in "key" or "token"
_NOT_KEYS = frozenset(
    ("idempotency-key", "x-idempotency-key", "x-csrf-token", "sec-websocket-key")
)
# query names that carry keys; pagination tokens (page_token, ...) are not keys
_QUERY_KEYS = frozenset(
    ("api_key", "apikey", "api-key", "access_token", "auth_token", "key")
)


# what marks a field or parameter name as holding a secret: with --examples,
# its sample value is left out of the document (traffic recorded without the
# recorder's redaction, a HAR file, may hold the secret itself)
_SECRET_NAME = re.compile(
    r"pass|pwd|secret|token|key|auth|credential|session|cookie|signature|^sig|sig$"
    r"|otp|pin$|cvv|cvc|ssn|card|jwt|sid$|hmac|^code$",
    re.IGNORECASE,
)


# three base64url parts, the first two encoding JSON objects ('{"' is "eyJ")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# a vendor's secret key, told by its prefix (Stripe, GitHub, GitLab, Slack,
# Google, Hugging Face, npm, Shopify, OpenAI, Anthropic) and long enough not to
# be a word
VENDOR_KEY = re.compile(
    r"(?:[sr]k_(?:live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abeprs]-|AIza"
    r"|hf_|npm_|shp(?:at|ca|pa|ss)_|sk-(?:proj|ant|svcacct)-|ya29\.)"
    r"[A-Za-z0-9_-]{16,}"
    r"|sk-[A-Za-z0-9]{32,}"
)
# credentials inside a text: after an Authorization scheme, as a URL's user
# and password, as the value of a URL parameter (its name judged apart), or a
# private key in PEM
_SCHEMED = re.compile(r"\b(?i:(bearer|basic|token|digest))\s+([A-Za-z0-9._~+/=-]{8,})")
_USERINFO = re.compile(r"://[^/?#@\s:]+:[^/?#@\s]+@")
_URL_PARAMETER = re.compile(r"[?&;#]([A-Za-z0-9_.-]{1,100})=[^&;#\s]")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# words of a URL parameter's name that make its value a secret
_PARAMETER_WORDS = frozenset(
    (
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "key",
        "apikey",
        "auth",
        "signature",
        "sig",
        "session",
        "sessionid",
        "sid",
        "jwt",
        "credential",
        "credentials",
        "code",
        "otp",
        "hmac",
    )
)
_NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# a run of digits, maybe grouped by spaces, dots or dashes: a card number may
# be any 13 to 19 digits of it in whole groups (`4111 1111 1111 1111 12/28`)
_DIGIT_RUN = re.compile(r"[0-9]+(?:[ .-][0-9]+)*")
_DIGIT_SEPARATORS = re.compile(r"[ .-]")
# an IBAN: country, check digits, then the account, unspaced or in groups of
# four (the last one shorter); checked mod 97
_IBAN = re.compile(
    r"\b[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b"
)
# prose after a scheme word: words joined by hyphens (`Token refresh-interval`)
_HYPHENATED_WORDS = re.compile(r"[a-z]+(?:-[a-z]+)*")


def is_secret_value(value: object) -> bool:
    """Tell whether a sample value holds a credential or payment data by its
    look: a JWT, a vendor's key, a private key, a credential after its scheme
    or in a URL, a card number, an IBAN. With --examples such a value is left
    out."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # a card number sent as a JSON number
        return _has_card_number(str(value))
    if not isinstance(value, str) or len(value) < 8:
        return False
    if "eyJ" in value and JWT.search(value):
        return True
    if VENDOR_KEY.search(value) or _USERINFO.search(value):
        return True
    if "-----BEGIN" in value and _PRIVATE_KEY.search(value):
        return True
    if any(_schemed_credential(*found) for found in _SCHEMED.findall(value)):
        return True
    if "=" in value and _has_secret_parameter(value):
        return True
    if _has_card_number(value):
        return True
    return _has_iban(value)


def credential_after_scheme(scheme: str, word: str) -> bool:
    """Whether the word after an Authorization scheme in free text is a
    credential: 16 characters or more, a digit or "=" (base64 padding) in it,
    or base64 of `user:password` after Basic ("Basic understanding" stays)."""
    if len(word) >= 16 or "=" in word or any(char.isdigit() for char in word):
        return True
    return _basic_pair(scheme, word)


def _basic_pair(scheme: str, word: str) -> bool:
    """Whether the word after Basic is base64 of `user:password`."""
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(word + "=" * (-len(word) % 4), validate=True)
    except ValueError:
        return False
    return b":" in decoded


def _schemed_credential(scheme: str, word: str) -> bool:
    """credential_after_scheme, but long prose after a scheme word in a sample
    value (`Token refresh-interval-in-seconds`) is no credential."""
    if _HYPHENATED_WORDS.fullmatch(word):
        return _basic_pair(scheme, word)
    return credential_after_scheme(scheme, word)


def _has_secret_parameter(text: str) -> bool:
    """Whether a URL in the text has a secret-named parameter (query or
    fragment, also percent-encoded inside another URL)."""
    if "%" in text:
        text = f"{text} {unquote(text)}"
    for name in _URL_PARAMETER.findall(text):
        words = [word.lower() for word in _NAME_WORDS.findall(name)]
        if any(word in _PARAMETER_WORDS for word in words):
            return True
        if "".join(words).endswith(("token", "key", "secret", "password")):
            return True
    return False


def _has_card_number(text: str) -> bool:
    """Whether 13 to 19 digits in whole groups of a digit run start as card
    numbers do (2 to 6) and pass the Luhn check."""
    for run in _DIGIT_RUN.findall(text):
        if len(run) < 13:
            continue
        groups = _DIGIT_SEPARATORS.split(run)
        for first in range(len(groups)):
            if groups[first][0] not in "23456":
                continue
            digits = ""
            for group in groups[first:]:
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn(digits):
                    return True
    return False


def luhn(digits: str) -> bool:
    """The Luhn check of payment card numbers, on a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _has_iban(text: str) -> bool:
    """Whether the text holds an IBAN (any case) that passes its check, also
    with a word after it taken for its last group."""
    for match in _IBAN.finditer(text.upper()):
        found = match.group(0)
        candidates = [found]
        if " " in found:
            candidates.append(found.rsplit(" ", 1)[0])
        if any(_iban(candidate.replace(" ", "")) for candidate in candidates):
            return True
    return False


def _iban(compact: str) -> bool:
    """The ISO 13616 check of an unspaced IBAN: mod 97 is 1."""
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def is_secret_name(name: str) -> bool:
    """Tell whether a field or parameter name marks a secret (broadly: a few
    innocent names such as "monkey" are caught too)."""
    return _SECRET_NAME.search(name) is not None


def is_key_name(name: str) -> bool:
    """Tell whether a header name carries an API key or token."""
    lowered = name.lower()
    return lowered not in _NOT_KEYS and _KEY_NAME.search(lowered) is not None


def is_query_key(name: str) -> bool:
    """Tell whether a query parameter name carries an API key."""
    return name.lower() in _QUERY_KEYS


def _header_role(name: str) -> str | None:
    """Return "authorization", a scheme key for an API-key header, or None."""
    role = _HEADER_ROLES.get(name)
    if role is not None:
        return role or None
    lowered = name.lower()
    if lowered == "authorization":
        role = "authorization"
    elif is_key_name(lowered):
        role = f"apiKey:header:{lowered}"
    else:
        role = ""
    # header names repeat from request to request: remember what each one is
    # (odd long names are not kept, so the cache stays small)
    if len(name) <= _CACHED_NAME_CHARS:
        if len(_HEADER_ROLES) >= _HEADER_ROLES_SIZE:
            _HEADER_ROLES.clear()
        _HEADER_ROLES[name] = role
    return role or None


_HEADER_ROLES: dict[str, str] = {}
_CACHED_NAME_CHARS = 128
_HEADER_ROLES_SIZE = 4096


def schemes_in_request(headers: dict | None, query: dict | None) -> tuple[str, ...]:
    """Return the scheme keys a request authenticates with.

    Keys are ``http:bearer``, ``http:basic``, ``http:digest``,
    ``apiKey:header:NAME`` or ``apiKey:query:NAME``; never a credential value.
    """
    found = []
    if headers:
        # the same few header name lists repeat: their roles are looked up once
        names = tuple(headers)
        roles = _ROLES_BY_NAMES.get(names)
        if roles is None:
            roles = tuple(
                (name, role)
                for name in names
                if (role := _header_role(name)) is not None
            )
            # requests with very many headers are not kept: the cache stays small
            if (
                len(names) <= _CACHED_HEADERS
                and sum(map(len, names)) <= _CACHED_NAMES_CHARS
            ):
                if len(_ROLES_BY_NAMES) >= _HEADER_ROLES_SIZE:
                    _ROLES_BY_NAMES.clear()
                _ROLES_BY_NAMES[names] = roles
        for name, role in roles:
            if role == "authorization":
                found.append(_authorization_scheme(headers[name]))
            else:
                found.append(role)
    if query:
        for name in query:
            if is_query_key(name):
                found.append(f"apiKey:query:{name}")
    return tuple(found)


# header names of a request, in order -> the (name, role) pairs that have a role
_ROLES_BY_NAMES: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
_CACHED_HEADERS = 64
_CACHED_NAMES_CHARS = 2048


def _authorization_scheme(value: str | list) -> str:
    """Name the scheme of an Authorization header from its first word."""
    if isinstance(value, list):
        value = value[0] if value else ""
    word = value.split(" ", 1)[0].lower() if " " in value else ""
    if word in ("bearer", "basic", "digest"):
        return f"http:{word}"
    # other schemes (Token, ApiKey, a bare key) are an API key in the header
    return "apiKey:header:authorization"


def scheme_name(key: str) -> str:
    """Return the components.securitySchemes name of a scheme key."""
    kind, _, rest = key.partition(":")
    if kind == "http":
        return {"bearer": "bearerAuth", "basic": "basicAuth"}.get(rest, f"{rest}Auth")
    where, _, name = rest.partition(":")
    words = re.split(r"[^A-Za-z0-9]+", name)
    camel = "".join(word[:1].upper() + word[1:] for word in words if word)
    return f"{where}{camel or 'Key'}"


def scheme_object(key: str) -> dict:
    """Return the OpenAPI security scheme object of a scheme key."""
    kind, _, rest = key.partition(":")
    if kind == "http":
        scheme: dict = {"type": "http", "scheme": rest}
        if rest == "bearer":
            scheme["bearerFormat"] = "token"
        return scheme
    where, _, name = rest.partition(":")
    header_name = "Authorization" if name == "authorization" else name
    return {"type": "apiKey", "in": where, "name": header_name}
