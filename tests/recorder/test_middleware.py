"""The recorder cases on a real WSGI server: what the app, the client and the
recording each see, for bodies, streams, files, errors and disconnects."""

import io
import json
import socket
import time
from datetime import datetime
from typing import Any

import pytest
import requests

import recorder
from recorder import RecordingMiddleware
from recorder.sinks.base import Sink
from tests.recorder.conftest import (
    Server,
    assert_valid,
    new_request_id,
    wait_for_exchanges,
)


def request_id_headers() -> tuple[str, dict[str, str]]:
    request_id = new_request_id()
    return request_id, {"X-Request-ID": request_id}


def raw_http(server: Server, data: bytes, read_all: bool = True) -> bytes:
    """Send raw bytes on a new connection and return the whole answer."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(data)
        chunks = []
        while read_all:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def counts(server: Server) -> dict[str, int]:
    return requests.get(server.url("/counts"), timeout=10).json()


def wsgi_environ(method: str, path: str, body: bytes = b"", **extra: str) -> dict:
    """The least WSGI environ a server passes, for calling the middleware."""
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(body),
        **extra,
    }


def test_post_without_body_or_length_answers_at_once_and_records_empty_body(
    case_server: Server,
) -> None:
    request_id = new_request_id()
    answer = raw_http(
        case_server,
        b"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        + f"X-Request-ID: {request_id}\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 200")

    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["request"]["body"] == ""
    assert exchange["meta"]["truncated"]["request"] is False


def test_chunked_multipart_upload_reaches_the_app_whole(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    boundary = "case-boundary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "hello\r\n"
        f"--{boundary}--\r\n"
    ).encode()

    def chunks():
        # a generator makes requests send Transfer-Encoding: chunked
        for start in range(0, len(body), 16):
            yield body[start : start + 16]

    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    response = requests.post(
        case_server.url("/upload"), data=chunks(), headers=headers, timeout=30
    )
    assert response.json() == {"name": "a.txt", "size": 5, "text": "hello"}

    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["request"]["headers"]["transfer-encoding"] == "chunked"
    assert exchange["request"]["body"] == body.decode()
    assert exchange["meta"]["truncated"]["request"] is False
    assert exchange["meta"]["bodyLength"]["request"] == len(body)


def test_skipped_path_leaves_the_input_stream_untouched(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    headers["Content-Type"] = "application/octet-stream"
    response = requests.post(
        case_server.url("/raw"), data=b"hello", headers=headers, timeout=30
    )
    # the view read gunicorn's own stream, not a recorder's copy
    assert response.json() == {"received": "hello", "input": "Body"}
    time.sleep(0.5)
    assert wait_for_exchanges(case_server.recordings, request_id, 0, timeout=1) == []


def test_recording_without_bodies_never_wraps_the_input(thread_server: Any) -> None:
    seen = {}

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        seen["input"] = stream
        seen["data"] = stream.read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    middleware = RecordingMiddleware(app, sink="memory", record_bodies=False)
    try:
        base = thread_server(middleware)
        requests.post(base + "/raw", data=b"hello", timeout=30)
        (exchange,) = middleware.sink.wait_for(1)
    finally:
        middleware.sink.close(5)
    assert seen["data"] == b"hello"
    assert type(seen["input"]).__name__ != "InputTee"
    assert_valid(exchange)
    assert "body" not in exchange["request"]
    assert exchange["meta"]["bodyOmitted"] == {
        "request": "not recorded",
        "response": "not recorded",
    }


def test_read_without_size_gets_the_whole_body(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    headers["Content-Type"] = "text/plain"
    response = requests.post(
        case_server.url("/raw-read"), data=b"hello", headers=headers, timeout=30
    )
    assert response.content == b"hello"
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["request"]["body"] == "hello"
    assert exchange["response"]["body"] == "hello"


def test_form_parsed_by_the_app_is_still_recorded_raw(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    response = requests.post(
        case_server.url("/webhook"),
        data="a=1&sig=XYZ",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.json() == {"a": "1", "sig": "XYZ"}
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    # the raw bytes, with the signature field's value redacted
    assert exchange["request"]["body"] == "a=1&sig=[REDACTED]"
    assert "XYZ" not in json.dumps(exchange)


def test_close_is_called_once_on_the_original_iterable(case_server: Server) -> None:
    before = counts(case_server)["resource_close"]
    ids = []
    for _ in range(2):
        request_id, headers = request_id_headers()
        ids.append(request_id)
        response = requests.get(
            case_server.url("/resource"), headers=headers, timeout=30
        )
        assert response.text == "resource body"
    for request_id in ids:
        (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
        assert exchange["response"]["body"] == "resource body"
    assert counts(case_server)["resource_close"] == before + 2


def test_streamed_response_is_not_buffered(case_server: Server) -> None:
    before = counts(case_server)
    request_id, headers = request_id_headers()
    with requests.get(
        case_server.url("/stream"), headers=headers, stream=True, timeout=30
    ) as response:
        lines = response.iter_lines()
        # the first chunk arrives while the view still waits to send the second
        assert next(lines) == b"first chunk"
        released_at = datetime.now().astimezone()
        requests.post(case_server.url("/release"), timeout=30)
        assert next(lines) == b"second chunk"

    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["response"]["body"] == "first chunk\nsecond chunk\n"
    # the response timestamp is taken when the stream ends, after the release
    finished = datetime.fromisoformat(exchange["response"]["timestamp"])
    assert finished >= released_at.replace(microsecond=0)
    after = counts(case_server)
    assert after["stream_acquire"] == before["stream_acquire"] + 1
    assert after["stream_release"] == before["stream_release"] + 1


def test_streamed_csv_arrives_whole(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    response = requests.get(case_server.url("/large.csv"), headers=headers, timeout=30)
    assert response.text.splitlines() == ["id,name", "1,row 1", "2,row 2", "3,row 3"]
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["response"]["body"] == response.text


def test_response_wrapper_has_no_length(thread_server: Any) -> None:
    wrappers = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])
        return [b"a,b\n", b"1,2\n"]

    middleware = RecordingMiddleware(app, sink="memory")

    def spy(environ, start_response):
        result = middleware(environ, start_response)
        wrappers.append(result)
        return result

    try:
        base = thread_server(spy)
        assert requests.get(base + "/x.csv", timeout=30).text == "a,b\n1,2\n"
        middleware.sink.wait_for(1)
    finally:
        middleware.sink.close(5)
    with pytest.raises(TypeError):
        len(wrappers[0])


@pytest.mark.slow
def test_server_sent_events_arrive_live(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    headers["Accept"] = "text/event-stream"
    arrivals = []
    with requests.get(
        case_server.url("/events"), headers=headers, stream=True, timeout=30
    ) as response:
        for line in response.iter_lines():
            if line.startswith(b"data:"):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    # batched at the end, all four would arrive together
    assert arrivals[-1] - arrivals[0] >= 2.0

    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    started = datetime.fromisoformat(exchange["request"]["timestamp"])
    finished = datetime.fromisoformat(exchange["response"]["timestamp"])
    assert (finished - started).total_seconds() >= 2.9
    assert exchange["meta"]["durationMs"] >= 2900


def test_client_disconnect_is_recorded_once_as_aborted(case_server: Server) -> None:
    request_id = new_request_id()
    host, port = case_server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"GET /big HTTP/1.1\r\nHost: test\r\n"
            + f"X-Request-ID: {request_id}\r\n\r\n".encode()
        )
        received = b""
        while len(received) < 1024:
            received += connection.recv(1024)
        # a hard close (RST), as when a browser tab is closed
        connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0"
        )

    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["meta"]["aborted"] is True
    assert exchange["meta"]["error"] is False
    assert exchange["response"]["statusCode"] == 200
    # the server is still healthy
    assert requests.get(case_server.url("/ping"), timeout=30).status_code == 200
    time.sleep(0.5)
    assert len(wait_for_exchanges(case_server.recordings, request_id)) == 1


def test_exception_in_the_view_is_recorded_as_500_and_propagates(
    case_server: Server,
) -> None:
    request_id, headers = request_id_headers()
    response = requests.get(case_server.url("/boom"), headers=headers, timeout=30)
    assert response.status_code == 500
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["response"]["statusCode"] == 500
    assert exchange["meta"]["error"] is True
    # gunicorn logged the app's own exception, not one of the recorder's
    assert "CaseError: the view failed on purpose" in case_server.log.read_text()


def test_exception_reaches_the_server_unchanged() -> None:
    raised = ValueError("original")

    def app(environ, start_response):
        raise raised

    middleware = RecordingMiddleware(app, sink="memory")
    environ = wsgi_environ("GET", "/x")
    try:
        with pytest.raises(ValueError) as caught:
            middleware(environ, lambda status, headers, *exc: None)
        assert caught.value is raised
        (exchange,) = middleware.sink.wait_for(1)
    finally:
        middleware.sink.close(5)
    assert_valid(exchange)
    assert exchange["response"]["statusCode"] == 500
    assert exchange["meta"]["error"] is True


def test_send_file_goes_through_the_server_file_wrapper(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    response = requests.get(case_server.url("/download"), headers=headers, timeout=30)
    assert response.content == b"d" * (1024 * 1024)
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert "body" not in exchange["response"]
    assert exchange["meta"]["bodyOmitted"]["response"] == "file"
    assert exchange["meta"]["bodyLength"]["response"] == 1024 * 1024


def test_binary_upload_body_is_left_out(case_server: Server) -> None:
    from tests.recorder.case_app import PNG

    request_id, headers = request_id_headers()
    response = requests.post(
        case_server.url("/avatar"),
        files={"avatar": ("a.png", PNG, "image/png")},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201
    assert response.json() == {"size": len(PNG), "type": "image/png"}
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert "body" not in exchange["request"]
    assert exchange["meta"]["bodyOmitted"]["request"] in ("undecodable", "binary")
    assert exchange["meta"]["truncated"]["request"] is False
    assert exchange["meta"]["bodyLength"]["request"] > len(PNG)


def test_large_response_is_cut_to_the_cap(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    response = requests.get(case_server.url("/export"), headers=headers, timeout=30)
    assert len(response.json()) == 70_000
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["meta"]["truncated"]["response"] is True
    assert exchange["meta"]["bodyLength"]["response"] == len(response.content)
    assert len(exchange["response"]["body"].encode()) == 64 * 1024


def test_two_set_cookie_headers_stay_a_list_and_are_redacted(
    case_server: Server,
) -> None:
    request_id, headers = request_id_headers()
    response = requests.post(case_server.url("/login"), headers=headers, timeout=30)
    assert response.cookies["session"] == "s3cr3t-session"
    assert response.cookies["csrf"] == "csrf-value-123"
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    cookies = exchange["response"]["headers"]["set-cookie"]
    assert isinstance(cookies, list) and len(cookies) == 2
    assert cookies[0].startswith("session=[REDACTED]")
    assert cookies[1].startswith("csrf=[REDACTED]")
    assert "s3cr3t" not in json.dumps(exchange)
    assert "csrf-value-123" not in json.dumps(exchange)


def test_blank_and_repeated_query_keys(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    response = requests.get(
        case_server.url("/search?q=&tag=a&tag=b"), headers=headers, timeout=30
    )
    assert response.json() == {"args": {"q": [""], "tag": ["a", "b"]}}
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["request"]["query"] == {"q": "", "tag": ["a", "b"]}
    assert exchange["request"]["pathname"] == "/search"
    assert "path" not in exchange["request"]


def test_pathname_keeps_the_client_percent_encoding(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    response = requests.get(
        case_server.url("/files/caf%C3%A9%2Fmenu?x=%C3%A9"), headers=headers, timeout=30
    )
    assert response.status_code == 404
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["request"]["pathname"] == "/files/caf%C3%A9%2Fmenu"
    assert exchange["request"]["query"] == {"x": "é"}
    assert exchange["response"]["headers"]["content-type"].startswith("text/html")


def test_head_and_compressed_bodies(case_server: Server) -> None:
    request_id, headers = request_id_headers()
    assert requests.head(case_server.url("/ping"), headers=headers, timeout=30).ok
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["request"]["method"] == "head"
    assert exchange["response"]["body"] == ""

    request_id, headers = request_id_headers()
    requests.get(case_server.url("/gzip"), headers=headers, timeout=30)
    (exchange,) = wait_for_exchanges(case_server.recordings, request_id)
    assert exchange["meta"]["bodyOmitted"]["response"] == "encoded"


def test_unknown_methods_and_options_are_skipped_and_counted(
    case_server: Server,
) -> None:
    for method in ("OPTIONS", "PROPFIND"):
        request_id, headers = request_id_headers()
        response = requests.request(
            method, case_server.url("/ping"), headers=headers, timeout=30
        )
        assert response.status_code in (200, 405)
        time.sleep(0.3)
        assert (
            wait_for_exchanges(case_server.recordings, request_id, 0, timeout=1) == []
        )


class RaisingSink(Sink):
    """A sink that fails on every call."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, item: Any) -> None:
        self.calls += 1
        raise RuntimeError("sink down")

    def close(self, timeout: float = 5.0) -> None:
        raise RuntimeError("sink down")


