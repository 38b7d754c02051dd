"""HAR files (browser and proxy captures) turned into http-types exchanges."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import orjson

from spec_from_stream.exchange import METHODS, BadMessage, strip_bom
from spec_from_stream.operations import BOUNDARY

logger = logging.getLogger(__name__)


class HarError(ValueError):
    """The file is not a HAR document at all (not JSON, no log.entries)."""


# what a browser fetched for the page itself, by the resource type it records
# (`_resourceType`), not calls of an API: the page, its styles, scripts,
# pictures and fonts, and the CORS checks before the real requests
PAGE_RESOURCE_TYPES = frozenset(
    (
        "document",
        "stylesheet",
        "script",
        "image",
        "font",
        "media",
        "manifest",
        "texttrack",
        "preflight",
    )
)
# bodies saved beside a HAR file (Playwright's `content: "attach"`) are read up
# to this size; bigger ones are left out, as the builder would not walk them
MAX_SAVED_BODY = 1024 * 1024
# what a saved body's `_file` may name: a file in the HAR's own folder
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
# the boundary of multipart fields written back when the type names none
MULTIPART_BOUNDARY = "spec-from-stream-boundary"
# media types only pages load, for HAR writers that record no resource type
PAGE_MEDIA_TYPES = ("text/css", "text/javascript", "application/javascript", "font/")


def load_entries(path: Path, content: bytes | None = None) -> list:
    """Return the entries of a HAR file (its content, if already read).

    Limitation: the whole file is parsed at once (HAR is one JSON document),
    so memory grows with the file; JSON Lines streams instead.
    """
    if content is None:
        content = Path(path).read_bytes()
    try:
        data = orjson.loads(strip_bom(content))
    except orjson.JSONDecodeError as error:
        if "UTF-8" in str(error):
            raise HarError(
                f"{path} is not UTF-8 text, as HAR files are: convert it first "
                "(for example with iconv -t UTF-8)"
            ) from None
        raise HarError(f"{path} is not a HAR file (not JSON)") from None
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise HarError(f"{path} is not a HAR file (no log.entries list)")
    return entries


def exchanges_from_har(path: Path | str) -> Iterator[dict]:
    """Yield one http-types exchange per usable HAR entry, skipping the others.

    :raise HarError: the file is not a HAR document.
    """
    skipped = 0
    first_reason = ""
    path = Path(path)
    for index, entry in enumerate(load_entries(path)):
        try:
            yield exchange_from_entry(entry, path.parent)
        except BadMessage as error:
            skipped += 1
            if not first_reason:
                first_reason = f"entry {index}: {error.kind}"
    if skipped:
        logger.warning(
            "skipped %d HAR entries that are not usable exchanges (first: %s)",
            skipped,
            first_reason,
        )


def exchange_from_entry(entry: object, folder: Path | None = None) -> dict:
    """Convert one HAR entry; raise BadMessage if it is not an HTTP exchange.

    ``folder`` is the HAR file's folder, where bodies saved beside it are
    read from (Playwright's ``_file``); without it they are left out.
    """
    if not isinstance(entry, dict):
        raise BadMessage("not_exchange", "HAR entry is not an object")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise BadMessage("not_exchange", "HAR entry has no request")
    method = request.get("method")
    url = request.get("url")
    if not isinstance(method, str) or not isinstance(url, str):
        raise BadMessage("wrong_types", "HAR request method or url is not text")
    if method.lower() not in METHODS:
        raise BadMessage("unsupported_method")

    try:
        parts = urlsplit(url)
        # reading the port checks it is a number from 0 to 65535
        parts.port  # noqa: B018
    except ValueError:
        # e.g. an unclosed IPv6 bracket: one entry, not the whole file, is bad
        raise BadMessage("not_exchange", "HAR request url is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadMessage("not_exchange", "HAR request url is not http(s)")
    asset = _page_asset(entry)
    if asset:
        raise BadMessage("page_asset", asset)
    started = _parse_time(entry.get("startedDateTime"))
    exchange_request: dict = {
        "method": method.lower(),
        "protocol": parts.scheme,
        "host": parts.netloc.rsplit("@", 1)[-1],
        "pathname": parts.path or "/",
        "query": _query(request, parts.query),
        "headers": _headers(request.get("headers")),
    }
    post_data = request.get("postData")
    body = _request_body(post_data, folder, exchange_request["headers"])
    if body is not None:
        exchange_request["body"] = body
        _label(exchange_request["headers"], post_data)
    if started is not None:
        exchange_request["timestamp"] = started.isoformat()
    exchange: dict = {"request": exchange_request}

    response = entry.get("response")
    if isinstance(response, dict):
        status = response.get("status")
        if isinstance(status, str) and status.strip().isdigit():
            # some HAR writers put the status as text
            status = int(status)
        if status == 0:
            # browsers log requests they got no answer for (blocked by the
            # client, cancelled, failed on the network) with status 0: the
            # server may never have seen them, so they document nothing
            raise BadMessage("no_response", "status 0: blocked, cancelled or failed")
        if isinstance(status, int) and 100 <= status <= 599:
            exchange["response"] = _response(
                response, status, started, entry.get("time"), folder
            )
    return exchange


def _page_asset(entry: dict) -> str:
    """What page asset a browser entry fetched ("" for an API call)."""
    kind = entry.get("_resourceType")
    if isinstance(kind, str):
        return kind if kind.lower() in PAGE_RESOURCE_TYPES else ""
    response = entry.get("response")
    content = response.get("content") if isinstance(response, dict) else None
    media = content.get("mimeType") if isinstance(content, dict) else None
    if isinstance(media, str) and media.lower().startswith(PAGE_MEDIA_TYPES):
        return media.split(";", 1)[0]
    return ""


def _query(request: dict, raw_query: str) -> dict:
    """Query parameters from queryString, or from the URL when it is missing."""
    pairs: list[tuple[str, str]] = []
    listed = request.get("queryString")
    if isinstance(listed, list) and listed:
        for item in listed:
            if isinstance(item, dict):
                name, value = item.get("name"), item.get("value", "")
                if isinstance(name, str) and isinstance(value, str):
                    # HAR writers differ on whether these are still encoded
                    pairs.append((unquote(name), unquote(value)))
    else:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
    return _group(pairs)


def _headers(listed: object) -> dict:
    """Header list to an http-types header object (lower-case names)."""
    pairs: list[tuple[str, str]] = []
    if isinstance(listed, list):
        for item in listed:
            if not isinstance(item, dict):
                continue
            name, value = item.get("name"), item.get("value")
            # HTTP/2 pseudo-headers (:authority, :path) are not headers
            if isinstance(name, str) and isinstance(value, str) and name[:1] != ":":
                pairs.append((name.lower(), value))
    return _group(pairs)


def _group(pairs: list[tuple[str, str]]) -> dict:
    """Pairs to a mapping; a repeated name maps to the list of its values."""
    grouped: dict = {}
    for name, value in pairs:
        if name not in grouped:
            grouped[name] = value
        elif isinstance(grouped[name], list):
            grouped[name].append(value)
        else:
            grouped[name] = [grouped[name], value]
    return grouped


def _request_body(post_data: object, folder: Path | None, headers: dict) -> str | None:
    """The request body text; form params are encoded back when text is absent.

    Multipart params are written back with a boundary no value holds: the
    declared one, else one of their own, named in the Content-Type header.
    """
    if not isinstance(post_data, dict):
        return None
    text = post_data.get("text")
    if isinstance(text, str):
        return text
    saved = _saved_body(post_data, folder)
    if saved is not None:
        return saved
    params = post_data.get("params")
    if isinstance(params, list):
        pairs = [
            (item.get("name"), item.get("value", ""), item.get("fileName"))
            for item in params
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]
        media = headers.get("content-type") or post_data.get("mimeType")
        if isinstance(media, str) and media.lower().startswith("multipart/"):
            match = BOUNDARY.search(media)
            if match and _unused(match.group(1), pairs):
                return _multipart(pairs, match.group(1))
            boundary = MULTIPART_BOUNDARY
            while not _unused(boundary, pairs):
                boundary += "-"
            if match:
                media = media[: match.start()].rstrip("; ")
            headers["content-type"] = f"{media}; boundary={boundary}"
            return _multipart(pairs, boundary)
        return urlencode([(name, value) for name, value, _ in pairs])
    return None


def _multipart(pairs: list[tuple[str, object, object]], boundary: str) -> str:
    """Multipart fields written back as a body with this boundary.

    HAR writers list a form's fields as ``params`` and may leave its text out;
    a file field (one with a fileName) has no contents worth keeping.
    """
    parts = []
    for raw_name, value, file_name in pairs:
        # browsers write a quote or a line break in a field name encoded
        name = _quoted(raw_name)
        if isinstance(file_name, str):
            head = f'name="{name}"; filename="{_quoted(file_name)}"'
            value = ""
        else:
            head = f'name="{name}"'
            value = value if isinstance(value, str) else ""
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; {head}\r\n\r\n{value}\r\n"
        )
    return "".join(parts) + f"--{boundary}--\r\n"


def _unused(boundary: str, pairs: list[tuple[str, object, object]]) -> bool:
    """Tell whether no field value holds the boundary (which would split it)."""
    return not any(
        isinstance(value, str) and boundary in value for _, value, _ in pairs
    )


def _quoted(text: str) -> str:
    """A name made safe inside the quotes of a Content-Disposition header."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _saved_body(described: dict, folder: Path | None) -> str | None:
    """A body saved beside the HAR file (``_file``), if it is UTF-8 text.

    Only a regular file in the HAR's own folder, named plainly, is read, and
    only up to MAX_SAVED_BODY bytes: an entry cannot point the reader elsewhere.
    """
    name = described.get("_file")
    if folder is None or not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name):
        return None
    try:
        # no symbolic link (it could lead out of the folder), and no pipe or
        # device, whose opening or reading could block for ever
        descriptor = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as saved:
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            data = saved.read(MAX_SAVED_BODY + 1)
        except OSError:
            return None
    if len(data) > MAX_SAVED_BODY:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # binary content (images, archives) says nothing about a schema
        return None


