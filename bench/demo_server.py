"""The demo API under gunicorn, as a child process the benchmarks drive.

Every variant runs with the project's own ``server/gunicorn.conf.py`` (one
worker process with threads), only the WSGI app and the recorder's
environment differ, so the figures compare recording and nothing else.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from bench.kafka_local import free_port
from bench.load import build_request

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "server" / "gunicorn.conf.py"
STARTUP_TIMEOUT = 60.0
USERS = 64


class ServerError(RuntimeError):
    """The server did not start or misbehaved; the message says how."""


class DemoServer:
    """One gunicorn process tree serving an app on a free port of 127.0.0.1."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path) -> None:
        self.app = app
        self.port = free_port()
        self.address = ("127.0.0.1", self.port)
        self.host = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> DemoServer:
        """Start gunicorn and wait until it answers /healthz."""
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(GUNICORN_CONF),
            "--bind",
            self.host,
            self.app,
        ]
        # the child keeps its own copy of the descriptor
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"gunicorn {self.app} exited at start")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"gunicorn {self.app} did not answer in {STARTUP_TIMEOUT}s")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple:
        """Send one request on a fresh connection; return (status, body)."""
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            payload = orjson.dumps(body) if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop gunicorn (TERM, then KILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def request_mix(server: DemoServer, count: int = 2000, seed: int = 3) -> list[bytes]:
    """Create some users; return a realistic mix of requests to the users API.

    Reads of existing users dominate, with listing, creating, updating and a
    few misses; deletes are left out so the same ids stay valid all along.
    """
    ids = []
    for number in range(USERS):
        status, body = server.request(
            "POST", "/users", {"name": f"user {number}", "email": f"u{number}@e.org"}
        )
        if status != 201:
            raise ServerError(f"creating a user answered {status}")
        ids.append(orjson.loads(body)["id"])

    rng = random.Random(seed)
    host = server.host
    requests = []
    for number in range(count):
        pick = rng.random()
        if pick < 0.55:
            requests.append(build_request("GET", f"/users/{rng.choice(ids)}", host))
        elif pick < 0.75:
            limit = rng.choice([5, 10, 20])
            target = f"/users?limit={limit}&offset={rng.randrange(0, 40)}"
            requests.append(build_request("GET", target, host))
        elif pick < 0.85:
            body = orjson.dumps({"name": f"new {number}", "email": f"n{number}@e.org"})
            requests.append(build_request("POST", "/users", host, body))
        elif pick < 0.95:
            body = orjson.dumps({"name": f"renamed {number}"})
            target = f"/users/{rng.choice(ids)}"
            requests.append(build_request("PATCH", target, host, body))
        else:
            requests.append(build_request("GET", "/users/no-such-user", host))
    return requests