def test_a_failing_sink_never_changes_a_response(thread_server: Any) -> None:
    from server import create_app

    plain = create_app({"RECORDER_SINK": "off"})
    recorded = create_app({"RECORDER_SINK": "off"})
    sink = RaisingSink()
    recorded.wsgi_app = RecordingMiddleware(recorded.wsgi_app, sink=sink)
    plain_base, recorded_base = thread_server(plain), thread_server(recorded)

    def run(base: str) -> list[tuple[int, Any]]:
        session = requests.Session()
        results = []
        created = session.post(
            base + "/users",
            json={"name": "Ada", "email": "ada@example.org"},
            timeout=30,
        )
        user_path = created.headers["Location"]
        for method, path, body in [
            ("GET", "/users/missing", None),
            ("GET", user_path, None),
            ("GET", "/users?limit=5&name=ad", None),
            ("PATCH", user_path, {"name": "Ada L"}),
            ("POST", "/users", {"name": 3}),
            ("DELETE", user_path, None),
            ("PUT", "/users", None),
        ]:
            response = session.request(method, base + path, json=body, timeout=30)
            # ids are random: compare the answers with the id left out
            text = response.text.replace(user_path.rsplit("/", 1)[1], "ID")
            results.append((response.status_code, text))
        results.append((created.status_code, sorted(created.json())))
        return results

    assert run(recorded_base) == run(plain_base)
    assert sink.calls >= 8


