"""Hostile requests get 4xx JSON errors; then schemathesis checks the learned spec."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.reliability.figures import write_figures
from tests.reliability.processes import ServerProcess, wait_for_drain

pytestmark = pytest.mark.slow

MISSING_USER = "/users/00000000-0000-4000-8000-000000000000"
JSON = {"Content-Type": "application/json"}
# what schemathesis may spend: examples per operation, seconds in all
MAX_EXAMPLES = 40
SCHEMATHESIS_DEADLINE = 300


def chunks(total: int, size: int = 64 * 1024):
    """A body sent with Transfer-Encoding: chunked (no Content-Length)."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


BIG = 2 * 1024 * 1024
ODD_ID = "/users/%FF%00..%2F"


def bad_requests() -> list[tuple[str, str, str, dict, int]]:
    """(what, method, path, options for requests, the status the API promises)."""
    return [
        (
            "malformed JSON",
            "POST",
            "/users",
            {"data": b'{"name": ', "headers": JSON},
            400,
        ),
        ("JSON array", "POST", "/users", {"data": b"[]", "headers": JSON}, 400),
        ("JSON null", "POST", "/users", {"data": b"null", "headers": JSON}, 400),
        ("empty JSON body", "POST", "/users", {"data": b"", "headers": JSON}, 400),
        ("wrong types", "POST", "/users", {"json": {"name": 5, "email": ["a"]}}, 400),
        (
            "name is null",
            "POST",
            "/users",
            {"json": {"name": None, "email": "a@b.co"}},
            400,
        ),
        ("missing email", "POST", "/users", {"json": {"name": "Ada"}}, 400),
        ("missing name", "POST", "/users", {"json": {"email": "ada@example.org"}}, 400),
        (
            "not an email",
            "POST",
            "/users",
            {"json": {"name": "Ada", "email": "ada"}},
            400,
        ),
        (
            "unknown field",
            "POST",
            "/users",
            {"json": {"name": "A", "admin": True}},
            400,
        ),
        (
            "name too long",
            "POST",
            "/users",
            {"json": {"name": "x" * 10_000, "email": "a@b.co"}},
            400,
        ),
        ("huge body", "POST", "/users", {"data": b"x" * BIG, "headers": JSON}, 413),
        (
            "huge chunked body",
            "POST",
            "/users",
            {"data": chunks(BIG), "headers": JSON},
            413,
        ),
        (
            "invalid UTF-8",
            "POST",
            "/users",
            {"data": b'{"name": "\xff\xfe", "email": "a@b.co"}', "headers": JSON},
            400,
        ),
        (
            "latin-1 charset",
            "POST",
            "/users",
            {
                "data": '{"name": "J\xfcrgen", "email": "j@b.co"}'.encode("latin-1"),
                "headers": {"Content-Type": "application/json; charset=latin-1"},
            },
            400,
        ),
        (
            "deep nesting",
            "POST",
            "/users",
            {"data": b"[" * 50_000 + b"]" * 50_000, "headers": JSON},
            400,
        ),
        (
            "text/plain body",
            "POST",
            "/users",
            {"data": b"name=Ada", "headers": {"Content-Type": "text/plain"}},
            415,
        ),
        (
            "form body",
            "POST",
            "/users",
            {"data": {"name": "Ada", "email": "a@b.co"}},
            415,
        ),
        ("no content type", "POST", "/users", {"data": b'{"name": "Ada"}'}, 415),
        (
            "multipart body",
            "POST",
            "/users",
            {"files": {"name": ("n.txt", b"Ada")}},
            415,
        ),
        (
            "PATCH malformed JSON",
            "PATCH",
            MISSING_USER,
            {"data": b"{", "headers": JSON},
            400,
        ),
        ("PATCH wrong types", "PATCH", MISSING_USER, {"json": {"email": 42}}, 400),
        ("PATCH missing user", "PATCH", MISSING_USER, {"json": {"name": "Ada"}}, 404),
        ("limit not a number", "GET", "/users?limit=abc", {}, 400),
        ("limit zero", "GET", "/users?limit=0", {}, 400),
        ("limit too big", "GET", "/users?limit=101", {}, 400),
        ("limit huge number", "GET", "/users?limit=99999999999999999999999", {}, 400),
        ("negative offset", "GET", "/users?offset=-1", {}, 400),
        ("offset a float", "GET", "/users?offset=1.5", {}, 400),
        ("missing user", "GET", MISSING_USER, {}, 404),
        ("odd user id", "GET", ODD_ID, {}, 404),
        ("DELETE missing user", "DELETE", MISSING_USER, {}, 404),
        ("unknown path", "GET", "/nothing/here", {}, 404),
        ("PUT not allowed", "PUT", "/users", {"json": {"name": "Ada"}}, 405),
        ("DELETE on collection", "DELETE", "/users", {}, 405),
        ("POST on an item", "POST", MISSING_USER, {"json": {}}, 405),
        ("TRACE", "TRACE", "/users", {}, 405),
        ("unknown method", "BREW", "/users", {}, 405),
    ]


