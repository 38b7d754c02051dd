"""Building the http-types exchange from what the middleware captured.

The request thread only fills a `Capture` (cheap copies and clock readings);
`ExchangeEncoder` turns it into http-types JSON later, in the sender thread:
header lists, query parsing, text or left-out bodies, redaction, `meta`.
"""

import functools
import logging
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

import orjson

from recorder.config import RecorderOptions
from recorder.redact import Redactor

logger = logging.getLogger(__name__)

# the methods http-types can express; others are skipped and counted
METHODS = frozenset(
    {"GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE", "HEAD", "CONNECT"}
)
# the largest body length recorded: orjson encodes signed 64-bit integers
MAX_LENGTH = 2**63 - 1
# media types never worth decoding as text
BINARY_PREFIXES = ("image/", "audio/", "video/", "font/")
BINARY_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-protobuf",
        "application/protobuf",
        "application/grpc",
        "application/wasm",
    }
)
# characters left as they are when a decoded path is percent-encoded again
PATH_SAFE = "/:@!$&'()*+,;=-._~%"


@dataclass(slots=True, eq=False)
class Capture:
    """What the middleware saw of one exchange, before it becomes http-types."""

    method: str
    raw_uri: str | None
    script_name: str
    path_info: str
    query_string: str
    scheme: str
    host: str
    request_headers: dict[str, str]
    started: float
    started_perf: float
    finished_perf: float = 0.0
    status: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes | None = None
    request_length: int | None = None
    request_complete: bool = True
    response_body: bytes | None = None
    response_length: int | None = None
    response_complete: bool = True
    file_response: bool = False
    aborted: bool = False
    error: bool = False

    def size(self) -> int:
        """Roughly how many bytes this capture holds (for the in-flight cap)."""
        return (
            512
            + len(self.request_body or b"")
            + len(self.response_body or b"")
            + sum(map(len, self.request_headers.values()))
        )


class ExchangeEncoder:
    """Turns a `Capture` into http-types JSON bytes, secrets redacted."""

    def __init__(self, options: RecorderOptions) -> None:
        self.options = options
        self.redactor = Redactor(options.redact_headers, options.redact_fields)

    def __call__(self, capture: Capture) -> bytes:
        """Return the exchange as UTF-8 JSON."""
        return orjson.dumps(self.build(capture))

    def build(self, capture: Capture) -> dict[str, Any]:
        """Return the exchange as a dict valid against the http-types schema."""
        redactor = self.redactor
        request_headers = {
            _header_name(key): _header_value(value)
            for key, value in capture.request_headers.items()
        }
        response_headers = _header_dict(capture.response_headers)
        query = parse_query(capture.query_string)
        redactor.headers_in(request_headers)
        redactor.headers_in(response_headers)
        redactor.query_in(query)
        host = _without_userinfo(_header_value(capture.host))
        if "host" in request_headers:
            request_headers["host"] = _without_userinfo(request_headers["host"])
        # taken after redaction: a client may send anything as its request id.
        # A new id only needs to be unique, not secret: the random module's
        # generator is far cheaper than a system call per exchange, and it is
        # seeded afresh in every process, forked ones included
        request_id = (
            request_headers.get("x-request-id") or f"{random.getrandbits(128):032x}"
        )

        request: dict[str, Any] = {
            "method": capture.method.lower(),
            "protocol": "https" if capture.scheme == "https" else "http",
            "host": host,
            "pathname": redactor.pathname(raw_pathname(capture)),
            "query": query,
            "headers": request_headers,
            "timestamp": _timestamp(capture.started),
        }
        status = _status_code(capture)
        response: dict[str, Any] = {
            "statusCode": status,
            "headers": response_headers,
            # the wall clock at the end, from the monotonic clock's interval
            "timestamp": _timestamp(
                capture.started + capture.finished_perf - capture.started_perf
            ),
        }
        meta: dict[str, Any] = {
            "durationMs": round(
                (capture.finished_perf - capture.started_perf) * 1e3, 3
            ),
            "requestId": str(request_id)[:200],
            "truncated": {"request": False, "response": False},
            "bodyLength": {},
            "bodyOmitted": {},
            "aborted": capture.aborted,
            "error": capture.error,
        }
        self._add_body(
            "request",
            request,
            meta,
            capture.request_body,
            capture.request_length,
            capture.request_complete,
            request_headers,
        )
        recorded = capture.response_body is not None or capture.file_response
        if recorded and _sends_no_body(capture.method, status):
            # HTTP carries no body here (RFC 9110) and servers drop what the
            # app returns anyway: the record says what went over the wire
            response["body"] = ""
            meta["bodyLength"]["response"] = 0
        elif capture.file_response:
            meta["bodyOmitted"]["response"] = "file"
            length = _content_length(response_headers)
            if length is not None:
                meta["bodyLength"]["response"] = length
        else:
            self._add_body(
                "response",
                response,
                meta,
                capture.response_body,
                capture.response_length,
                capture.response_complete,
                response_headers,
            )
        return {"request": request, "response": response, "meta": meta}

    def _add_body(
        self,
        side: str,
        message: dict[str, Any],
        meta: dict[str, Any],
        data: bytes | None,
        length: int | None,
        complete: bool,
        headers: dict[str, Any],
    ) -> None:
        """Put a captured body into the message as text, or say why it is left out."""
        if data is None:
            meta["bodyOmitted"][side] = "not recorded"
            if length is not None:
                meta["bodyLength"][side] = length
            return
        total = len(data) if length is None else length
        meta["bodyLength"][side] = total
        truncated = total > len(data) or not complete
        meta["truncated"][side] = truncated
        if truncated and not data:
            # the app answered without reading the body, so it was never seen
            meta["bodyOmitted"][side] = "unread"
            return

        media_type = _single(headers.get("content-type", "")).split(";", 1)[0]
        media_type = media_type.strip().lower()
        encoding = _single(headers.get("content-encoding", "")).strip().lower()
        if encoding and encoding != "identity":
            meta["bodyOmitted"][side] = "encoded"
            return
        if media_type in BINARY_TYPES or media_type.startswith(BINARY_PREFIXES):
            meta["bodyOmitted"][side] = "binary"
            return
        text = _decode_text(data, truncated)
        if text is None:
            meta["bodyOmitted"][side] = "undecodable"
            return
        if "\x00" in text:
            meta["bodyOmitted"][side] = "binary"
            return
        message["body"] = self.redactor.body(text, media_type, not truncated)