@pytest.mark.parametrize("length", [str(2**64 + 1), "9" * 5000])
def test_absurd_content_length_is_recorded_capped(length: str) -> None:
    def app(environ, start_response):
        # answers without reading, as a server refusing a too large body does
        start_response("413 Content Too Large", [("Content-Length", "0")])
        return [b""]

    middleware = RecordingMiddleware(app, sink="memory")
    environ = wsgi_environ("POST", "/upload", b"{", CONTENT_LENGTH=length)
    try:
        response = middleware(environ, lambda status, headers, *exc: None)
        b"".join(response)
        response.close()
        (exchange,) = middleware.sink.wait_for(1)
    finally:
        middleware.sink.close(5)
    assert_valid(exchange)
    assert exchange["response"]["statusCode"] == 413
    assert exchange["meta"]["bodyLength"]["request"] == 2**63 - 1
    assert exchange["meta"]["truncated"]["request"] is True


class SheddingSink(Sink):
    """Says exchanges would be dropped while `reason` is set; keeps the rest."""

    def __init__(self) -> None:
        self.reason: str | None = "queue full"
        self.sent: list[Any] = []

    def shedding(self) -> str | None:
        return self.reason

    def send(self, item: Any) -> None:
        self.sent.append(item)


def test_while_the_sink_sheds_requests_pass_untouched_and_count_as_dropped() -> None:
    seen = []

    def app(environ, start_response):
        seen.append(environ["wsgi.input"])
        environ["wsgi.input"].read(2)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def post() -> dict[str, Any]:
        return wsgi_environ("POST", "/x", b"{}", CONTENT_LENGTH="2")

    sink = SheddingSink()
    middleware = RecordingMiddleware(app, sink=sink)
    before = recorder.stats()
    environ = post()
    body = environ["wsgi.input"]
    result = middleware(environ, lambda status, headers, *exc: None)
    # nothing captured: the app's own iterable and input stream, untouched
    assert result == [b"ok"] and seen == [body]
    assert sink.sent == []
    after = recorder.stats()
    assert after["recorded"] - before["recorded"] == 1
    assert after["dropped"] - before["dropped"] == 1

    sink.reason = None
    result = middleware(post(), lambda status, headers, *exc: None)
    assert b"".join(result) == b"ok"
    result.close()
    (capture,) = sink.sent
    assert capture.request_body == b"{}"


def test_bytes_sent_through_write_are_recorded_in_the_order_sent() -> None:
    def app(environ, start_response):
        # the write() callable PEP 3333 keeps for older apps
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one ")

        def rest():
            yield b"two "
            write(b"three ")
            yield b"four"

        return rest()

    sent: list[bytes] = []
    middleware = RecordingMiddleware(app, sink="memory")
    try:
        result = middleware(
            wsgi_environ("GET", "/w"), lambda status, headers, *exc: sent.append
        )
        sent.extend(result)
        result.close()
        (exchange,) = middleware.sink.wait_for(1)
    finally:
        middleware.sink.close(5)
    assert b"".join(sent) == b"one two three four"
    assert_valid(exchange)
    assert exchange["response"]["body"] == "one two three four"
    assert exchange["meta"]["bodyLength"]["response"] == 18
