"""Security schemes seen in requests: Authorization schemes and API-key headers."""

from __future__ import annotations

import re

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
# Google, Hugging Face, npm, Shopify) and long enough not to be a word
VENDOR_KEY = re.compile(
    r"(?:[sr]k_(?:live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abeprs]-|AIza"
    r"|hf_|npm_|shp(?:at|ca|pa|ss)_)[A-Za-z0-9_-]{16,}"
)
# credentials inside a text: after an Authorization scheme, as a URL's user
# information, or as the value of a URL parameter (its name judged apart)
_SCHEMED = re.compile(r"\b(?:Bearer|Basic|Token|Digest)\s+([A-Za-z0-9._~+/=-]{8,})")
_USERINFO = re.compile(r"://[^/?#@\s]+@")
_URL_PARAMETER = re.compile(r"[?&;]([A-Za-z0-9_.-]{1,100})=[^&;#\s]")
# a payment card number (checked with Luhn) and an IBAN (checked mod 97)
_CARD = re.compile(r"(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")


def is_secret_value(value: object) -> bool:
    """Tell whether a sample value holds a credential or payment data by its
    look: a JWT, a vendor's key, a credential after its scheme or in a URL,
    a card number, an IBAN. With --examples such a value is left out."""
    if isinstance(value, int) and not isinstance(value, bool):
        # a card number sent as a JSON number
        return _luhn(str(value)) if 13 <= len(str(value)) <= 19 else False
    if not isinstance(value, str) or len(value) < 8:
        return False
    if "eyJ" in value and JWT.search(value):
        return True
    if VENDOR_KEY.search(value) or _USERINFO.search(value):
        return True
    if any(_credential_like(word) for word in _SCHEMED.findall(value)):
        return True
    if "=" in value and any(
        is_secret_name(name) for name in _URL_PARAMETER.findall(value)
    ):
        return True
    if any(_luhn(match.group(0)) for match in _CARD.finditer(value)):
        return True
    return any(_iban(match.group(0)) for match in _IBAN.finditer(value))


def _credential_like(word: str) -> bool:
    """Whether the word after a scheme is a credential, not prose ("Basic
    understanding"): long, or holding a digit or "=" (base64 padding)."""
    return len(word) >= 16 or "=" in word or any(char.isdigit() for char in word)


def _luhn(text: str) -> bool:
    """The Luhn check of a card number (separators ignored)."""
    digits = [int(char) for char in text if char.isdigit()]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _iban(text: str) -> bool:
    """The ISO 13616 check of an IBAN (spaces ignored): mod 97 is 1."""
    compact = text.replace(" ", "")
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