def raw_pathname(capture: Capture) -> str:
    """The path as the client sent it, percent-encoding kept, without the query."""
    raw = capture.raw_uri
    if raw:
        if not raw.startswith("/"):
            # absolute-form request targets ("http://host/path?q")
            raw = urlsplit(raw).path or "/"
        path = raw.split("?", 1)[0].split("#", 1)[0]
        if not path.isascii():
            path = quote(path.encode("latin-1", "replace"), safe=PATH_SAFE)
        return path or "/"
    # no raw request line from the server: encode the decoded path again
    decoded = (capture.script_name + capture.path_info).encode("latin-1", "replace")
    return quote(decoded, safe=PATH_SAFE.replace("%", "")) or "/"


def parse_query(query_string: str) -> dict[str, str | list[str]]:
    """Decode a query string; blank values kept, repeated keys become lists."""
    query: dict[str, str | list[str]] = {}
    if not query_string:
        return query
    if not query_string.isascii():
        # WSGI hands over the raw bytes as latin-1; they are really UTF-8
        query_string = query_string.encode("latin-1").decode("utf-8", "replace")
    for piece in query_string.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        name = unquote_plus(name, errors="replace")
        value = unquote_plus(value, errors="replace")
        seen = query.get(name)
        if seen is None:
            query[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            query[name] = [seen, value]
    return query


@functools.lru_cache(maxsize=1024)
def _header_name(environ_key: str) -> str:
    # Limitation: WSGI spells "X-A_B" and "X-A-B" alike, and joins a header sent
    # twice into one comma-separated value, so neither can be told apart here
    if environ_key.startswith("HTTP_"):
        environ_key = environ_key[5:]
    return environ_key.replace("_", "-").lower()


def _header_value(value: str) -> str:
    # WSGI strings carry the raw bytes as latin-1; most non-ASCII headers are UTF-8
    if value.isascii():
        return value
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


def _without_userinfo(host: str) -> str:
    """A Host value without "user:password@", which HTTP does not allow there
    but a client may send anyway."""
    return host.rpartition("@")[2] if "@" in host else host


def _header_dict(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Response header pairs to a dict; repeated names become lists."""
    headers: dict[str, str | list[str]] = {}
    for name, value in pairs:
        name = str(name).lower()
        value = _header_value(str(value))
        seen = headers.get(name)
        if seen is None:
            headers[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            headers[name] = [seen, value]
    return headers


def _single(value: str | list[str]) -> str:
    if isinstance(value, list):
        return value[0] if value else ""
    return value


def _content_length(headers: dict[str, Any]) -> int | None:
    return parse_length(_single(headers.get("content-length", "")))


def parse_length(value: str) -> int | None:
    """A Content-Length value as a number, None when it is not one.

    Absurd lengths are capped at the largest integer JSON encoders take
    (2**63 - 1), so they neither fail the exchange's encoding nor hide it.
    """
    if not (value.isascii() and value.isdigit()):
        return None
    # more digits than any 64-bit number: also spares int() a huge string
    if len(value) > 19:
        return MAX_LENGTH
    return min(int(value), MAX_LENGTH)


def _sends_no_body(method: str, status: int) -> bool:
    """Whether a response to this method with this status has no body."""
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


def _status_code(capture: Capture) -> int:
    # an app that raised before its body never got a status out: the server sends 500
    if capture.status is None:
        return 500
    head = capture.status.split(" ", 1)[0]
    return int(head) if head.isdigit() else 500


def _timestamp(epoch_seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, as `datetime.isoformat` writes it."""
    # split and rounded to microseconds the way datetime.fromtimestamp does
    fraction, whole = math.modf(epoch_seconds)
    micros = round(fraction * 1_000_000)
    seconds = int(whole)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    return f"{_second_text(seconds)}.{micros // 1000:03d}+00:00"


@functools.lru_cache(maxsize=8)
def _second_text(seconds: int) -> str:
    # formatting a datetime was a twentieth of the sender's time: do it once
    # per second of the clock, since neighbouring exchanges share the second
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _decode_text(data: bytes, truncated: bool) -> str | None:
    """UTF-8 text, or None; a character cut by truncation is dropped."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if truncated and error.reason == "unexpected end of data":
            return data[: error.start].decode("utf-8")
        return None