def good_traffic(base_url: str) -> int:
    """The tutorial's sequence and a little more, so the spec has content."""
    session = requests.Session()
    count = 0
    user_ids = []
    for number in range(6):
        body = {"name": f"User {number}", "email": f"user{number}@example.org"}
        created = session.post(f"{base_url}/users", json=body, timeout=30)
        assert created.status_code == 201
        user_ids.append(created.json()["id"])
        count += 1
    for query in ("", "?limit=5", "?limit=2&offset=1", "?name=User", "?limit=3&name=1"):
        assert session.get(f"{base_url}/users{query}", timeout=30).ok
        count += 1
    for user_id in user_ids[:3]:
        assert session.get(f"{base_url}/users/{user_id}", timeout=30).ok
        changed = session.patch(
            f"{base_url}/users/{user_id}", json={"name": "Renamed"}, timeout=30
        )
        assert changed.ok
        count += 2
    for user_id in user_ids[3:]:
        assert (
            session.delete(f"{base_url}/users/{user_id}", timeout=30).status_code == 204
        )
        count += 1
    return count


def is_json_error(response: requests.Response) -> bool:
    """Whether an answer is the API's JSON error body."""
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        return "error" in response.json()
    except ValueError:
        return False


def raw_request(server: ServerProcess, payload: bytes) -> bytes:
    """Send bytes as they are (for what requests refuses to send); return the reply."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(payload)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_bad_input_gets_4xx_json_and_the_learned_spec_holds(
    kafka_bootstrap, kafka_topic, start_server, start_reader, tmp_path
):
    server = start_server(
        bootstrap=kafka_bootstrap,
        topic=kafka_topic,
        app="tests.reliability.stats_app:app",
    )
    session = requests.Session()
    answers: dict[str, requests.Response] = {}
    problems = []
    requests_sent = bad_requests()
    for what, method, path, options, promised in requests_sent:
        try:
            response = session.request(
                method, server.base_url + path, timeout=30, **options
            )
        except requests.RequestException as error:
            problems.append(f"{what}: no answer ({error!r})")
            # the connection is gone: the next request gets a new one
            session = requests.Session()
            continue
        answers[what] = response
        if response.status_code != promised or not is_json_error(response):
            problems.append(
                f"{what}: {response.status_code} (promised {promised}) "
                f"{response.text[:120]!r}"
            )
    # a body declared as UTF-8 JSON whose bytes are not, sent byte for byte
    body = b'{"name": "\xc3\x28", "email": "a@b.co"}'
    raw = raw_request(
        server,
        b"POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json; charset=utf-8\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    raw_status = int(raw.split(b" ", 2)[1])
    if raw_status != 400:
        problems.append(f"raw invalid UTF-8: {raw[:200]!r}")
    statuses = {what: response.status_code for what, response in answers.items()}

    good = good_traffic(server.base_url)
    stats = wait_for_drain(server)

    reader = start_reader(kafka_bootstrap, kafka_topic)
    reader.wait_for_read(stats["delivered"])
    reader.stop()
    spec = reader.out / "openapi.json"
    report = tmp_path / "schemathesis"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(spec),
        "--url",
        server.base_url,
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
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_DEADLINE,
    )
    summary = done.stdout[-3000:]
    server_log = server.log_text()

    write_figures(
        "bad_input",
        {
            "kinds_of_bad_input": len(requests_sent) + 1,
            "answered_as_promised": len(requests_sent) + 1 - len(problems),
            "server_errors": sum(1 for s in statuses.values() if s >= 500),
            "problems": problems,
            "statuses": statuses,
            "good_requests": good,
            "recorder_counters": stats,
            "operations_in_spec": sum(
                1 for item in reader.document()["paths"].values() for _ in item
            ),
            "schemathesis_exit_code": done.returncode,
            "schemathesis_summary": summary.splitlines()[-15:],
        },
    )
    assert problems == []
    assert "Traceback" not in server_log
    assert stats["failed"] == 0 and stats["dropped"] == 0
    assert done.returncode == 0, summary + done.stderr[-2000:]