def _response(
    response: dict,
    status: int,
    started: datetime | None,
    time_ms: object,
    folder: Path | None,
) -> dict:
    """Convert a HAR response (status, headers, text content)."""
    result: dict = {
        "statusCode": status,
        "headers": _headers(response.get("headers")),
    }
    content = response.get("content")
    body = _response_body(content, folder) if isinstance(content, dict) else None
    if body is not None:
        result["body"] = body
        _label(result["headers"], content)
    if started is not None and isinstance(time_ms, (int, float)) and time_ms >= 0:
        try:
            ended = started + timedelta(milliseconds=time_ms)
        except OverflowError:
            # past the calendar's end (year 9999): the response time is unknown
            return result
        result["timestamp"] = ended.isoformat()
    return result


def _label(headers: dict, described: object) -> None:
    """Take a body's HAR mimeType as its Content-Type when the headers lack one.

    Captures that leave headers out (or list them elsewhere) still say what
    the body is in postData.mimeType and content.mimeType.
    """
    if "content-type" in headers or not isinstance(described, dict):
        return
    media = described.get("mimeType")
    if isinstance(media, str) and media.strip():
        headers["content-type"] = media.strip()


def _response_body(content: dict, folder: Path | None) -> str | None:
    """Response text; base64 content only when it decodes to UTF-8 text."""
    text = content.get("text")
    if not isinstance(text, str):
        return _saved_body(content, folder)
    if content.get("encoding") != "base64":
        return text
    # some writers wrap base64 in lines or leave its padding out
    packed = "".join(text.split())
    packed += "=" * (-len(packed) % 4)
    try:
        return base64.b64decode(packed, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        # binary content (images, archives) says nothing about a schema
        return None


def _parse_time(value: object) -> datetime | None:
    """Parse an ISO 8601 startedDateTime, None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
