"""Per-operation summaries: query parameters, request bodies, responses, security."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import orjson

from spec_from_stream.formats import typed_text
from spec_from_stream.names import looks_like_value
from spec_from_stream.schema import MAX_NAME_LENGTH, SchemaCaps, SchemaSummary
from spec_from_stream.security import is_query_key, schemes_in_request

if TYPE_CHECKING:
    from spec_from_stream.evidence import RequestEvidence

# identical bodies are counted first and walked once with their count, which keeps
# the schema counters exact while repeated traffic costs one dict lookup a body
PENDING_BODIES = 64
# bodies longer than this are only counted; walking them costs more than they teach
MAX_PARSED_BODY = 1024 * 1024
# the boundary a multipart Content-Type names
BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PART_NAME = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)
_PART_FILE = re.compile(r'\bfilename\*?="?', re.IGNORECASE)
NO_BODY_STATUSES = frozenset((204, 205, 304))
# statuses that say the request itself was malformed: bad syntax or values,
# a media type the server does not take, content it cannot process (401, 404
# or 409 say nothing against the request's shape)
REJECTED_STATUSES = frozenset((400, 415, 422))
# media types per request or status, and security schemes per operation: real
# APIs use a handful; odd traffic must not grow the summary without bound
MAX_MEDIA_TYPES = 16
MAX_SCHEMES = 16
# pending bodies are walked once they hold this many characters in total
PENDING_CHARS = 256 * 1024
# response headers whose meaning is part of the API (where a created or moved
# resource is, when to try again, validators and links for the next request),
# by their lower-case name; only their presence is counted, never their values
DOCUMENTED_HEADERS = {
    "location": "Location",
    "retry-after": "Retry-After",
    "etag": "ETag",
    "last-modified": "Last-Modified",
    "link": "Link",
    "content-location": "Content-Location",
    "content-disposition": "Content-Disposition",
}


def media_kind(media: str) -> str:
    """Sort a media type into json, form, multipart, text or binary."""
    if media == "application/json" or media.endswith("+json") or "json" in media:
        return "json"
    if media == "application/x-www-form-urlencoded":
        return "form"
    if media.startswith("multipart/"):
        return "multipart"
    if media.startswith("text/") or media.endswith(("xml", "javascript", "yaml")):
        return "text"
    return "binary"


def header(headers: dict | None, name: str) -> str | None:
    """Return one header's value (the first of a list), name in lower case."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        for key, item in headers.items():
            if key.lower() == name:
                value = item
                break
        else:
            return None
    if isinstance(value, list):
        return value[0] if value else None
    return value


def media_of(headers: dict | None, body: str) -> str | None:
    """Return the bare media type of a message, sniffing JSON when unlabelled."""
    return _media(header(headers, "content-type"), body)


def _media(content_type: str | None, body: str) -> str | None:
    """Return the bare media type of a Content-Type value, or sniff the body."""
    if content_type:
        # a handful of Content-Type values make up all the traffic
        media = _MEDIA_TYPES.get(content_type)
        if media is None:
            media = content_type.split(";", 1)[0].strip().lower()
            if not _MEDIA_TYPE.fullmatch(media):
                # not "type/subtype" ("text/html\x00", "a\nb"): no type said
                media = ""
            # odd long values are not kept: the cache must stay small
            if len(content_type) <= _MEDIA_TYPE_CHARS:
                if len(_MEDIA_TYPES) >= _MEDIA_TYPES_SIZE:
                    _MEDIA_TYPES.clear()
                _MEDIA_TYPES[content_type] = media
        if media:
            return media
        # a Content-Type with no type in it (";", spaces) says nothing: sniff
    if not body:
        return None
    start = _without_bom(body).lstrip()[:1]
    if start in ("{", "["):
        return "application/json"
    return "text/plain"


