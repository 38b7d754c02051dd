"""The load generator: response parsing, and both loops against a real server."""

import http.server
import threading

import pytest

from bench.load import _ResponseReader, build_request, fixed_rate, saturate


def test_request_has_length_only_with_a_body():
    assert build_request("GET", "/users", "h:1") == (
        b"GET /users HTTP/1.1\r\nHost: h:1\r\nUser-Agent: bench/1\r\n\r\n"
    )
    post = build_request("POST", "/users", "h:1", b'{"a":1}')
    assert b"Content-Length: 7\r\n" in post
    assert post.endswith(b'\r\n\r\n{"a":1}')


def test_response_split_across_reads_completes_at_its_length():
    reader = _ResponseReader()
    assert not reader.feed(b"HTTP/1.1 200 OK\r\nContent-Le")
    assert not reader.feed(b"ngth: 5\r\n\r\nab")
    assert reader.feed(b"cde")
    assert reader.status == 200
    assert not reader.close_after


def test_chunked_response_completes_at_the_last_chunk():
    reader = _ResponseReader()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert not reader.feed(head + b"3\r\nabc\r\n")
    assert reader.feed(b"0\r\n\r\n")


def test_no_content_and_connection_close_are_understood():
    reader = _ResponseReader()
    assert reader.feed(b"HTTP/1.1 204 NO CONTENT\r\nConnection: close\r\n\r\n")
    assert reader.status == 204
    assert reader.close_after


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b"gone" if self.path == "/missing" else b"ok"
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_saturate_keeps_connections_busy_and_counts_statuses(server):
    requests = [
        build_request("GET", "/", "127.0.0.1"),
        build_request("GET", "/missing", "127.0.0.1"),
    ]
    result = saturate(server, requests, duration=0.5, connections=4)
    assert result.errors == 0
    assert result.completed > 10
    # what was still in flight when the time was up is sent, not completed
    assert result.completed <= result.sent <= result.completed + 4
    assert result.statuses[200] > 0 and result.statuses[404] > 0
    assert 0 < result.percentile(0.5) <= result.percentile(0.99)


def test_fixed_rate_sends_the_schedule_and_times_watched_requests(server):
    requests = [build_request("GET", "/", "127.0.0.1")]
    result = fixed_rate(server, requests, rate=100, duration=0.5, watch=[0, 49])
    assert result.completed == result.sent == 50
    assert result.errors == 0
    assert set(result.completed_at) == {0, 49}
    assert result.completed_at[0] < result.completed_at[49]


def test_a_refused_connection_counts_as_errors_not_a_crash():
    from bench.kafka_local import free_port

    requests = [build_request("GET", "/", "127.0.0.1")]
    result = fixed_rate(("127.0.0.1", free_port()), requests, rate=50, duration=0.2)
    assert result.completed == 0
    assert result.errors == 10
