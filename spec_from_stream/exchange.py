"""Decoding and validating http-types exchanges before the builder sees them."""

from __future__ import annotations

from typing import TypedDict

import msgspec
import orjson

METHODS = frozenset(
    ("get", "put", "post", "patch", "delete", "options", "trace", "head", "connect")
)
KINDS = (
    "not_utf8",
    "null_bytes",
    "not_json",
    "not_object",
    "not_exchange",
    "wrong_types",
    "too_large",
    "too_deep",
    "unsupported_method",
    # a HAR entry of a page's own files (har.PAGE_RESOURCE_TYPES)
    "page_asset",
    # a HAR entry the browser got no answer for (status 0)
    "no_response",
)
UTF8_BOM = b"\xef\xbb\xbf"
# the magic byte and schema id that Schema Registry serializers put first
SCHEMA_ID_HEADER = 5
# meta is free-form, so it is the one part whose nesting needs a bound: its
# entries nested deeper are dropped (the exchange is kept)
MAX_META_DEPTH = 8


_SCHEMA_REGISTRY_HINT = (
    "starts with a zero byte, as Avro or Protobuf behind a Schema Registry "
    "header does; only JSON values are read"
)


def strip_bom(data: bytes) -> bytes:
    """Drop the byte order mark some Windows tools put before UTF-8 text."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


class BadMessage(ValueError):
    """A message that is not a usable exchange; .kind names the kind."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def decode(raw: bytes | str, *, max_bytes: int = 4 * 1024 * 1024) -> dict:
    """Parse one message into a validated exchange dict or raise BadMessage.

    The dict holds the fields the builder reads (request, response, meta);
    others (timestamps, for one) are left out, and passed over unchecked: a
    bad byte or an out-of-range number there does not make the message bad.
    """
    if not isinstance(raw, (bytes, str, bytearray, memoryview)):
        raise BadMessage("not_json", f"unsupported message type {type(raw).__name__}")
    if len(raw) > max_bytes:
        unit = "characters" if isinstance(raw, str) else "bytes"
        raise BadMessage("too_large", f"{len(raw)} {unit}")
    try:
        exchange = _TYPED.decode(raw)
    except Exception:
        framed = _behind_schema_id(raw)
        if framed is not None:
            # Confluent's JSON Schema serializer writes a zero byte and the
            # 4-byte id of the schema before the JSON: the exchange follows
            try:
                return decode(framed, max_bytes=max_bytes)
            except BadMessage as error:
                if error.kind not in ("not_json", "not_utf8", "null_bytes"):
                    raise
                # Avro whose first byte happens to be "{" (a string of 61
                # characters, for one): not JSON after all
                raise BadMessage("null_bytes", _SCHEMA_REGISTRY_HINT) from None
        # anything the typed decoder refuses (a wrong type, broken JSON, too
        # deep) is parsed again as plain JSON, which names what is wrong
        return _decode_plain(raw)
    request = exchange["request"]
    response = exchange.get("response")
    if (
        request["method"] in METHODS
        and (
            request.get("pathname") is not None
            or request.get("path") is not None
            or request.get("url") is not None
        )
        and (response is None or 100 <= response["statusCode"] <= 599)
    ):
        return exchange
    # what types alone cannot say (an upper-case method, a missing path, a
    # status out of range) is told, or mended, by the full checks
    return validate(exchange)


def _decode_plain(raw: bytes | str) -> dict:
    """Parse one message as any JSON, then check it is an exchange."""
    if isinstance(raw, memoryview):
        # "in" on a memoryview compares items, not bytes
        raw = raw.tobytes()
    bom = UTF8_BOM if isinstance(raw, (bytes, bytearray)) else "\ufeff"
    if raw[: len(bom)] == bom:
        # a producer that writes text files (PowerShell, .NET) may put a byte
        # order mark first; JSON Lines files drop one, and so does a message
        raw = raw[len(bom) :]
    # a raw NUL byte is never valid JSON; named apart, it often means a binary
    # or truncated message
    if (b"\x00" if isinstance(raw, (bytes, bytearray)) else "\x00") in raw:
        if raw[:1] in (b"\x00", "\x00"):
            # the wire format of Schema Registry serializers: read only as JSON
            raise BadMessage("null_bytes", _SCHEMA_REGISTRY_HINT)
        raise BadMessage("null_bytes")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise _classify_decode_error(raw, error) from None
    return validate(obj)


