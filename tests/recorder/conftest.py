"""Fixtures for the recorder's tests: real servers, recordings, the schema."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import ROOT, SHARED, free_port

SCHEMA = json.loads((SHARED / "http-types" / "http-types-schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(
    SCHEMA, format_checker=jsonschema.FormatChecker()
)
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def assert_valid(exchange: dict[str, Any]) -> None:
    """Fail with every schema error when an exchange is not valid http-types."""
    errors = [error.message for error in VALIDATOR.iter_errors(exchange)]
    assert not errors, f"not valid http-types: {errors}\n{exchange}"


def new_request_id() -> str:
    """A unique X-Request-ID, to find a request's exchange among others."""
    return f"test-{uuid.uuid4().hex}"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every exchange in a JSON Lines file (none if it does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_exchanges(
    path: Path, request_id: str, count: int = 1, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Wait until `count` exchanges with this request id are in the file."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            exchange
            for exchange in read_jsonl(path)
            if exchange["meta"]["requestId"] == request_id
        ]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, f"{len(found)} exchanges for {request_id}"
            for exchange in found:
                assert_valid(exchange)
            return found
        time.sleep(0.05)


@dataclass
class Server:
    """A WSGI server process or thread on 127.0.0.1 and where it records."""

    base: str
    recordings: Path
    log: Path | None = None

    def url(self, path: str) -> str:
        return self.base + path


def wait_until_up(url: str, process: subprocess.Popen | None = None) -> None:
    """Poll a URL until it answers (generous deadline); fail if the process died."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def start_gunicorn(
    app: str, env: dict[str, str], log: Path, *extra: str
) -> tuple[subprocess.Popen, str]:
    """Start gunicorn serving `app` on a free port; return it and its base URL."""
    port = free_port()
    command = [GUNICORN, "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10"]
    command += list(extra) + [app]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def case_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn (one gthread worker) serving the case app into a JSON Lines file."""
    folder = tmp_path_factory.mktemp("case-server")
    recordings = folder / "recordings.jsonl"
    log = folder / "gunicorn.log"
    env = {"RECORDER_SINK": f"file:{recordings}"}
    process, base = start_gunicorn(
        "tests.recorder.case_app:app",
        env,
        log,
        "--worker-class",
        "gthread",
        "--threads",
        "4",
    )
    try:
        wait_until_up(base + "/counts", process)
        yield Server(base, recordings, log)
    finally:
        stop_process(process)
    # whatever the tests did, every line written is valid http-types
    for exchange in read_jsonl(recordings):
        assert_valid(exchange)


@pytest.fixture
def thread_server() -> Iterator[Any]:
    """Start a WSGI app on a threaded werkzeug server in this process."""
    servers = []

    def start(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    try:
        yield start
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(10)
