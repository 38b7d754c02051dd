"""Secrets out of exchanges: header values, JWTs, URL credentials, secret fields.

Redaction keeps the shape of what it changes, so a spec built from redacted
traffic still shows which fields exist and what type they have: strings become
"[REDACTED]", numbers 0, and `Authorization: Bearer abc` becomes
`Bearer [REDACTED]` (the scheme word documents the security scheme).
"""

import functools
import logging
import re
from typing import Any
from urllib.parse import quote_plus, unquote, unquote_plus

import orjson

from spec_from_stream.formats import REDACTED, segment_kind, split_suffix
from spec_from_stream.security import (
    JWT,
    VENDOR_KEY,
    credential_after_scheme,
    luhn,
)

logger = logging.getLogger(__name__)


# headers whose values are secret whatever they look like
DEFAULT_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "cookie2",
        "set-cookie",
        "set-cookie2",
        "x-api-key",
    }
)
# a field, parameter or header name is secret when one of its words is one of these
DEFAULT_FIELD_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "pass",
        "secret",
        "token",
        "key",
        "apikey",
        "signature",
        "sig",
        "auth",
        "authorization",
        "authorisation",
        "bearer",
        "cookie",
        "cookie2",
        "credential",
        "credentials",
        "creds",
        # OAuth client assertions and SAML assertions are signed credentials
        "clientassertion",
        "samlassertion",
        "session",
        "sessionid",
        "jwt",
        "pw",
        "pword",
        "passcode",
        "verifier",
        "otp",
        "totp",
        "hotp",
        "pin",
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cvn",
        "ssn",
        # compound names, also found when written as separate words
        # ("card_number", "mfaCode"): card numbers and one-time codes
        "cardnumber",
        "cardno",
        "cardnum",
        "ccnumber",
        "ccnum",
        "creditcard",
        "debitcard",
        "securitycode",
        "mfacode",
        "2facode",
        "twofactorcode",
        "verificationcode",
        "recoverycode",
        "backupcode",
        "samlresponse",
        "securityanswer",
        "connectionstring",
        "authentication",
        "hmac",
        "sid",
        "sessid",
        "privatekey",
        "privkey",
        "authkey",
        "accesskey",
        "signingkey",
        "masterkey",
        "secretkey",
    }
)
# query and form parameters secret by their exact name, although the name is
# too common to be a secret word everywhere: `code` is the OAuth authorization
# code in redirects (`/callback?code=...`), exchangeable for tokens, while a
# JSON "code" is mostly an error or country code and stays. OAuth's `state`
# is an anti-forgery nonce, not a credential, and stays too.
DEFAULT_PARAMETERS = frozenset({"code"})
# the most words a compound secret name is written in ("two_factor_code")
COMPOUND_WORDS = 4
# names written as one lower-case word ("accesstoken") are caught by the
# longer words as suffixes or prefixes ("secretkey"); short ones ("key",
# "pin") would match "monkey"
MIN_SUFFIX_LENGTH = 5
# short words that still end a one-word secret name ("dbpass", "userpwd",
# "phpsessid")
SHORT_SUFFIXES = ("pass", "pwd", "sessid", "hmac")
# Authorization schemes that are not a plain word (RFC 7235 allows digits)
WORDLESS_SCHEMES = frozenset({"aws4-hmac-sha256", "ssws", "hoba"})
# headers whose values hold no secret by their grammar (media types, sizes,
# dates, tokens of HTTP itself): passed over without a search
PLAIN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "date",
        "etag",
        "expires",
        "keep-alive",
        "last-modified",
        "transfer-encoding",
        "vary",
    }
)
# headers whose value is a URL that may carry secrets in its query or fragment
# (any other text is searched for "?name=value" pairs too: IN_TEXT_PARAMETER)
URL_HEADERS = frozenset(
    {
        "referer",
        "location",
        "content-location",
        "x-original-url",
        "x-original-uri",
        "x-forwarded-uri",
        "x-rewrite-url",
    }
)
# headers that hold URLs inside other text: `Link: <url>; rel=next`,
# `Refresh: 0; url=...`; each URL's path is redacted as a request's is
EMBEDDED_URL_HEADERS = frozenset({"link", "refresh"})
EMBEDDED_URL = re.compile(r"<([^<>\s]+)>|(?i:url)=([^\s;,]+)")

