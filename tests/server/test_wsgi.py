"""The real server under gunicorn (the compose command, pre-forked workers)
recording the tutorial's requests into the real broker."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port
from tests.recorder.conftest import (
    assert_valid,
    read_jsonl,
    start_gunicorn,
    stop_process,
    wait_until_up,
)
from tests.recorder.test_kafka import consume

SECRET = f"secret-token-{uuid.uuid4().hex}"


@pytest.mark.slow
def test_tutorial_requests_arrive_once_each_valid_and_redacted(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RECORDING_TOPIC": kafka_topic,
        "RECORDER_SINK": "kafka",
    }
    log = tmp_path / "gunicorn.log"
    process, base = start_gunicorn(
        "server.wsgi:app",
        env,
        log,
        "--config",
        "server/gunicorn.conf.py",
        "--preload",
        "-w",
        "2",
    )
    # one keep-alive connection stays on one worker, and each worker keeps its
    # own users; extra one-off connections below reach both workers
    session = requests.Session()
    answers: dict[str, requests.Response] = {}

    def call(method: str, path: str, **kwargs) -> requests.Response:
        request_id = uuid.uuid4().hex
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        response = session.request(
            method, base + path, headers=headers, timeout=30, **kwargs
        )
        answers[request_id] = response
        return response

    try:
        wait_until_up(base + "/healthz", process)
        assert (
            call("GET", "/users/00000000-0000-4000-8000-000000000000").status_code
            == 404
        )
        created = call(
            "POST", "/users", json={"name": "Ada", "email": "ada@example.org"}
        )
        assert created.status_code == 201
        user_path = created.headers["Location"]
        assert call("GET", user_path).status_code == 200
        listed = call("GET", "/users?limit=10&offset=0&name=ad")
        assert listed.json()["total"] == 1
        assert (
            call("PATCH", user_path, json={"name": "Ada L"}).json()["name"] == "Ada L"
        )
        assert call("DELETE", user_path).status_code == 204
        authorized = call(
            "GET", "/users", headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert authorized.status_code == 200
        for _ in range(6):
            response = call("GET", "/users?limit=1", headers={"Connection": "close"})
            assert response.status_code == 200
        # stopping the workers flushes what they still hold (worker_exit)
        stop_process(process)
        messages = consume(kafka_bootstrap, kafka_topic, len(answers))
    finally:
        stop_process(process)

    by_id = {}
    for message in messages:
        assert_valid(message)
        request_id = message["meta"]["requestId"]
        assert request_id not in by_id, "a request was recorded twice"
        by_id[request_id] = message
    assert set(by_id) == set(answers)
    for request_id, response in answers.items():
        recorded = by_id[request_id]["response"]
        assert recorded["statusCode"] == response.status_code
        assert recorded.get("body", "") == response.text
    raw = json.dumps(messages)
    assert SECRET not in raw
    assert "Bearer [REDACTED]" in raw
    assert "Traceback" not in log.read_text()


def test_python_m_server_honours_port_and_records_to_a_file(tmp_path: Path) -> None:
    port = free_port()
    recordings = tmp_path / "recordings.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), "RECORDER_SINK": f"file:{recordings}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        response = requests.post(
            f"http://127.0.0.1:{port}/users",
            json={"name": "Ada", "email": "ada@example.org", "password": "hunter2"},
            timeout=30,
        )
        assert response.status_code == 400
        deadline = time.monotonic() + 20
        while not read_jsonl(recordings) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_process(process)
    (exchange,) = read_jsonl(recordings)
    assert_valid(exchange)
    assert exchange["response"]["statusCode"] == 400
    assert "hunter2" not in json.dumps(exchange)


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The demo API under gunicorn with the compose settings, bodies timing out."""
    log = tmp_path / "gunicorn.log"
    env = {"RECORDER_SINK": "off", "BODY_TIMEOUT": "2"}
    process, base = start_gunicorn(
        "server.wsgi:app", env, log, "--config", "server/gunicorn.conf.py"
    )
    try:
        wait_until_up(base + "/healthz", process)
        yield base, log
    finally:
        stop_process(process)


def raw_request(base: str, data: bytes) -> socket.socket:
    """Open a connection to the server and send raw bytes on it."""
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    connection.sendall(data)
    return connection


def read_answer(connection: socket.socket) -> bytes:
    """Read until the server closes the connection or a whole answer arrived."""
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def test_malformed_chunked_body_is_400_json(
    gunicorn_server: tuple[str, Path],
) -> None:
    base, log = gunicorn_server
    connection = raw_request(
        base,
        b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\nzz\r\n{"nam\r\n0\r\n\r\n',
    )
    with connection:
        answer = read_answer(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body) == {
        "error": "the request body could not be read",
        "status": 400,
    }
    assert "Traceback" not in log.read_text()


def test_a_rejected_request_line_keeps_its_secrets_out_of_the_log(
    gunicorn_server: tuple[str, Path],
) -> None:
    base, log = gunicorn_server
    # a raw 0xff byte makes gunicorn refuse the request line and log it
    connection = raw_request(
        base, b"GET /users?access_token=" + SECRET.encode() + b"\xff HTTP/1.1\r\n\r\n"
    )
    with connection:
        answer = read_answer(connection)
    assert answer.startswith(b"HTTP/1.1 400 ")

    def logged() -> str:
        return log.read_text(errors="replace")

    deadline = time.monotonic() + 30
    while "Invalid request from ip=" not in logged():
        assert time.monotonic() < deadline, logged()
        time.sleep(0.1)
    assert "request text withheld" in logged()
    assert SECRET not in logged()


def test_stalled_bodies_do_not_hold_every_thread(
    gunicorn_server: tuple[str, Path],
) -> None:
    base, _ = gunicorn_server
    head = (
        b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    # more stalled clients than the worker has threads (8)
    stalled = [raw_request(base, head) for _ in range(10)]
    try:
        response = requests.get(base + "/users", timeout=30)
        assert response.status_code == 200
        answer = read_answer(stalled[0])
        assert answer.startswith(b"HTTP/1.1 408 ")
    finally:
        for connection in stalled:
            connection.close()


def test_port_out_of_range_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env={**os.environ, "PORT": "99999", "RECORDER_SINK": "off"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "server: PORT must be from 1 to 65535, got '99999'\n"


@pytest.mark.parametrize(
    "name, value",
    [
        ("RECORDER_FLUSH_TIMEOUT", "abc"),
        ("WEB_CONCURRENCY", "0"),
        ("GUNICORN_THREADS", "x"),
    ],
)
def test_a_bad_number_in_the_gunicorn_settings_is_one_line(name, value):
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "server/gunicorn.conf.py"]
        + ["--check-config", "server.wsgi:app"],
        cwd=ROOT,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"{name} must be a number of at least {0 if 'FLUSH' in name else 1}, "
        f"got {value!r}"
    )