# a media type as HTTP writes it: type "/" subtype, both tokens
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+/[a-z0-9!#$%&'*+.^_`|~-]+")
# Content-Type value -> bare media type ("" when there is none)
_MEDIA_TYPES: dict[str, str] = {}
_MEDIA_TYPES_SIZE = 1024
_MEDIA_TYPE_CHARS = 256


class BodySummary:
    """Bodies of one media type: how many, and the schema of the parsed ones."""

    __slots__ = ("count", "schema", "files", "pending", "pending_chars", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self.schema: SchemaSummary | None = None
        # multipart fields that carried a file (rendered as binary strings)
        self.files: set[str] = set()
        self.pending: dict[str, int] = {}
        self.pending_chars = 0

    def add(self, body: str, content_type: str, caps: SchemaCaps, parse: bool) -> None:
        """Count one body; parse it for a schema when allowed and parseable."""
        self.count += 1
        if not parse or self.kind in ("text", "binary") or len(body) > MAX_PARSED_BODY:
            return
        if self.kind == "multipart":
            self._add_multipart(body, content_type, caps)
            return
        pending = self.pending
        count = pending.get(body)
        if count is None:
            pending[body] = 1
            self.pending_chars += len(body)
            if len(pending) >= PENDING_BODIES or self.pending_chars > PENDING_CHARS:
                self.flush(caps)
        else:
            pending[body] = count + 1

    def flush(self, caps: SchemaCaps) -> None:
        """Walk the bodies counted so far into the schema."""
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        self.pending_chars = 0
        for body, weight in pending.items():
            value = self._parse(body)
            if value is _UNPARSED:
                continue
            if self.schema is None:
                self.schema = SchemaSummary()
            self.schema.add(value, caps, weight)

    def _parse(self, body: str) -> object:
        """Return the JSON value of a body, or _UNPARSED."""
        body = _without_bom(body)
        if self.kind == "json":
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                return _UNPARSED
        return _form_fields(body)

    def _add_multipart(self, body: str, content_type: str, caps: SchemaCaps) -> None:
        """Count the field names of a multipart body (files as binary)."""
        match = BOUNDARY.search(content_type)
        if not match:
            return
        fields: dict[str, object] = {}
        for part in body.split("--" + match.group(1)):
            head, _, value = part.partition("\r\n\r\n")
            if not _:
                head, _, value = part.partition("\n\n")
            name = _PART_NAME.search(head)
            if not name:
                continue
            if _PART_FILE.search(head):
                self.files.add(name.group(1))
                fields[name.group(1)] = ""
            else:
                fields[name.group(1)] = typed_text(value.rstrip("\r\n"))
        if self.schema is None:
            self.schema = SchemaSummary()
        self.schema.add(fields, caps)

    def merge(self, other: BodySummary, caps: SchemaCaps) -> None:
        """Add another summary of the same media type to this one."""
        other.flush(caps)
        self.flush(caps)
        self.count += other.count
        self.files |= other.files
        if other.schema is not None:
            if self.schema is None:
                self.schema = SchemaSummary()
            self.schema.merge(other.schema)

    def to_state(self, caps: SchemaCaps) -> dict:
        """Return the counters as plain JSON data."""
        self.flush(caps)
        state: dict = {"k": self.kind, "c": self.count}
        if self.schema is not None:
            state["s"] = self.schema.to_state()
        if self.files:
            state["f"] = sorted(self.files)
        return state

    @classmethod
    def from_state(cls, state: dict) -> BodySummary:
        """Rebuild from to_state() output."""
        summary = cls(state["k"])
        summary.count = state["c"]
        if "s" in state:
            summary.schema = SchemaSummary.from_state(state["s"])
        summary.files = set(state.get("f", ()))
        return summary

    def render(
        self, openapi: str, examples: bool, evidence: RequestEvidence | None = None
    ) -> dict:
        """Return the schema of these bodies as OpenAPI (evidence: see schema)."""
        if self.kind == "binary":
            return {"type": "string", "format": "binary"}
        if self.kind == "text":
            return {"type": "string"}
        if self.schema is None:
            return {}
        schema = self.schema.render(openapi, examples, evidence)
        properties = schema.get("properties")
        if self.files and isinstance(properties, dict):
            for name in self.files:
                if name in properties:
                    properties[name] = {"type": "string", "format": "binary"}
        return schema


_UNPARSED = object()


def _without_bom(body: str) -> str:
    """Return a body without the one byte order mark some servers write first.

    The mark (U+FEFF) is no part of JSON or form text: left in, it makes the
    body unparseable and its schema empty.
    """
    return body[1:] if body[:1] == "\ufeff" else body


def _form_fields(body: str) -> dict[str, object]:
    """Return the fields of a urlencoded body as typed values (lists if repeated)."""
    fields: dict[str, object] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        typed = typed_text(value)
        if name in fields:
            previous = fields[name]
            if isinstance(previous, list):
                previous.append(typed)
            else:
                fields[name] = [previous, typed]
        else:
            fields[name] = typed
    return fields


class ResponseSummary:
    """Responses of one status code: how many, how many empty, bodies per media.

    ``headers`` counts, per documented header (lower-case name), how many
    responses carried it and how many of those values were whole numbers.
    """

    __slots__ = ("count", "empty", "media", "headers")

    def __init__(self) -> None:
        self.count = 0
        self.empty = 0
        self.media: dict[str, BodySummary] = {}
        self.headers: dict[str, list[int]] = {}

    def add_headers(
        self, headers: dict, documented: tuple[tuple[str, str], ...]
    ) -> None:
        """Count the documented headers one response carried.

        ``documented`` holds their (key, lower-case name) pairs, as
        ``_documented_names`` finds them.
        """
        for key, name in documented:
            value = headers[key]
            counts = self.headers.get(name)
            if counts is None:
                counts = self.headers[name] = [0, 0]
            counts[0] += 1
            if isinstance(value, list):
                value = value[0] if value else ""
            if isinstance(value, str) and value.isdigit():
                counts[1] += 1


def _documented_names(headers: dict) -> tuple[tuple[str, str], ...]:
    """Return (key, lower-case name) of each documented header among these."""
    # the same few lists of header names repeat from response to response:
    # each list is sorted out once
    names = tuple(headers)
    found = _DOCUMENTED_BY_NAMES.get(names)
    if found is None:
        found = tuple(
            (key, name) for key in names if (name := key.lower()) in DOCUMENTED_HEADERS
        )
        # responses with very many headers are not kept: the cache stays small
        if len(names) <= _CACHED_NAMES and sum(map(len, names)) <= _CACHED_CHARS:
            if len(_DOCUMENTED_BY_NAMES) >= _DOCUMENTED_BY_NAMES_SIZE:
                _DOCUMENTED_BY_NAMES.clear()
            _DOCUMENTED_BY_NAMES[names] = found
    return found


# header names of a response, in order -> its documented (key, name) pairs
_DOCUMENTED_BY_NAMES: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
_DOCUMENTED_BY_NAMES_SIZE = 4096
_CACHED_NAMES = 64
_CACHED_CHARS = 2048


class QuerySummary:
    """One query parameter: how often present, how often repeated, value schema."""

    __slots__ = ("count", "repeated", "schema")

    def __init__(self) -> None:
        self.count = 0
        self.repeated = 0
        self.schema = SchemaSummary()


class Operation:
    """Everything counted for one method on one concrete path.

    The query and body of a request answered 400, 415 or 422 are counted
    apart, in ``rejected``: the server said the request was wrong (a
    misspelt parameter, a field missing, a body of the wrong type), so it is
    no evidence of what the API takes. They document the request only while no
    request of the operation was accepted (`request_side`).
    """

    __slots__ = (
        "count",
        "query",
        "requests",
        "with_body",
        "responses",
        "security",
        "rejected",
    )

    def __init__(self) -> None:
        self.count = 0
        self.query: dict[str, QuerySummary] = {}
        self.requests: dict[str, BodySummary] = {}
        self.with_body = 0
        self.responses: dict[int, ResponseSummary] = {}
        self.security: dict[str, int] = {}
        # the query and bodies of requests answered with REJECTED_STATUSES
        # (count, query, requests and with_body only)
        self.rejected: Operation | None = None

    def request_side(self) -> tuple[Operation, int]:
        """Return the counters that document the request, and of how many.

        Those of the accepted requests; of the rejected ones when none was
        accepted (an operation only ever answered 422 still takes a body).
        """
        rejected = self.rejected
        if rejected is None:
            return self, self.count
        accepted = self.count - rejected.count
        if accepted > 0:
            return self, accepted
        return rejected, rejected.count

    def add(
        self,
        method: str,
        request: dict,
        query: dict | None,
        response: dict | None,
        meta: dict | None,
        caps: SchemaCaps,
    ) -> None:
        """Count one exchange of this operation."""
        self.count += 1
        headers = request.get("headers")
        status = int(response["statusCode"]) if response is not None else 0
        side = self
        if status in REJECTED_STATUSES:
            side = self.rejected
            if side is None:
                side = self.rejected = Operation()
            side.count += 1
        if query:
            side._add_query(query, caps)
        if headers or query:
            security = self.security
            for key in schemes_in_request(headers, query):
                if key in security or len(security) < MAX_SCHEMES:
                    security[key] = security.get(key, 0) + 1
                else:
                    caps.hits["security_schemes"] += 1

        body = request.get("body")
        if body:
            side.with_body += 1
            content_type = header(headers, "content-type")
            media = _media(content_type, body)
            summary = side.requests.get(media)
            if summary is None:
                if len(side.requests) >= MAX_MEDIA_TYPES:
                    caps.hits["media_types"] += 1
                    return
                summary = side.requests[media] = BodySummary(media_kind(media))
            summary.add(body, content_type or "", caps, not _body_cut(meta, "request"))

        if response is None:
            return
        result = self.responses.get(status)
        if result is None:
            result = self.responses[status] = ResponseSummary()
        result.count += 1
        response_headers = response.get("headers")
        if response_headers:
            documented = _documented_names(response_headers)
            if documented:
                result.add_headers(response_headers, documented)
        body = response.get("body")
        cut = _body_cut(meta, "response") if meta else False
        if method == "head" or status in NO_BODY_STATUSES or status < 200:
            result.empty += 1
            return
        if not body and not cut:
            result.empty += 1
            return
        content_type = header(response_headers, "content-type")
        media = _media(content_type, body or "")
        if media is None:
            result.empty += 1
            return
        summary = result.media.get(media)
        if summary is None:
            if len(result.media) >= MAX_MEDIA_TYPES:
                caps.hits["media_types"] += 1
                return
            summary = result.media[media] = BodySummary(media_kind(media))
        summary.add(body or "", content_type or "", caps, not cut)

    def _add_query(self, query: dict, caps: SchemaCaps) -> None:
        """Count the query parameters of one request (never their raw values)."""
        params = self.query
        for name, value in query.items():
            # `?=x` or `?&` name nothing a client could send on purpose
            if not name or is_query_key(name):
                continue
            param = params.get(name)
            if param is None:
                if len(name) > MAX_NAME_LENGTH:
                    caps.hits["name_length"] += 1
                    continue
                if looks_like_value(name):
                    # data sent as a name (an email, a phone number): never
                    # documented, so not kept in the counters either
                    continue
                if len(params) >= caps.max_properties:
                    caps.hits["query_params"] += 1
                    continue
                param = params[name] = QuerySummary()
            param.count += 1
            if isinstance(value, list):
                param.repeated += 1
                for item in value:
                    param.schema.add(typed_text(item), caps)
            else:
                param.schema.add(typed_text(value), caps)

    def flush(self, caps: SchemaCaps) -> None:
        """Walk every pending body into its schema."""
        for summary in self.requests.values():
            summary.flush(caps)
        for result in self.responses.values():
            for summary in result.media.values():
                summary.flush(caps)
        if self.rejected is not None:
            self.rejected.flush(caps)

    def merge(self, other: Operation, caps: SchemaCaps) -> None:
        """Add another operation's counters to this one (other is left unchanged)."""
        self.count += other.count
        self.with_body += other.with_body
        for name, param in other.query.items():
            mine = self.query.get(name)
            if mine is None:
                mine = self.query[name] = QuerySummary()
            mine.count += param.count
            mine.repeated += param.repeated
            mine.schema.merge(param.schema)
        for media, summary in other.requests.items():
            mine_body = self.requests.get(media)
            if mine_body is None:
                mine_body = self.requests[media] = BodySummary(summary.kind)
            mine_body.merge(summary, caps)
        for status, result in other.responses.items():
            mine_result = self.responses.get(status)
            if mine_result is None:
                mine_result = self.responses[status] = ResponseSummary()
            mine_result.count += result.count
            mine_result.empty += result.empty
            for name, (present, whole) in result.headers.items():
                counts = mine_result.headers.setdefault(name, [0, 0])
                counts[0] += present
                counts[1] += whole
            for media, summary in result.media.items():
                mine_body = mine_result.media.get(media)
                if mine_body is None:
                    mine_body = mine_result.media[media] = BodySummary(summary.kind)
                mine_body.merge(summary, caps)
        for key, count in other.security.items():
            self.security[key] = self.security.get(key, 0) + count
        if other.rejected is not None:
            if self.rejected is None:
                self.rejected = Operation()
            self.rejected.merge(other.rejected, caps)

    def to_state(self, caps: SchemaCaps) -> dict:
        """Return the counters as plain JSON data."""
        state = {
            "c": self.count,
            "q": {
                name: [param.count, param.repeated, param.schema.to_state()]
                for name, param in self.query.items()
            },
            "b": self.with_body,
            "rq": {
                media: summary.to_state(caps)
                for media, summary in self.requests.items()
            },
            "rs": {
                str(status): _response_state(result, caps)
                for status, result in self.responses.items()
            },
            "s": self.security,
        }
        if self.rejected is not None:
            state["rj"] = self.rejected.to_state(caps)
        return state

    @classmethod
    def from_state(cls, state: dict) -> Operation:
        """Rebuild from to_state() output."""
        operation = cls()
        operation.count = state["c"]
        for name, (count, repeated, schema) in state["q"].items():
            param = operation.query[name] = QuerySummary()
            param.count = count
            param.repeated = repeated
            param.schema = SchemaSummary.from_state(schema)
        operation.with_body = state["b"]
        for media, summary in state["rq"].items():
            operation.requests[media] = BodySummary.from_state(summary)
        for status, (count, empty, media_map, *headers) in state["rs"].items():
            result = operation.responses[int(status)] = ResponseSummary()
            result.count = count
            result.empty = empty
            for media, summary in media_map.items():
                result.media[media] = BodySummary.from_state(summary)
            # the header counts come fourth, and only when there are some
            if headers:
                result.headers = {
                    name: list(counts) for name, counts in headers[0].items()
                }
        operation.security = dict(state["s"])
        # states saved before rejected requests were kept apart have none
        if "rj" in state:
            operation.rejected = cls.from_state(state["rj"])
        return operation


def _response_state(result: ResponseSummary, caps: SchemaCaps) -> list:
    """Return the counters of one status as plain JSON data."""
    state: list = [
        result.count,
        result.empty,
        {media: summary.to_state(caps) for media, summary in result.media.items()},
    ]
    if result.headers:
        state.append(result.headers)
    return state


def _body_cut(meta: dict | None, side: str) -> bool:
    """Tell whether the recorder marked one side's body truncated or left out."""
    if not meta:
        return False
    for key in ("truncated", "bodyOmitted"):
        mark = meta.get(key)
        if not mark:
            continue
        if isinstance(mark, dict):
            if mark.get(side):
                return True
        elif isinstance(mark, list):
            if side in mark:
                return True
        elif mark is True or isinstance(mark, str):
            return True
    return False