# an Authorization scheme as a word: "Bearer", "Digest", "GoogleLogin"; a
# long all-capitals word is more likely a token than a scheme
SCHEME_WORD = re.compile(r"[A-Za-z]{1,2}[a-z][A-Za-z-]{0,17}|[A-Z]{1,8}")
# the start of the next cookie in a folded Set-Cookie header ("a=1, b=2"),
# not the comma inside an Expires date ("Wed, 21 Oct 2026")
FOLDED_COOKIE = re.compile(r",\s*(?=[^;,=\s]+=)")
# media types whose bodies may be JSON or form text all the same
LOOSE_TYPES = frozenset({"", "text/plain", "text/json", "application/octet-stream"})
# text that is a whole form: name=value pairs, nothing else
FORM_TEXT = re.compile(r"[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*")
# an element holding text only (<password>x</password>, <ns:token>x</ns:token>);
# the match ends before the closing tag's name
MARKUP_ELEMENT = re.compile(r"<([A-Za-z_][\w:.-]{0,100})(\s[^<>]*)?>([^<]{1,4096})</")
# an opening tag with attributes
MARKUP_TAG = re.compile(r"<[A-Za-z][\w:.-]*\s[^<>]{1,4096}>")
# one attribute of a tag, its value quoted or not
MARKUP_ATTRIBUTE = re.compile(
    r"([A-Za-z_:][\w:.-]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+)"
)
# attributes whose names are never secret, whatever words they hold
MARKUP_PLAIN_ATTRIBUTES = frozenset(
    {
        "name",
        "id",
        "type",
        "class",
        "for",
        "autocomplete",
        "placeholder",
        "property",
        "key",
    }
)
# attributes that name their element (`<add key="DbPassword" value="...">`)
MARKUP_NAMING_ATTRIBUTES = ("name", "id", "property", "key")
# a credential after its scheme word in free text ("Authorization: Bearer x"),
# if it looks like one (_credential_like: "Basic understanding" stays)
SCHEMED_CREDENTIAL = re.compile(
    r"\b(Bearer|bearer|Basic|Token|Digest)\s+([A-Za-z0-9._~+/=-]{8,})"
)
# a query parameter's name this long may be a token sent as the name
# (`?k9Qz81aaXyP3mN7b`): when its characters change between small letters,
# capitals, digits and `-` or `_` this often, and at least every third one
# (camelCase names change at word starts only: `includeDeletedItems2024`);
# without a digit in it, at two characters of three
CREDENTIAL_NAME_LENGTH = 16
CREDENTIAL_NAME_TURNS = 8
# a form or query field whose name is long enough to be a credential
_LONG_NAME = re.compile(rf"(?:^|[&;])[^&;=]{{{CREDENTIAL_NAME_LENGTH}}}")
# the kinds of path segment (spec_from_stream.formats.segment_kind) that are
# generated the way credentials are; numbers, dates and slugs after a secret
# word are ids (`/user/keys/42`, `/translations/keys/home-page-title`)
SECRET_SEGMENT_KINDS = frozenset(("token", "random", "hex", "uuid"))
# the characters of a token sent as a query name: base64url and its padding
TOKEN_NAME = re.compile(r"[A-Za-z0-9_-]+=*")
# the first letters of VENDOR_KEY's prefixes
KEY_STARTS = frozenset("srgxAhny")
# path segments remembered as names (Redactor._names_secret_segment)
PATH_NAMES_SIZE = 4096
# what str.translate deletes to tell a number, a hex string or a uuid
_HEX_CHARACTERS = str.maketrans("", "", "0123456789abcdefABCDEF-")
# words of a path segment that hands out a credential in the next one
# (`/verify-email/<token>`, `/invitations/<token>`), though as field names
# they are innocent; the secret words count too
PATH_WORDS = frozenset(
    {
        "reset",
        "verify",
        "verification",
        "confirm",
        "confirmation",
        "activate",
        "activation",
        "invite",
        "invitation",
        "magic",
        "unsubscribe",
        "recover",
        "recovery",
    }
)
WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# a parameter inside any text: a URL's query in an HTML page or a Link or
# Refresh header, a path parameter (";jsessionid=..."); its value ends where
# a URL, an attribute or a sentence would end it
IN_TEXT_PARAMETER = re.compile(
    r"([?&]|&amp;)([A-Za-z0-9_.\-\[\]%]{1,100})=[^&;#\s\"'<>]+"
    # a path parameter's value ends with its segment
    r"|(;)([A-Za-z0-9_.\-\[\]%]{1,100})=[^&;#/?\s\"'<>]+"
)
# digits of a payment card, maybe grouped by spaces or dashes, starting as
# the card networks' numbers do (Visa 4, Mastercard 2 and 5, American Express
# 34 and 37, Diners 30, 36 and 38, Discover and others 6); the Luhn check
# follows, so timestamps and most ids are not taken for one
CARD_NUMBER = re.compile(r"(?:4|5[1-5]|2[2-7]|3[0478]|6)(?:[ -]?[0-9]){11,18}")
# text holding none of these words (nor a secret word) is not searched for
# card numbers: scanning every body for digits would cost more than all the
# rest of its redaction
CARD_WORDS = ("card",)
# JSON members that name the field another member holds the value of:
# [{"name": "password", "value": "..."}]
NAME_MEMBERS = ("name", "key", "field", "param", "parameter")
VALUE_MEMBERS = ("value", "values", "val")
# an object key under a secret member kept as a name: lower-case words,
# joined by "_" or "-" or in camelCase; any other key (a token) is replaced
ORDINARY_KEY = re.compile(r"[a-z]+(?:[_-]?[a-z]+|[A-Z][a-z]+)*")
# the user information of a URL ("https://user:password@host"), also with
# the slashes escaped as in JSON text ("https:\/\/user:pw@host")
USERINFO = re.compile(r"(:(?:\\?/){2})[^/?#@\s\"'<>\\\[\]]+@")
# the same percent-encoded, as a URL inside a query or form value
ENCODED_USERINFO = re.compile(
    r"(%3A%2F%2F)(?:[^%/?#&=\s@]|%(?!2F|3F|23|40)[0-9A-F]{2})+%40", re.IGNORECASE
)
# a JSON member "name": value, for JSON text that cannot be parsed (cut short)
# (never starting at an escaped quote: text full of `\"` would make every
# one of them the start of a long scan)
JSON_MEMBER = re.compile(
    r'(?<!\\)"((?:[^"\\]|\\.){1,200})"(\s*:\s*)("(?:[^"\\]|\\.)*"?|-?[0-9][0-9.eE+-]*)'
)
# a JSON member whose value is an object or array (the match ends before it)
JSON_NESTED_MEMBER = re.compile(r'(?<!\\)"((?:[^"\\]|\\.){1,200})"\s*:\s*(?=[\[{])')
# a JSON escape of a printable ASCII character ("\u0061" for "a")
ESCAPED_ASCII = re.compile(r"\\u00[2-7][0-9a-fA-F]")
# what separates the fields of form text and URL queries, kept by split()
FORM_SEPARATORS = re.compile(r"([&;])")
# what may stand between the words of a compound secret name
_SEPARATORS = ("_", "-", " ", ".", "+")
# a line that sets a name: env files and settings (`DB_PASSWORD=...`,
# `export TOKEN=...`, `password: ...`); the value runs to the end of its line
SETTING_LINE = re.compile(
    r"^([ \t]*(?:export[ \t]+)?)([A-Za-z_][\w.-]{0,63})([ \t]*[=:][ \t]*)(\S[^\r\n]*)",
    re.MULTILINE,
)
# a name given a double-quoted string: a GraphQL argument (`login(password:
# "...")`, block strings too) or JSON quoted inside text
QUOTED_ARGUMENT = re.compile(
    r'(?<![\w$])("?)([A-Za-z_][\w.-]{0,63})\1(\s*:\s*)("""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*")'
)
# names checked per text; past them a text is left as it is (a body of
# thousands of settings must not stall the recorder)
MAX_ASSIGNMENTS = 1000
# characters of a value taken for a link (the URLs servers and browsers
# take are shorter); a longer one is text, so its segments are never walked
MAX_LINK_LENGTH = 2048
# the start of an absolute URL (`https://`)
URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}://")
# a form value that is a percent-encoded path or URL: `%2Freset`, `https%3A%2F%2F`,
# or one holding an encoded query (`/a%3Ftoken%3Dx`)
ENCODED_LINK = re.compile(r"%2F|[A-Za-z][A-Za-z0-9+.-]{0,30}%3A%2F%2F|.*%3F", re.I)
# one multipart part: its headers naming the field, then its content
MULTIPART_FIELD = re.compile(
    rb"(content-disposition:[^\r\n]*?;\s*name\*?=([^\r\n;]*)[^\r\n]*\r?\n"
    rb"(?:[^\r\n]+\r?\n)*\r?\n)(.*?)(?=\r?\n--|\Z)",
    re.IGNORECASE | re.DOTALL,
)


