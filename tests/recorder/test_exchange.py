"""Captures to http-types: paths, queries, headers, bodies and meta."""

import os
import time
from datetime import datetime, timezone

import orjson
import pytest

from recorder.config import RecorderOptions
from recorder.exchange import (
    Capture,
    ExchangeEncoder,
    _timestamp,
    parse_query,
    raw_pathname,
)
from tests.recorder.conftest import assert_valid


def make_capture(**changes) -> Capture:
    now = time.time()
    values = {
        "method": "POST",
        "raw_uri": "/users?x=1",
        "script_name": "",
        "path_info": "/users",
        "query_string": "x=1",
        "scheme": "http",
        "host": "api.test",
        "request_headers": {"CONTENT_TYPE": "application/json", "HTTP_X_ONE": "1"},
        "started": now,
        "started_perf": 1.0,
        "finished_perf": 1.5,
        "status": "201 CREATED",
        "response_headers": [("Content-Type", "application/json")],
        "request_body": b'{"a": 1}',
        "request_length": 8,
        "response_body": b'{"id": 1}',
        "response_length": 9,
    }
    values.update(changes)
    return Capture(**values)


@pytest.fixture
def encoder() -> ExchangeEncoder:
    return ExchangeEncoder(RecorderOptions(sink="memory"))


def test_a_plain_exchange(encoder: ExchangeEncoder) -> None:
    exchange = encoder.build(make_capture())
    assert_valid(exchange)
    request, response, meta = (
        exchange["request"],
        exchange["response"],
        exchange["meta"],
    )
    assert request["method"] == "post"
    assert request["pathname"] == "/users" and request["query"] == {"x": "1"}
    assert request["headers"] == {"content-type": "application/json", "x-one": "1"}
    assert request["body"] == '{"a": 1}'
    assert response == {
        "statusCode": 201,
        "headers": {"content-type": "application/json"},
        "timestamp": response["timestamp"],
        "body": '{"id": 1}',
    }
    assert request["timestamp"].endswith("+00:00")
    assert meta["durationMs"] == 500.0
    assert meta["truncated"] == {"request": False, "response": False}
    assert meta["bodyLength"] == {"request": 8, "response": 9}
    assert meta["bodyOmitted"] == {}
    assert meta["aborted"] is False and meta["error"] is False
    assert len(meta["requestId"]) == 32


def test_request_ids_are_unique_here_and_in_a_forked_process(
    encoder: ExchangeEncoder,
) -> None:
    ids = {encoder.build(make_capture())["meta"]["requestId"] for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)
    # a forked process (gunicorn's preloaded workers) must not repeat the
    # parent's sequence
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            built = encoder.build(make_capture())["meta"]["requestId"]
            os.write(writing, built.encode())
        finally:
            os._exit(0)
    os.close(writing)
    os.waitpid(pid, 0)
    with os.fdopen(reading, "rb") as pipe:
        in_child = pipe.read().decode()
    in_parent = encoder.build(make_capture())["meta"]["requestId"]
    assert len(in_child) == 32 and in_child != in_parent
    assert in_child not in ids


def test_incoming_request_id_is_reused(encoder: ExchangeEncoder) -> None:
    headers = {"HTTP_X_REQUEST_ID": "abc-123"}
    exchange = encoder.build(make_capture(request_headers=headers))
    assert exchange["meta"]["requestId"] == "abc-123"


def test_incoming_request_id_is_redacted_like_its_header(
    encoder: ExchangeEncoder,
) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    headers = {"HTTP_X_REQUEST_ID": f"req-{token}"}
    exchange = encoder.build(make_capture(request_headers=headers))
    assert token not in orjson.dumps(exchange).decode()
    assert exchange["meta"]["requestId"] == "req-[REDACTED]"


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("q=&tag=a&tag=b", {"q": "", "tag": ["a", "b"]}),
        ("flag", {"flag": ""}),
        ("a=1+2&b=%C3%A9&c=%2F", {"a": "1 2", "b": "é", "c": "/"}),
        ("bad=%ff", {"bad": "\ufffd"}),
        ("&&x=1&", {"x": "1"}),
    ],
)
def test_query_parsing(query_string: str, expected: dict) -> None:
    assert parse_query(query_string) == expected


def test_a_credential_in_the_path_is_redacted(encoder: ExchangeEncoder) -> None:
    capture = make_capture(raw_uri="/reset-password/k9Qz81aaXy?x=1")
    exchange = encoder.build(capture)
    assert_valid(exchange)
    assert exchange["request"]["pathname"] == "/reset-password/[REDACTED]"


def test_pathname_is_the_raw_one() -> None:
    capture = make_capture(raw_uri="/a%20b/%2F?x=1", path_info="/a b//")
    assert raw_pathname(capture) == "/a%20b/%2F"
    absolute = make_capture(raw_uri="http://api.test/p%C3%A9?x=1")
    assert raw_pathname(absolute) == "/p%C3%A9"
    # no raw request line from the server: the decoded path is encoded again
    decoded = make_capture(raw_uri=None, path_info="/caf\xc3\xa9 x")
    assert raw_pathname(decoded) == "/caf%C3%A9%20x"


