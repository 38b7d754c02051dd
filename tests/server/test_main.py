"""`python -m server`: its help, its one-line errors, and how it stops."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import ROOT, free_port, run_module, sigterm_log


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_module("server", *args, env=env, timeout=60)


def test_help_lists_the_settings_and_starts_nothing():
    done = run("--help")

    assert done.returncode == 0
    assert "usage: python -m server" in done.stdout
    for name in ("PORT", "RECORDER_SINK", "KAFKA_BOOTSTRAP_SERVERS"):
        assert name in done.stdout
    assert "Running on" not in done.stdout + done.stderr


def test_unknown_arguments_are_refused():
    done = run("--port", "6000")

    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_a_bad_setting_is_one_line():
    done = run(env={**os.environ, "PORT": "99999"})

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "server: PORT must be from 1 to 65535, got '99999'"
    ]


def start_server(port: int, recording: Path) -> subprocess.Popen:
    """`python -m server` recording into a file, once it answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env={
            **os.environ,
            "PORT": str(port),
            "RECORDER_SINK": f"file:{recording}",
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise AssertionError(server.stderr.read())
        assert time.monotonic() < deadline
        try:
            requests.get(f"http://127.0.0.1:{port}/users", timeout=5)
            return server
        except requests.ConnectionError:
            time.sleep(0.2)


def test_sigterm_delivers_what_the_recorder_holds_and_logs_the_counts(tmp_path):
    port = free_port()
    recording = tmp_path / "rec.jsonl"
    server = start_server(port, recording)
    try:
        # one keep-alive connection is served by one thread, request after
        # request: once the unrecorded /healthz is answered, the thread has
        # finished the record of every /users request before it (the server
        # answers a client before it finishes its record)
        session = requests.Session()
        for number in range(30):
            session.get(f"http://127.0.0.1:{port}/users/{number}", timeout=5)
        session.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        log = sigterm_log(server)
    finally:
        server.kill()
        server.wait()

    assert len(recording.read_text().splitlines()) == 31
    assert "recorded=31 delivered=31 dropped=0 failed=0" in log


def test_sigterm_waits_for_a_request_being_served_and_records_it(tmp_path):
    port = free_port()
    recording = tmp_path / "rec.jsonl"
    server = start_server(port, recording)
    body = json.dumps({"name": "Ada", "email": "ada@example.org"}).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(
                b"POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body[:10]
            )
            # the server accepts at once; the rest of the body comes after
            # the signal, while the server is stopping
            time.sleep(1)
            server.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            client.sendall(body[10:])
            answer = client.makefile("rb").read()
        assert server.wait(timeout=60) == 0
        log = server.stderr.read()
    finally:
        server.kill()
        server.wait()

    assert answer.startswith(b"HTTP/1.1 201"), answer
    lines = recording.read_text().splitlines()
    # the GET /users of the start, then the POST answered while stopping
    assert [json.loads(line)["request"]["method"] for line in lines] == [
        "get",
        "post",
    ]
    assert "recorded=2 delivered=2 dropped=0 failed=0" in log


def test_the_log_names_requests_without_their_path_query_or_text(tmp_path):
    port = free_port()
    server = start_server(port, tmp_path / "rec.jsonl")
    try:
        requests.get(
            f"http://127.0.0.1:{port}/users/ada@example.org?access_token=tok1",
            timeout=5,
        )
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(b"GET /users?token=tok2 HTTP/1.1 extra\r\n\r\n")
            client.makefile("rb").read()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(b"TOK3 /users HTTP/1.1\r\nHost: x\r\n\r\n")
            client.makefile("rb").read()
        log = sigterm_log(server)
    finally:
        server.kill()
        server.wait()
    assert "GET 404 (path withheld)" in log
    assert "refused a malformed request (request text withheld)" in log
    assert "other 405 (path withheld)" in log
    for value in ("ada@example.org", "tok1", "tok2", "TOK3", "127.0.0.1 - -"):
        assert value not in log