class Redactor:
    """Replaces secrets in headers, query parameters and bodies.

    Limitation: secrets are found by field names and token shapes; a secret
    under an innocent name, in a path segment after an innocent one, or in
    plain text (JWTs, vendor keys in paths, URL parameters and credentials,
    and credentials after their scheme excepted) stays.

    >>> Redactor().header("authorization", "Bearer abc")
    'Bearer [REDACTED]'
    """

    def __init__(
        self,
        headers: frozenset[str] = DEFAULT_HEADERS,
        field_words: frozenset[str] = DEFAULT_FIELD_WORDS,
        parameters: frozenset[str] = DEFAULT_PARAMETERS,
    ) -> None:
        self.headers = frozenset(name.lower() for name in headers)
        self.field_words = frozenset(word.lower() for word in field_words)
        self.parameters = frozenset(name.lower() for name in parameters)
        self._affixes = tuple(
            word for word in self.field_words if len(word) >= MIN_SUFFIX_LENGTH
        )
        self._suffixes = self._affixes + SHORT_SUFFIXES
        # a cheap first test: text without any of the words needs no parsing;
        # a word holding another one ("password", "pass") adds nothing to it
        self._hint_words = (
            tuple(
                word
                for word in sorted(self.field_words)
                if not any(other in word for other in self.field_words if other != word)
            )
            + tuple(f"{name}=" for name in sorted(self.parameters))
            + CARD_WORDS
        )
        # a link whose path may hold a token (`"/reset-password/<token>"`)
        self._link_words = tuple(
            f"/{word}"
            for word in sorted(PATH_WORDS)
            if not any(word.startswith(other) for other in PATH_WORDS - {word})
        )
        self.is_secret_name = functools.lru_cache(maxsize=4096)(self._is_secret_name)
        # path segment -> whether the segment after it may be a credential
        self._path_names: dict[str, bool] = {}

    def _is_secret_name(self, name: str) -> bool:
        words = [word.lower() for word in WORDS.findall(name)]
        # a number after the word changes nothing: "password2", "token_1"
        bare = [word.rstrip("0123456789") or word for word in words]
        # plurals name secrets too: "tokens", "apiKeys", "refresh_tokens"
        return any(
            self._has_secret_word(candidate)
            for candidate in (words, [_singular(word) for word in words], bare)
        )

    def _names_path_secret(self, segment: str) -> bool:
        """Whether the path segment after this one may be a credential."""
        words = [_singular(word.lower()) for word in WORDS.findall(segment)]
        return any(word in PATH_WORDS for word in words) or self.is_secret_name(segment)

    def _has_secret_word(self, words: list[str]) -> bool:
        if any(word in self.field_words for word in words):
            return True
        # compound words written apart: "card_number", "mfaCode"; a compound
        # has a few words, so a name of hundreds costs no more than its length
        for start in range(len(words) - 1):
            for end in range(start + 2, min(len(words), start + COMPOUND_WORDS) + 1):
                if "".join(words[start:end]) in self.field_words:
                    return True
        joined = "".join(words)
        return joined.endswith(self._suffixes) or joined.startswith(self._affixes)

    def is_secret_parameter(self, name: str) -> bool:
        """Whether a query or form parameter name marks a secret."""
        return name.lower() in self.parameters or self.is_secret_name(name)

    def might_hold_secrets(self, text: str) -> bool:
        """False when no secret word, no JWT, no "card" and no link to a page
        handing out tokens (`/reset`, `/verify`, ...) occurs in the text (fast)."""
        if "eyJ" in text or ("\\u" in text and ESCAPED_ASCII.search(text)):
            # a JWT, or JSON escapes of ASCII that may spell a name
            # ("p\u0061ssword"); other escapes (of "é", of CJK) spell none
            return True
        lowered = text.lower()
        if "%" in lowered:
            # names percent-encoded in forms and URLs ("p%61ssword=")
            lowered = unquote_plus(lowered)
        # substring tests in C beat one big case-insensitive regex by far;
        # without separators, "card_number" and "Card Number" hold "cardnumber"
        for separator in _SEPARATORS:
            if separator in lowered:
                lowered = lowered.replace(separator, "")
        # a plain loop: a generator per call cost a third of this test
        for word in self._hint_words:  # noqa: SIM110
            if word in lowered:
                return True
        if "/" in lowered:
            for word in self._link_words:  # noqa: SIM110
                if word in lowered:
                    return True
        return False

    def header(self, name: str, value: str) -> str:
        """Return a header value with secrets replaced (name in lower case)."""
        if name in PLAIN_HEADERS and name not in self.headers:
            return value
        if name in self.headers or self.is_secret_name(name):
            # Authorization, Proxy-Authorization, X-Forwarded-Authorization
            if "authorization" in name:
                return _keep_scheme(value)
            if name in ("cookie", "cookie2"):
                return _redact_cookies(value)
            if name in ("set-cookie", "set-cookie2"):
                return _redact_set_cookie(value)
            return REDACTED
        if name in URL_HEADERS:
            # the path of a redirect or a referring page, as the request's own
            return self._target(self.url(value))
        if name in EMBEDDED_URL_HEADERS:
            value = EMBEDDED_URL.sub(self._embedded_url, value)
        return self.text(value)

    def _embedded_url(self, match: re.Match[str]) -> str:
        """One URL of a Link or Refresh header, its path and query redacted."""
        url = match.group(1) or match.group(2)
        redacted = self._target(self.url(url))
        start = match.start(1) if match.group(1) else match.start(2)
        offset = start - match.start(0)
        whole = match.group(0)
        return whole[:offset] + redacted + whole[offset + len(url) :]

    def headers_in(self, headers: dict[str, str | list[str]]) -> None:
        """Redact a header dict (lower-case names) in place."""
        for name, value in headers.items():
            if isinstance(value, list):
                headers[name] = [self.header(name, item) for item in value]
            else:
                headers[name] = self.header(name, value)

    def query_in(self, query: dict[str, str | list[str]]) -> None:
        """Redact decoded query parameters in place.

        A name that is itself a credential (`/magic?k9Qz81aaXyP3mN7b`, a JWT)
        becomes `[REDACTED]` with its value.
        """
        for name in [name for name in query if _credential_name(name)]:
            query[REDACTED] = REDACTED
            del query[name]
        for name, value in query.items():
            if self.is_secret_parameter(name):
                query[name] = (
                    [REDACTED] * len(value) if isinstance(value, list) else REDACTED
                )
            elif isinstance(value, str) and _card_number(value):
                query[name] = REDACTED
            elif isinstance(value, list):
                query[name] = [self._query_value(item) for item in value]
            else:
                query[name] = self._query_value(value)

    def _query_value(self, value: str) -> str:
        # `;` also separates parameters for some servers: `limit=5;token=x`
        # arrives as limit "5;token=x"
        if ";" in value and "=" in value:
            value = self.form(value)
        return self.link(value)

    def link(self, value: str) -> str:
        """Redact a string value that may be a URL or a path (a redirect
        target, a link in a body): its query, and its path as `pathname`
        does (`?next=/reset-password/<token>`); any other text as `text`."""
        value = self.url(value)
        if len(value) <= MAX_LINK_LENGTH and (
            value[:1] == "/" or URL_START.match(value)
        ):
            return self._target(value)
        return self.text(value)

    def text(self, value: str) -> str:
        """Replace JWTs, the credentials of URLs and secret-named parameters
        ("?token=...", ";jsessionid=...") inside any string."""
        if "eyJ" in value:
            value = JWT.sub(REDACTED, value)
        if "%" in value and "yJ" in (decoded := unquote_plus(value)):
            # a JWT percent-encoded (in a path): that text is kept decoded
            redacted = JWT.sub(REDACTED, decoded)
            if redacted != decoded:
                value = redacted
        if "@" in value and "/" in value:
            value = USERINFO.sub(rf"\1{REDACTED}@", value)
        if "%40" in value:
            value = ENCODED_USERINFO.sub(rf"\1{REDACTED}%40", value)
        if "=" in value and ("?" in value or ";" in value or "&" in value):
            value = IN_TEXT_PARAMETER.sub(self._in_text_parameter, value)
        if " " in value and (
            "earer " in value
            or "asic " in value
            or "oken " in value
            or "igest " in value
        ):
            # a credential quoted in free text, after its scheme word
            value = SCHEMED_CREDENTIAL.sub(_schemed_credential, value)
        return value

    def pathname(self, value: str) -> str:
        """Return a path with its credentials replaced.

        Besides what `text` finds, a segment is replaced when it is a vendor's
        key (`/hooks/ghp_...`), or when it looks like a value (a token, a hex
        string, a number: what the spec builder takes for one) right after a
        segment whose name has a secret word or one of PATH_WORDS
        (`/reset-password/8f4c2a9b...`, `/api/tokens/tok_7Hq2...`,
        `/verify-email/...`). Words stay (`/password/reset`), so the
        path keeps its shape and the builder makes the replaced segment a
        parameter.
        """
        return self._path(self.text(value))

    def _path(self, value: str) -> str:
        """`pathname` after `text`: the segments only."""
        names = self._path_names
        segments = value.split("/")
        after_secret = changed = False
        for index, segment in enumerate(segments):
            if not segment:
                # `//`: the next segment still follows the last named one
                continue
            parameters = ""
            if "%" in segment or ";" in segment:
                # a path parameter (";v=1") is no part of the segment's name
                segment, mark, rest = segment.partition(";")
                parameters = mark + rest
                segment = unquote(segment)
                if not segment:
                    continue
            if after_secret or segment[0] in KEY_STARTS:
                # a method or an extension after a token (`<token>:accept`)
                stem, suffix = (
                    split_suffix(segment) if len(segment) > 8 else (segment, "")
                )
                if stem and (
                    (stem[0] in KEY_STARTS and VENDOR_KEY.fullmatch(stem))
                    or (after_secret and segment_kind(stem) in SECRET_SEGMENT_KINDS)
                ):
                    segments[index] = REDACTED + suffix + parameters
                    after_secret = False
                    changed = True
                    continue
            else:
                stem = segment
            after_secret = names.get(stem)
            if after_secret is None:
                after_secret = self._names_secret_segment(stem)
        if not changed:
            return value
        return "/".join(segments)

    def _names_secret_segment(self, segment: str) -> bool:
        """Whether the path segment after this one may be a credential.

        Names are remembered (PATH_NAMES_SIZE); numbers, hex strings and uuids
        name nothing and are not, so ids never crowd the others out.
        """
        if segment.isdigit() or not segment.translate(_HEX_CHARACTERS):
            return False
        names = self._path_names
        if len(names) >= PATH_NAMES_SIZE:
            names.clear()
        found = names[segment] = segment != REDACTED and self._names_path_secret(
            segment
        )
        return found

    def _in_text_parameter(self, match: re.Match[str]) -> str:
        mark, name = match.group(1, 2) if match.group(1) else match.group(3, 4)
        if self.is_secret_parameter(unquote_plus(name)):
            return f"{mark}{name}={REDACTED}"
        return match.group(0)

    def url(self, value: str) -> str:
        """Redact secret-named parameters in a URL's query and fragment."""
        if "?" not in value and "#" not in value:
            return value
        # the fragment first: a route after "#" may hold a "?" of its own
        before, hash_sep, fragment = value.partition("#")
        base, sep, query = before.partition("?")
        return base + sep + self.form(query) + hash_sep + self._fragment(fragment)

    def _fragment(self, fragment: str) -> str:
        """A URL's fragment: a route of a single-page app (`#/verify/<token>`)
        has its path redacted, parameters (`#access_token=...`) theirs."""
        if fragment[:1] == "/":
            path, mark, rest = fragment.partition("?")
            return self._path(self.text(path)) + mark + self.form(rest)
        return self.form(fragment)

    def form(self, text: str) -> str:
        """Redact secret-named fields of `a=1&b=2` text, keeping the rest as is."""
        if not text or (
            not self.might_hold_secrets(text) and not _LONG_NAME.search(text)
        ):
            return text
        # pieces at even places, their `&` or `;` separators between them
        pieces = FORM_SEPARATORS.split(text)
        for index in range(0, len(pieces), 2):
            piece = pieces[index]
            name, sep, value = piece.partition("=")
            decoded = unquote_plus(name)
            if _credential_name(decoded):
                # a token sent as the name (`?k9Qz81aaXyP3mN7b`)
                pieces[index] = f"{REDACTED}={REDACTED}" if sep else REDACTED
            elif sep and (
                self.is_secret_parameter(decoded) or _card_number(unquote_plus(value))
            ):
                pieces[index] = f"{name}={REDACTED}"
            elif value[:1] == "/" or URL_START.match(value):
                # a link as a value (`?next=/reset-password/<token>`)
                pieces[index] = f"{name}={self.link(value)}"
            elif "%" in value and ENCODED_LINK.match(value):
                # a URL as a value (`?next=/a%3Ftoken%3Dx`, `%2Freset%2F<token>`)
                # with secrets of its own
                decoded = unquote_plus(value)
                redacted = self.link(decoded)
                if redacted != decoded:
                    pieces[index] = f"{name}={quote_plus(redacted, safe='/:[]')}"
        return self.text("".join(pieces))

    def body(self, text: str, media_type: str, complete: bool) -> str:
        """Redact a text body of a media type; `complete` is False if cut short."""
        if not self.might_hold_secrets(text):
            return self.text(text)
        if (
            media_type == "application/json"
            or media_type.endswith("+json")
            # JSON sent as text, or with no type at all, is JSON all the same
            or (media_type in LOOSE_TYPES and text.lstrip()[:1] in ("{", "["))
        ):
            return self.text(self._json_text(text, complete))
        if media_type == "application/x-www-form-urlencoded" or (
            media_type in LOOSE_TYPES and FORM_TEXT.fullmatch(text)
        ):
            return self.form(text)
        if media_type.startswith("multipart/"):
            return self.text(self._multipart(text))
        if "<" in text:
            # HTML or XML, whatever the type says: secret-named elements and
            # attributes (<password>, <input name="csrf_token" value=...>)
            text = MARKUP_ELEMENT.sub(self._markup_element, text)
            text = MARKUP_TAG.sub(self._markup_tag, text)
        return self.text(self.assignments(text))

    def assignments(self, text: str, lines: bool = True) -> str:
        """Redact the values a text gives secret names.

        A double-quoted string after `name:` (a GraphQL argument
        `login(password: "x")`, JSON quoted in text) anywhere; with `lines`,
        also the rest of a line that sets a secret name (`DB_PASSWORD=x`,
        `password: x`), as env files and settings do. Up to MAX_ASSIGNMENTS
        names are checked.
        """
        if ":" not in text and "=" not in text:
            return text
        checked = [0]
        if '"' in text:
            text = QUOTED_ARGUMENT.sub(lambda m: self._assigned(m, checked), text)
        if lines:
            text = SETTING_LINE.sub(lambda m: self._assigned(m, checked), text)
        return text

    def _assigned(self, match: re.Match[str], checked: list[int]) -> str:
        """One assignment (name in group 2, value in 4), its value redacted if
        the name is secret; `checked` counts the names looked at."""
        found = match.group(4)
        if checked[0] >= MAX_ASSIGNMENTS or REDACTED in found:
            return match.group(0)
        checked[0] += 1
        if not self.is_secret_name(match.group(2)):
            return match.group(0)
        # a quoted value keeps its quotes, so the text keeps its syntax
        if found.startswith('"""'):
            quote = '"""'
        elif found[0] in "'\"" and len(found) > 1 and found.endswith(found[0]):
            quote = found[0]
        else:
            quote = ""
        start = match.start(4) - match.start(0)
        return f"{match.group(0)[:start]}{quote}{REDACTED}{quote}"

    def _markup_element(self, match: re.Match[str]) -> str:
        """`<password>x</password>` -> `<password>[REDACTED]</password>`, and
        `<entry key="password">x</entry>` likewise."""
        name = match.group(1).rpartition(":")[2]
        if match.group(3).strip() and (
            self.is_secret_name(name) or self._names_secret(match.group(2) or "")
        ):
            return f"{match.group(0)[: match.start(3) - match.start(0)]}{REDACTED}</"
        return match.group(0)

    def _names_secret(self, attributes: str) -> bool:
        """Whether a tag's naming attribute (name, id, property, key) holds a
        secret name."""
        return any(
            name.lower() in MARKUP_NAMING_ATTRIBUTES
            and self.is_secret_name(_attribute_value(quoted))
            for name, quoted in MARKUP_ATTRIBUTE.findall(attributes)
        )

    def _markup_tag(self, match: re.Match[str]) -> str:
        """Blank the attribute values of a tag that are secret: by their own
        name (`token="..."`), or the value or content of a tag whose name or id
        is secret (`<input name="password" value="...">`)."""
        tag = match.group(0)
        attributes = MARKUP_ATTRIBUTE.findall(tag)
        element = tag[1:].split(None, 1)[0].rpartition(":")[2]
        # `<token value="...">`, `<input name="password" value=...>`
        named = self.is_secret_name(element) or any(
            name.lower() in MARKUP_NAMING_ATTRIBUTES
            and self.is_secret_name(_attribute_value(quoted))
            for name, quoted in attributes
        )
        for name, quoted in attributes:
            lowered = name.lower()
            if (named and lowered in ("value", "content")) or (
                lowered not in MARKUP_PLAIN_ATTRIBUTES and self.is_secret_name(name)
            ):
                quote = quoted[0] if quoted[:1] in ("'", '"') else ""
                tag = tag.replace(
                    f"{name}={quoted}", f"{name}={quote}{REDACTED}{quote}", 1
                )
        return tag

    def json_value(self, value: Any) -> Any:
        """Return a JSON value with every secret-named member blanked.

        So are card numbers, the value beside a secret name in a name/value
        pair, and secrets in JSON text held in a string.
        """
        if isinstance(value, dict):
            blank_values = any(
                isinstance(value.get(name), str) and self.is_secret_name(value[name])
                for name in NAME_MEMBERS
            )
            return {
                key: _blank(item)
                if self.is_secret_name(key) or (blank_values and key in VALUE_MEMBERS)
                else self.json_value(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            if value and all(_is_pair(item) for item in value):
                # name/value pairs written as arrays: `[["password", "x"], ...]`
                return [
                    [item[0], _blank(item[1])]
                    if self.is_secret_name(item[0])
                    else self.json_value(item)
                    for item in value
                ]
            return [self.json_value(item) for item in value]
        if isinstance(value, str):
            if _card_number(value):
                return REDACTED
            if value[:1] in ("{", "[") and self.might_hold_secrets(value):
                return self._json_in_string(value)
            if ("=" in value or ":" in value) and self.might_hold_secrets(value):
                # a GraphQL query, or settings over several lines, in a string
                value = self.assignments(value, lines="\n" in value)
            # links and redirect targets carry tokens in their query and path
            return self.link(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return 0 if _card_number(str(value)) else value
        return value

    def _json_in_string(self, value: str) -> str:
        """A string holding JSON text (GraphQL variables), redacted as JSON."""
        try:
            inner = orjson.loads(value)
        except orjson.JSONDecodeError:
            return self.text(self.url(value))
        return orjson.dumps(self.json_value(inner)).decode()

    def _json_text(self, text: str, complete: bool) -> str:
        if complete:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
            else:
                return orjson.dumps(self.json_value(value)).decode()
        # cut short: no parser takes it, so secret-named members are found by
        # shape, objects and arrays first (their insides may be cut too)
        return JSON_MEMBER.sub(self._json_member, self._json_nested(text))

    def _json_member(self, match: re.Match[str]) -> str:
        name, colon, value = match.groups()
        if not self.is_secret_name(_json_unescape(name)):
            return match.group(0)
        replacement = f'"{REDACTED}"' if value.startswith('"') else "0"
        return f'"{name}"{colon}{replacement}'

    def _json_nested(self, text: str) -> str:
        """Replace the object or array of each secret-named member, up to its
        end or, where the text was cut inside it, to the end of the text."""
        pieces: list[str] = []
        done = 0
        for match in JSON_NESTED_MEMBER.finditer(text):
            if match.start() < done:
                # inside a value already replaced
                continue
            if not self.is_secret_name(_json_unescape(match.group(1))):
                continue
            pieces.append(text[done : match.end()])
            pieces.append(f'"{REDACTED}"')
            done = _json_value_end(text, match.end())
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _multipart(self, text: str) -> str:
        data = text.encode("utf-8", "surrogateescape")
        return MULTIPART_FIELD.sub(self._multipart_field, data).decode(
            "utf-8", "surrogateescape"
        )

    def _multipart_field(self, match: re.Match[bytes]) -> bytes:
        headers, name, _content = match.groups()
        if self.is_secret_parameter(_part_name(name.decode("utf-8", "replace"))):
            return headers + REDACTED.encode()
        return match.group(0)

    def exchange(self, exchange: dict[str, Any]) -> dict[str, Any]:
        """Redact a whole http-types exchange in place (used when replaying files)."""
        meta = exchange.get("meta") if isinstance(exchange.get("meta"), dict) else {}
        truncated = meta.get("truncated") if isinstance(meta, dict) else None
        for side in ("request", "response"):
            message = exchange.get(side)
            if not isinstance(message, dict):
                continue
            headers = message.get("headers")
            if isinstance(headers, dict):
                lowered = {str(name).lower(): value for name, value in headers.items()}
                self.headers_in(lowered)
                message["headers"] = lowered
            if isinstance(message.get("query"), dict):
                self.query_in(message["query"])
            for key in ("url", "path"):
                if isinstance(message.get(key), str):
                    message[key] = self._target(self.url(message[key]))
            if isinstance(message.get("pathname"), str):
                message["pathname"] = self.pathname(message["pathname"])
            if isinstance(message.get("body"), str):
                cut = isinstance(truncated, dict) and bool(truncated.get(side))
                media_type = _media_type(message.get("headers"))
                message["body"] = self.body(message["body"], media_type, not cut)
        return exchange

    def _target(self, target: str) -> str:
        """A request target or URL with its path's credentials replaced."""
        target = self.text(target)
        start = _path_start(target)
        if start < 0:
            return target
        end = len(target)
        for mark in ("?", "#"):
            found = target.find(mark, start)
            if found >= 0:
                end = min(end, found)
        return target[:start] + self._path(target[start:end]) + target[end:]


def _path_start(target: str) -> int:
    """Where the path of a URL or request target starts (-1: it has none)."""
    if target.startswith("//"):
        # a network-path reference: `//host/path`
        return target.find("/", 2)
    if target.startswith("/"):
        return 0
    scheme = target.find("://")
    if scheme > 0 and target[:scheme].isalpha():
        return target.find("/", scheme + 3)
    # a relative reference (`reset/x`), or text that is no URL
    return 0


def _credential_name(name: str) -> bool:
    """Whether a query parameter's name is a credential: a JWT, a vendor's key,
    a uuid or a long hex string, or a long random token (CREDENTIAL_NAME_TURNS)."""
    if len(name) < CREDENTIAL_NAME_LENGTH:
        return False
    if "eyJ" in name and JWT.search(name):
        return True
    if name[0] in KEY_STARTS and VENDOR_KEY.fullmatch(name):
        return True
    if not TOKEN_NAME.fullmatch(name):
        return False
    if segment_kind(name) in ("uuid", "hex"):
        return True
    classes = [_char_class(char) for char in name.rstrip("=")]
    turns = sum(
        first != second for first, second in zip(classes, classes[1:], strict=False)
    )
    if turns < max(CREDENTIAL_NAME_TURNS, len(classes) // 3):
        return False
    # camelCase of short words changes often too (`getUserByIdAndName`), but
    # holds no digit; a token without one must change nearly every character
    return 2 in classes or turns >= 2 * len(classes) // 3


def _char_class(char: str) -> int:
    """0 for a small letter, 1 a capital, 2 a digit, 3 anything else."""
    if char.islower():
        return 0
    if char.isupper():
        return 1
    return 2 if char.isdigit() else 3


def _schemed_credential(match: re.Match[str]) -> str:
    """`Bearer abc123...` -> `Bearer [REDACTED]` when the word after the scheme
    is a credential (spec_from_stream.security.credential_after_scheme)."""
    scheme, word = match.groups()
    if credential_after_scheme(scheme, word):
        return f"{scheme} {REDACTED}"
    return match.group(0)


def _attribute_value(quoted: str) -> str:
    """An attribute's value without its quotes."""
    if quoted[:1] in ("'", '"'):
        return quoted[1:-1]
    return quoted


def _part_name(raw: str) -> str:
    """A multipart field name as written after `name=`: quoted or not, or in
    RFC 2231's `name*=utf-8''...` form."""
    name = raw.strip().strip("\"'")
    charset, quotes, encoded = name.partition("''")
    if quotes and charset.replace("-", "").isalnum():
        name = unquote_plus(encoded)
    return name


def _card_number(text: str) -> bool:
    """Whether a string is a payment card number (13 to 19 digits, Luhn)."""
    if not 13 <= len(text) <= 23 or not text[:1].isdigit():
        return False
    if not CARD_NUMBER.fullmatch(text):
        return False
    return luhn("".join(char for char in text if char.isdigit()))


def _singular(word: str) -> str:
    """A plural word without its "s" ("tokens", "keys"); others as they are."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _json_unescape(name: str) -> str:
    """A JSON string's text with its escapes decoded ("p\\u0061ss" -> "pass")."""
    if "\\" not in name:
        return name
    try:
        return orjson.loads(f'"{name}"')
    except orjson.JSONDecodeError:
        return name


def _json_value_end(text: str, start: int) -> int:
    """Where the JSON object or array starting at `start` ends (past its
    closing bracket), or the text's length when it is cut before that."""
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _media_type(headers: Any) -> str:
    """The media type of a header dict's content-type, lower case, no parameters."""
    if not isinstance(headers, dict):
        return ""
    value = headers.get("content-type", "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).split(";", 1)[0].strip().lower()


def _is_pair(item: Any) -> bool:
    """Whether a JSON array item is a `[name, scalar]` pair."""
    return (
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and not isinstance(item[1], (dict, list))
    )


def _blank(value: Any) -> Any:
    """Replace every scalar inside a value, keeping its structure and types.

    Object keys that are not plain names (tokens used as keys) are replaced.
    """
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, dict):
        return {
            key if ORDINARY_KEY.fullmatch(key) else REDACTED: _blank(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_blank(item) for item in value]
    return REDACTED


def _keep_scheme(value: str) -> str:
    """`Bearer abc` -> `Bearer [REDACTED]`; a bare credential -> `[REDACTED]`.

    A scheme is a word (letters, maybe a dash) or one of WORDLESS_SCHEMES; a
    token followed by a space is not taken for one.
    """
    scheme, sep, _ = value.strip().partition(" ")
    if sep and (scheme.lower() in WORDLESS_SCHEMES or SCHEME_WORD.fullmatch(scheme)):
        return f"{scheme} {REDACTED}"
    return REDACTED


def _redact_cookies(value: str) -> str:
    """`a=1; b=2` -> `a=[REDACTED]; b=[REDACTED]` (cookie names stay); a
    cookie without a name is all value."""
    pairs = [part.strip() for part in value.split(";")]
    return "; ".join(
        f"{pair.split('=', 1)[0].strip()}={REDACTED}" if "=" in pair else REDACTED
        for pair in pairs
        if pair
    )


def _redact_set_cookie(value: str) -> str:
    """Redact the cookie's value; attributes such as Path or HttpOnly stay.

    Cookies folded into one header with commas are redacted each.
    """
    cookies = FOLDED_COOKIE.split(value)
    if len(cookies) > 1:
        return ", ".join(_redact_set_cookie(cookie) for cookie in cookies)
    first, sep, attributes = value.partition(";")
    if "=" not in first:
        return f"{REDACTED}{sep}{attributes}"
    name = first.split("=", 1)[0].strip()
    return f"{name}={REDACTED}{sep}{attributes}"