def test_repeated_response_headers_become_lists(encoder: ExchangeEncoder) -> None:
    headers = [("X-A", "1"), ("x-a", "2"), ("Vary", "Accept")]
    exchange = encoder.build(make_capture(response_headers=headers))
    assert exchange["response"]["headers"]["x-a"] == ["1", "2"]


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("image/png", b"\x89PNG", "binary"),
        ("application/octet-stream", b"abc", "binary"),
        ("text/plain", b"\xff\xfe\xfd", "undecodable"),
        ("text/plain", b"a\x00b", "binary"),
    ],
)
def test_binary_bodies_are_left_out(
    encoder: ExchangeEncoder, content_type: str, body: bytes, reason: str
) -> None:
    capture = make_capture(response_headers=[("Content-Type", content_type)])
    capture.response_body = body
    exchange = encoder.build(capture)
    assert_valid(exchange)
    assert "body" not in exchange["response"]
    assert exchange["meta"]["bodyOmitted"] == {"response": reason}


@pytest.mark.parametrize(
    ("method", "status", "content_type"),
    [
        ("HEAD", "200 OK", "application/json"),
        ("HEAD", "200 OK", "image/png"),
        ("GET", "204 NO CONTENT", "application/json"),
        ("GET", "304 NOT MODIFIED", "text/plain"),
    ],
)
def test_a_response_http_sends_without_body_is_recorded_empty(
    encoder: ExchangeEncoder, method: str, status: str, content_type: str
) -> None:
    # servers drop what the app returns for these: gunicorn and werkzeug alike
    capture = make_capture(
        method=method,
        status=status,
        response_headers=[("Content-Type", content_type), ("Content-Length", "9")],
    )
    for file_response in (False, True):
        capture.file_response = file_response
        exchange = encoder.build(capture)
        assert_valid(exchange)
        assert exchange["response"]["body"] == ""
        assert exchange["meta"]["bodyLength"]["response"] == 0
        assert exchange["meta"]["bodyOmitted"] == {}
        assert exchange["response"]["headers"]["content-length"] == "9"


def test_cut_body_drops_a_split_character(encoder: ExchangeEncoder) -> None:
    text = "é" * 10
    capture = make_capture(response_body=text.encode()[:5], response_length=20)
    capture.response_headers = [("Content-Type", "text/plain")]
    exchange = encoder.build(capture)
    assert exchange["response"]["body"] == "éé"
    assert exchange["meta"]["truncated"]["response"] is True
    assert exchange["meta"]["bodyLength"]["response"] == 20


def test_unread_request_body_is_left_out(encoder: ExchangeEncoder) -> None:
    capture = make_capture(request_body=b"", request_length=100, request_complete=False)
    exchange = encoder.build(capture)
    assert "body" not in exchange["request"]
    assert exchange["meta"]["bodyOmitted"]["request"] == "unread"


def test_app_failure_is_a_500(encoder: ExchangeEncoder) -> None:
    capture = make_capture(
        status=None, error=True, response_headers=[], response_body=b""
    )
    exchange = encoder.build(capture)
    assert_valid(exchange)
    assert exchange["response"]["statusCode"] == 500
    assert exchange["meta"]["error"] is True


def test_secrets_are_redacted_in_every_part(encoder: ExchangeEncoder) -> None:
    capture = make_capture(
        query_string="api_key=k1&page=2",
        request_headers={
            "HTTP_AUTHORIZATION": "Bearer t1",
            "HTTP_COOKIE": "sid=c1",
            "CONTENT_TYPE": "application/json",
        },
        request_body=b'{"user": {"password": "p1"}}',
        request_length=28,
        response_headers=[
            ("Set-Cookie", "sid=c2"),
            ("Content-Type", "application/json"),
        ],
        response_body=b'{"access_token": "t2"}',
        response_length=22,
    )
    text = ExchangeEncoder(RecorderOptions())(capture).decode()
    for secret in ("k1", "t1", "c1", "p1", "c2", "t2"):
        assert (
            f'"{secret}' not in text
            and f"={secret}" not in text
            and f" {secret}" not in text
        )
    assert "Bearer [REDACTED]" in text


@pytest.mark.parametrize(
    "moment",
    [0.0, 1.9995, 1.0004995, 1764849600.9999996, 1764849600.123456, 3998837780.2989993],
)
def test_timestamps_read_as_datetime_writes_them(moment: float) -> None:
    expected = datetime.fromtimestamp(moment, timezone.utc)
    assert _timestamp(moment) == expected.isoformat(timespec="milliseconds")


def test_user_information_in_the_host_is_dropped(encoder: ExchangeEncoder) -> None:
    headers = {"HTTP_HOST": "bob:hunter2@api.test:8080"}
    capture = make_capture(host="bob:hunter2@api.test:8080", request_headers=headers)
    exchange = encoder.build(capture)
    assert "hunter2" not in orjson.dumps(exchange).decode()
    assert exchange["request"]["host"] == "api.test:8080"
    assert exchange["request"]["headers"]["host"] == "api.test:8080"


def test_a_non_ascii_host_is_read_as_utf8_like_its_header(
    encoder: ExchangeEncoder,
) -> None:
    raw = "bücher.test".encode().decode("latin-1")
    capture = make_capture(host=raw, request_headers={"HTTP_HOST": raw})
    exchange = encoder.build(capture)
    assert exchange["request"]["host"] == "bücher.test"
    assert exchange["request"]["headers"]["host"] == "bücher.test"