def _behind_schema_id(raw: object) -> bytes | None:
    """The JSON of a message behind a Schema Registry header, else None."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    if not isinstance(raw, (bytes, bytearray)) or raw[:1] != b"\x00":
        return None
    framed = bytes(raw[SCHEMA_ID_HEADER:])
    return framed if framed.lstrip()[:1] in (b"{", b"[") else None


_TextMap = dict[str, str | list[str]]
_Scalar = str | int | float | bool | None
# meta as the recorder writes it, nested two deep at most (so never too deep);
# other shapes take the plain path, which bounds their depth
_Meta = dict[str, _Scalar | dict[str, _Scalar | list[str]] | list[_Scalar]]


class _RequestMethod(TypedDict):
    method: str


class _Request(_RequestMethod, total=False):
    """The request fields the builder reads, as their types must be."""

    pathname: str | None
    path: str | None
    url: str | None
    host: str | None
    protocol: str | None
    body: str | None
    headers: _TextMap | None
    query: _TextMap | None


class _ResponseStatus(TypedDict):
    statusCode: int


class _Response(_ResponseStatus, total=False):
    """The response fields the builder reads."""

    body: str | None
    headers: _TextMap | None


class _ExchangeRequest(TypedDict):
    request: _Request


class _Exchange(_ExchangeRequest, total=False):
    """An exchange as the builder reads it; other fields are passed over."""

    response: _Response | None
    meta: _Meta | None


# parses and type-checks in one pass, leaving out fields the builder never reads
_TYPED = msgspec.json.Decoder(_Exchange)


def _classify_decode_error(raw: bytes | str, error: Exception) -> BadMessage:
    """Name the reason orjson refused a message."""
    text = str(error)
    if "depth" in text or "recursion" in text.lower():
        return BadMessage("too_deep")
    if "UTF-8" in text or "surrogate" in text:
        return BadMessage("not_utf8")
    if not isinstance(raw, str):
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return BadMessage("not_utf8")
    return BadMessage("not_json", text.split(":")[0])


def validate(obj: object) -> dict:
    """Check an already-parsed object is an exchange; raise BadMessage if not."""
    if not isinstance(obj, dict):
        raise BadMessage("not_object", type(obj).__name__)
    request = obj.get("request")
    if request is None:
        raise BadMessage("not_exchange", "no request")
    if not isinstance(request, dict):
        raise BadMessage("wrong_types", "request is not an object")
    method = request.get("method")
    if not isinstance(method, str):
        if method is None:
            raise BadMessage("not_exchange", "no request method")
        raise BadMessage("wrong_types", "request.method is not a string")
    if method not in METHODS:
        lowered = method.lower()
        if lowered not in METHODS:
            raise BadMessage("unsupported_method")
        request["method"] = lowered
    _check_request(request)

    response = obj.get("response")
    if response is not None:
        _check_response(response)
    meta = obj.get("meta")
    if meta is not None:
        if not isinstance(meta, dict):
            raise BadMessage("wrong_types", "meta is not an object")
        if _too_deep(meta, MAX_META_DEPTH):
            # meta is free-form (a tracer's spans, a framework's context) and
            # the builder reads only its shallow marks: the deep entries go,
            # the exchange stays
            obj["meta"] = {
                key: value
                for key, value in meta.items()
                if not isinstance(value, (dict, list))
                or not _too_deep(value, MAX_META_DEPTH - 1)
            }
    return obj


def _check_request(request: dict) -> None:
    """Check the types of the request fields the builder reads."""
    get = request.get
    for key in _REQUEST_TEXT:
        value = get(key)
        # the class test settles the usual case without a call
        if value is None or value.__class__ is str:
            continue
        if not isinstance(value, str):
            raise BadMessage("wrong_types", f"request.{key} is not a string")
    if get("pathname") is None and get("path") is None and get("url") is None:
        raise BadMessage("not_exchange", "request has no path")
    _check_string_map(get("query"), "request.query")
    _check_string_map(get("headers"), "request.headers")


_REQUEST_TEXT = ("pathname", "path", "host", "body", "url", "protocol")


def _check_response(response: object) -> None:
    """Check the types of the response fields the builder reads."""
    if not isinstance(response, dict):
        raise BadMessage("wrong_types", "response is not an object")
    status = response.get("statusCode")
    # the usual case in one test; anything else goes through the full checks
    if status.__class__ is not int or not 100 <= status <= 599:
        _check_status(status)
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise BadMessage("wrong_types", "response.body is not a string")
    _check_string_map(response.get("headers"), "response.headers")


def _check_status(status: object) -> None:
    """Check a response status code is a whole number from 100 to 599."""
    if status is None:
        raise BadMessage("not_exchange", "response has no statusCode")
    if isinstance(status, bool) or not isinstance(status, (int, float)):
        raise BadMessage("wrong_types", "response.statusCode is not a number")
    if not 100 <= status <= 599 or status != int(status):
        raise BadMessage("wrong_types", "response.statusCode is out of range")


def _check_string_map(value: object, where: str) -> None:
    """Check a headers or query object maps names to strings or string lists."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise BadMessage("wrong_types", f"{where} is not an object")
    for item in value.values():
        if item.__class__ is str:
            continue
        if isinstance(item, list) and all(isinstance(part, str) for part in item):
            continue
        raise BadMessage("wrong_types", f"{where} holds a value that is not text")


_SCALAR_TYPES = frozenset((str, int, float, bool, type(None)))


def _too_deep(value: dict | list, limit: int) -> bool:
    """Tell whether a parsed JSON object or array nests deeper than limit.

    The value itself is at depth 1; anything inside it at depth limit + 1 or
    more is too deep.
    """
    if limit < 1:
        return True
    children = value.values() if isinstance(value, dict) else value
    if limit == 1:
        return bool(children)
    # only containers can reach deeper: plain values are passed over quickly
    for child in children:
        if child.__class__ in _SCALAR_TYPES:
            continue
        if isinstance(child, (dict, list)) and _too_deep(child, limit - 1):
            return True
    return False
