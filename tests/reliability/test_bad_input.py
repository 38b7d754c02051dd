"""Hostile requests get 4xx JSON errors; then schemathesis checks the learned spec."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import requests

from tests.reliability.figures import write_figures
from tests.reliability.processes import ServerProcess, wait_for_drain

pytestmark = pytest.mark.slow

USER = "/users/00000000-0000-4000-8000-000000000000"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=b"
LATIN1 = "application/json; charset=latin-1"
BIG = 2 * 1024 * 1024
# what schemathesis may spend: examples per operation, and a deadline
MAX_EXAMPLES = 40
SCHEMATHESIS_DEADLINE = 300

# (what it is, method, path, content type or None, body or None, promised status)
BAD_REQUESTS: list[tuple[str, str, str, str | None, bytes | None, int]] = [
    ("malformed JSON", "POST", "/users", JSON, b'{"name": ', 400),
    ("JSON array", "POST", "/users", JSON, b"[]", 400),
    ("JSON null", "POST", "/users", JSON, b"null", 400),
    ("empty JSON body", "POST", "/users", JSON, b"", 400),
    ("wrong types", "POST", "/users", JSON, b'{"name": 5, "email": ["a"]}', 400),
    ("name is null", "POST", "/users", JSON, b'{"name": null, "email": "a@b.co"}', 400),
    ("missing email", "POST", "/users", JSON, b'{"name": "Ada"}', 400),
    ("missing name", "POST", "/users", JSON, b'{"email": "ada@example.org"}', 400),
    ("not an email", "POST", "/users", JSON, b'{"name": "Ada", "email": "ada"}', 400),
    ("unknown field", "POST", "/users", JSON, b'{"name": "A", "admin": true}', 400),
    ("name too long", "POST", "/users", JSON, b'{"name": "' + b"x" * 9999 + b'"}', 400),
    ("invalid UTF-8", "POST", "/users", JSON, b'{"name": "\xc3\x28", "x": 1}', 400),
    ("latin-1 bytes", "POST", "/users", LATIN1, b'{"name": "J\xfcrgen"}', 415),
    ("deep nesting", "POST", "/users", JSON, b"[" * 50_000 + b"]" * 50_000, 400),
    ("number overflow", "POST", "/users", JSON, b'{"name": 1e999999, "email": 1}', 400),
    ("text/plain body", "POST", "/users", "text/plain", b"name=Ada", 415),
    ("form body", "POST", "/users", FORM, b"name=Ada", 415),
    ("no content type", "POST", "/users", None, b'{"name": "Ada"}', 415),
    ("multipart body", "POST", "/users", MULTIPART, b"--b--", 415),
    ("PATCH malformed JSON", "PATCH", USER, JSON, b"{", 400),
    ("PATCH wrong types", "PATCH", USER, JSON, b'{"email": 42}', 400),
    ("PATCH missing user", "PATCH", USER, JSON, b'{"name": "Ada"}', 404),
    ("limit not a number", "GET", "/users?limit=abc", None, None, 400),
    ("limit zero", "GET", "/users?limit=0", None, None, 400),
    ("limit too big", "GET", "/users?limit=101", None, None, 400),
    ("limit huge", "GET", "/users?limit=99999999999999999999999", None, None, 400),
    ("negative offset", "GET", "/users?offset=-1", None, None, 400),
    ("offset a float", "GET", "/users?offset=1.5", None, None, 400),
    ("missing user", "GET", USER, None, None, 404),
    ("odd user id", "GET", "/users/%FF%00..%2F", None, None, 404),
    ("DELETE missing user", "DELETE", USER, None, None, 404),
    ("unknown path", "GET", "/nothing/here", None, None, 404),
    ("PUT not allowed", "PUT", "/users", JSON, b'{"name": "Ada"}', 405),
    ("DELETE on collection", "DELETE", "/users", None, None, 405),
    ("POST on an item", "POST", USER, JSON, b"{}", 405),
    ("TRACE", "TRACE", "/users", None, None, 405),
    ("unknown method", "BREW", "/users", None, None, 405),
    ("huge body", "POST", "/users", JSON, b"x" * BIG, 413),
]  # fmt: skip

ADA = b'{"name": "A", "email": "a@b.co"}'
MANY = "&".join(f"p{n}=v" for n in range(300))
# odd but not necessarily wrong: whatever the answer, it is JSON and not a 5xx
ODD_REQUESTS: list[tuple[str, str, str, str | None, bytes | None]] = [
    ("lone surrogate escape", "POST", "/users", JSON, b'{"name": "\\ud800"}'),
    ("NaN literal", "POST", "/users", JSON, b'{"name": NaN, "email": "a@b.co"}'),
    ("UTF-16 body", "POST", "/users", JSON, ADA.decode().encode("utf-16")),
    ("byte order mark", "POST", "/users", JSON, b"\xef\xbb\xbf" + ADA),
    ("NUL escape in a name", "POST", "/users", JSON, ADA.replace(b'"A"', b'"\\u0000"')),
    ("duplicate keys", "POST", "/users", JSON, b'{"name": "a", "name": 5}'),
    ("emoji name", "POST", "/users", JSON, ADA.replace(b"A", "\U0001F600".encode())),
    ("odd media type", "POST", "/users", "application/json;;;=;", ADA),
    ("+json media type", "POST", "/users", "application/vnd.api+json", ADA),
    ("NUL in a path", "GET", "/users/%00", None, None),
    ("invalid UTF-8 in a path", "GET", "/users/%ED%A0%80", None, None),
    ("invalid UTF-8 in a query", "GET", "/users?name=%ED%A0%80", None, None),
    ("broken percent escape", "GET", "/users?name=%ZZ%", None, None),
    ("300 query parameters", "GET", f"/users?{MANY}", None, None),
    ("repeated limit", "GET", "/users?limit=5&limit=abc", None, None),
    ("offset past the end", "GET", "/users?offset=999999999", None, None),
]  # fmt: skip


def send_raw(
    server: ServerProcess,
    method: str,
    path: str,
    content_type: str | None,
    body: bytes | None,
    *,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request byte for byte on a fresh connection; return the answer.

    A server may answer (413) before it has read a big body and close the
    connection; the answer is read even if sending the rest then fails, as
    curl and browsers do.
    """
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    head.append("Connection: close")
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    if body is not None and chunked:
        head.append("Transfer-Encoding: chunked")
        step = 64 * 1024
        parts = [body[i : i + step] for i in range(0, len(body), step)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    elif body is not None:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    else:
        payload = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                reply += chunk
    head_bytes, _, content = reply.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return 0, {}, reply
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, content


def is_json_error(headers: dict[str, str], content: bytes) -> bool:
    """Whether an answer is the API's JSON error body."""
    if not headers.get("content-type", "").startswith(JSON):
        return False
    try:
        return "error" in orjson.loads(content)
    except orjson.JSONDecodeError:
        return False


def good_traffic(base_url: str) -> int:
    """The tutorial's sequence and a little more, so the spec has content."""
    session = requests.Session()
    sent = 0
    user_ids = []
    for number in range(6):
        body = {"name": f"User {number}", "email": f"user{number}@example.org"}
        created = session.post(f"{base_url}/users", json=body, timeout=30)
        assert created.status_code == 201
        user_ids.append(created.json()["id"])
        sent += 1
    for query in ("", "?limit=5", "?limit=2&offset=1", "?name=User", "?limit=3&name=1"):
        assert session.get(f"{base_url}/users{query}", timeout=30).ok
        sent += 1
    for user_id in user_ids[:3]:
        assert session.get(f"{base_url}/users/{user_id}", timeout=30).ok
        renamed = {"name": "Renamed"}
        assert session.patch(f"{base_url}/users/{user_id}", json=renamed).ok
        sent += 2
    for user_id in user_ids[3:]:
        deleted = session.delete(f"{base_url}/users/{user_id}", timeout=30)
        assert deleted.status_code == 204
        sent += 1
    return sent


def run_schemathesis(
    spec: Path, base_url: str, report: Path
) -> subprocess.CompletedProcess:
    """Run schemathesis against a live server; bounded examples, one worker."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(spec),
        "--url",
        base_url,
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--seed",
        "7",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    return subprocess.run(
        command,
        cwd=report.parent,
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_DEADLINE,
    )


def test_bad_input_gets_4xx_json_and_the_learned_spec_holds(
    kafka_bootstrap, kafka_topic, start_server, start_reader, tmp_path
):
    server = start_server(
        bootstrap=kafka_bootstrap,
        topic=kafka_topic,
        app="tests.reliability.stats_app:app",
    )
    statuses = {}
    problems = []
    for what, method, path, content_type, body, promised in BAD_REQUESTS:
        status, headers, content = send_raw(server, method, path, content_type, body)
        statuses[what] = status
        if status != promised or not is_json_error(headers, content):
            problems.append(f"{what}: {status} (promised {promised}) {content[:120]!r}")
    for what, method, path, content_type, body in ODD_REQUESTS:
        status, headers, content = send_raw(server, method, path, content_type, body)
        statuses[what] = status
        if status >= 500 or not headers.get("content-type", "").startswith(JSON):
            problems.append(f"{what}: {status} {content[:120]!r}")

    good = good_traffic(server.base_url)
    stats = wait_for_drain(server)
    reader = start_reader(kafka_bootstrap, kafka_topic)
    reader.wait_for_read(stats["delivered"])
    reader.stop()
    document = reader.document()
    done = run_schemathesis(
        reader.out / "openapi.json", server.base_url, tmp_path / "schemathesis"
    )
    summary = done.stdout[-3000:]
    cases = re.search(r"(\d+) generated", summary)

    write_figures(
        "bad_input",
        {
            "kinds_of_bad_input": len(BAD_REQUESTS),
            "kinds_of_odd_input": len(ODD_REQUESTS),
            "answered_as_promised": len(BAD_REQUESTS)
            + len(ODD_REQUESTS)
            - len(problems),
            "server_errors": sum(1 for status in statuses.values() if status >= 500),
            "problems": problems,
            "statuses": statuses,
            "good_requests": good,
            "recorder_counters": stats,
            "operations_in_spec": sum(
                1
                for item in document["paths"].values()
                for method in item
                if method != "parameters"
            ),
            "schemathesis_max_examples": MAX_EXAMPLES,
            "schemathesis_cases": int(cases.group(1)) if cases else 0,
            "schemathesis_exit_code": done.returncode,
            "schemathesis_summary": summary.splitlines()[-15:],
        },
    )
    assert problems == []
    assert "Traceback" not in server.log_text()
    assert stats["failed"] == 0 and stats["dropped"] == 0
    assert done.returncode == 0, summary + done.stderr[-2000:]


def test_chunked_body_over_the_limit_is_refused(kafka_bootstrap, start_server):
    server = start_server(bootstrap=kafka_bootstrap, topic="http_recordings")
    # valid JSON within the limit, then padding past it: cutting the body at the
    # limit would make it look acceptable
    body = b'{"name": "Ada", "email": "ada@example.org"}' + b" " * BIG
    chunked = send_raw(server, "POST", "/users", JSON, body, chunked=True)
    declared = send_raw(server, "POST", "/users", JSON, body)
    total = requests.get(f"{server.base_url}/users", timeout=30).json()["total"]
    write_figures(
        "bad_input_chunked",
        {
            "chunked_status": chunked[0],
            "content_length_status": declared[0],
            "users_created": total,
        },
    )

    assert declared[0] == 413
    assert chunked[0] == 413, chunked[2][:200]
    assert total == 0
