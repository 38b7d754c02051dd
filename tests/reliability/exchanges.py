"""Well-formed http-types exchanges, and the hostile messages mixed among them."""

from __future__ import annotations

import random
import uuid

import orjson

HOST = "api.test:8000"


def exchange(
    method: str,
    pathname: str,
    status: int,
    *,
    query: dict | None = None,
    request_body: object = None,
    response_body: object = None,
) -> dict:
    """One valid exchange; bodies given as Python values are sent as JSON text."""
    request: dict = {
        "method": method,
        "protocol": "http",
        "host": HOST,
        "pathname": pathname,
        "query": query or {},
        "headers": {"accept": "application/json"},
        "timestamp": "2026-01-02T03:04:05+00:00",
    }
    if request_body is not None:
        request["headers"]["content-type"] = "application/json"
        request["body"] = orjson.dumps(request_body).decode()
    response: dict = {
        "statusCode": status,
        "headers": {},
        "timestamp": "2026-01-02T03:04:05.010000+00:00",
    }
    if response_body is not None:
        response["headers"]["content-type"] = "application/json"
        response["body"] = orjson.dumps(response_body).decode()
    return {
        "request": request,
        "response": response,
        "meta": {"requestId": uuid.uuid4().hex, "durationMs": 10},
    }


def good_exchange(number: int, resource: str = "users") -> dict:
    """The number-th exchange of an ordinary mix over one resource."""
    item_id = str(uuid.UUID(int=number + 1, version=4))
    item = {"id": item_id, "name": f"item {number}", "email": f"u{number}@example.org"}
    kind = number % 5
    if kind == 0:
        body = {"name": item["name"], "email": item["email"]}
        return exchange(
            "post", f"/{resource}", 201, request_body=body, response_body=item
        )
    if kind == 1:
        query = {"limit": str(1 + number % 20), "offset": "0"}
        page = {"items": [item], "total": 1, "limit": 20, "offset": 0}
        return exchange("get", f"/{resource}", 200, query=query, response_body=page)
    if kind == 2:
        return exchange("get", f"/{resource}/{item_id}", 200, response_body=item)
    if kind == 3:
        missing = {"error": "not found", "status": 404}
        return exchange("get", f"/{resource}/{item_id}", 404, response_body=missing)
    return exchange("delete", f"/{resource}/{item_id}", 204)


def encode(value: dict) -> bytes:
    """An exchange as the recorder sends it: compact JSON bytes."""
    return orjson.dumps(value)


def _binary() -> bytes:
    # fixed bytes: invalid UTF-8 (0xff, 0xfe) and no NUL, so the kind is stable
    rng = random.Random(7)
    return bytes([0xFF, 0xFE]) + bytes(rng.randrange(1, 256) for _ in range(510))


def _nested(depth: int) -> object:
    value: object = {"leaf": 1}
    for level in range(depth):
        value = {f"level{level}": value}
    return value


def bad_messages() -> list[tuple[str, str, bytes | None]]:
    """(what it is, the reader's kind for it, the raw message) for each bad one.

    Kinds are the names the reader counts skipped messages under.
    """
    good = good_exchange(1)
    wrong_method_type = orjson.loads(encode(good))
    wrong_method_type["request"]["method"] = 5
    wrong_status = orjson.loads(encode(good))
    wrong_status["response"]["statusCode"] = "200"
    wrong_headers = orjson.loads(encode(good))
    wrong_headers["request"]["headers"] = {"accept": 1}
    status_out_of_range = orjson.loads(encode(good))
    status_out_of_range["response"]["statusCode"] = 999
    brew = orjson.loads(encode(good))
    brew["request"]["method"] = "BREW"
    null_in_path = encode(good).replace(b"/users", b"/us\x00ers", 1)
    bad_utf8 = encode(good).replace(b"item 1", b"item \xff\xfe", 1)
    return [
        ("not JSON", "not_json", b"this is not JSON {"),
        ("empty message", "empty", b""),
        ("tombstone (null value)", "empty", None),
        ("truncated JSON", "not_json", encode(good)[:40]),
        ("JSON array", "not_object", b"[1, 2, 3]"),
        ("JSON string", "not_object", b'"GET /users"'),
        ("JSON object that is no exchange", "not_exchange", b'{"hello": "world"}'),
        ("method is a number", "wrong_types", encode(wrong_method_type)),
        ("status is a string", "wrong_types", encode(wrong_status)),
        ("header value is a number", "wrong_types", encode(wrong_headers)),
        ("status out of range", "wrong_types", encode(status_out_of_range)),
        ("unsupported method", "unsupported_method", encode(brew)),
        ("binary", "not_utf8", _binary()),
        ("invalid UTF-8 in a string", "not_utf8", bad_utf8),
        ("raw NUL byte", "null_bytes", null_in_path),
        ("nesting beyond any parser", "too_deep", b"[" * 100_000 + b"]" * 100_000),
    ]


def near_limit_exchange(size: int = 1_000_000) -> bytes:
    """A valid exchange of about size bytes: a JSON body with many properties."""
    count = size // 30
    body = {f"field_{n:07d}": n for n in range(count)}
    value = exchange(
        "post", "/bulk", 200, request_body={"ok": True}, response_body=body
    )
    raw = encode(value)
    assert len(raw) < 1_048_000, "must stay under the broker's message limit"
    return raw


def deep_meta_exchange(depth: int = 50) -> bytes:
    """A valid exchange whose free-form meta nests depth objects deep: kept,
    its deep part dropped."""
    value = exchange("get", "/traced", 200)
    value["meta"] = {"trace": _nested(depth)}
    return encode(value)


def deep_body_exchange(depth: int = 200) -> bytes:
    """A valid exchange whose JSON request body nests depth objects deep."""
    value = exchange(
        "post", "/deep", 200, request_body=_nested(depth), response_body={}
    )
    return encode(value)


def distinct_path_exchanges(count: int) -> list[bytes]:
    """Valid exchanges each on a path seen nowhere else, of varied shapes.

    Half are a scanner's probes at the root, answered 404; half are pages of
    a crawl under one prefix, answered 200.
    """
    rng = random.Random(11)
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta"]
    missing = {"error": "not found", "status": 404}
    messages = []
    for number in range(count):
        depth = 1 + number % 4
        segments = [f"{rng.choice(words)}{number}x{n}" for n in range(depth)]
        if number % 2:
            value = exchange(
                "get", "/" + "/".join(segments), 404, response_body=missing
            )
        else:
            method = ("get", "post", "put", "patch", "delete")[number % 5]
            path = "/pages/" + "/".join(segments)
            value = exchange(method, path, 200, response_body={"ok": True})
        messages.append(encode(value))
    return messages


def distinct_operation_exchanges(areas: int, spots: int) -> list[bytes]:
    """Valid exchanges on areas x spots paths, each answering its own shape.

    No two paths behave alike, so none folds into a template: only the cap on
    operations per host bounds the document.
    """
    messages = []
    for area in range(areas):
        for spot in range(spots):
            body = {f"field_{area}_{spot}": spot}
            value = exchange("get", f"/area{area}/spot{spot}", 200, response_body=body)
            messages.append(encode(value))
    return messages
