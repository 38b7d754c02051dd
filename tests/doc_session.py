"""Run the commands of a document, in order, against the native stack.

A reader's machine has Docker, port 5000, 8080 and 9092; the test machine has
none of these. A session runs each command as written in a copy of the
repository, with three rewrites: `localhost:5000`, `localhost:8080` and
`localhost:9092` become free ports of 127.0.0.1. Long-running commands (the
server, the live reader) start in the background and the session waits until
they listen. `docker compose` lines are checked against docker-compose.yml and
replaced by the native equivalent: the service's own command and environment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import ROOT, free_port
from tests.markdown import Step

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# commands that only look at something: safe to repeat while it appears
READS = re.compile(r"^(cat |head |tail |ls |curl -s[i]? (?!-X))")
BROKER_SERVICES = {"zookeeper", "kafka", "topic-init"}
APP_SERVICES = {"server", "spec", "spec-init"}


class CommandFailed(AssertionError):
    """A documented command failed or showed something other than the document."""


class Session:
    """The state of one reader following one document."""

    def __init__(self, workdir: Path, bootstrap: str, venv: Path) -> None:
        self.workdir = workdir
        self.bootstrap = bootstrap
        self.test_bootstrap = bootstrap
        self.venv = venv
        self.server_port = free_port()
        self.viewer_port = free_port()
        self.background: dict[str, subprocess.Popen] = {}
        self.local_kafka_env: dict[str, str] | None = None
        venv = r"(?:\.venv/bin/)?"
        self.handlers: list[tuple[re.Pattern, Callable[[str], str]]] = [
            (re.compile(r"^\./test\.sh\b"), self._the_test_command),
            (re.compile(r"^python3 -m venv (\S+)$"), self._make_venv),
            (re.compile(r"^\. (\S+)/bin/activate$"), self._activate),
            (re.compile(r"^docker compose\b"), self._docker_compose),
            (re.compile(r"^kafka/local start\b"), self._kafka_local_start),
            (re.compile(r"^kafka/local stop\b"), self._kafka_local_stop),
            (re.compile(r"^kafka/local consume \d+$"), self._consume),
            (re.compile(rf"^(\w+=\S+ )*{venv}python -m server$"), self._server),
            (re.compile(rf"^(\w+=\S+ )*{venv}gunicorn "), self._server),
            (
                re.compile(
                    rf"^(\w+=\S+ )*{venv}python -m spec_from_stream(?!.*--input)"
                ),
                self._live_reader,
            ),
            (
                re.compile(rf"^{venv}python -m spec_from_stream .*--follow\b"),
                self._following_reader,
            ),
            (re.compile(rf"^{venv}python -m bench\.perf\b"), self._benchmark),
            (
                re.compile(
                    rf"^(pip |kafka/local |curl |cat |head |tail |ls |{venv}python -m )"
                ),
                self._run,
            ),
        ]

    # -- the public part ---------------------------------------------------

    def handler_for(self, command: str) -> Callable[[str], str] | None:
        """Return how this session runs a command, or None if it cannot."""
        for pattern, handler in self.handlers:
            if pattern.search(command):
                return handler
        return None

    def run(self, step: Step) -> str:
        """Run one step and check its shown output in its essentials."""
        handler = self.handler_for(step.command)
        if handler is None:
            raise CommandFailed(f"{step.document}:{step.line}: no way to run it")
        # generous: a busy machine may take a while to join the consumer group
        deadline = time.monotonic() + 180
        while True:
            try:
                output = handler(step.command)
                if step.output is not None:
                    check_output(step, output)
                return output
            except AssertionError:
                # reads of what a background process writes may need a moment
                if not READS.match(step.command) or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def close(self) -> None:
        """Stop everything the session started."""
        for name in list(self.background):
            self._stop(name)
        if self.local_kafka_env:
            subprocess.run(
                ["kafka/local", "stop"],
                cwd=self.workdir,
                env=self.local_kafka_env,
                capture_output=True,
            )

    # -- environment and rewrites -------------------------------------------

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.venv / 'bin'}:{env['PATH']}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PORT"] = str(self.server_port)
        # the reader's Kafka is at the default address, localhost:9092
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        if self.local_kafka_env:
            env.update(self.local_kafka_env)
        else:
            env["KAFKA_PORT"] = self.bootstrap.rpartition(":")[2]
        return env

    def rewrite(self, command: str) -> str:
        self._provide_inputs(command)
        command = command.replace("localhost:5000", f"127.0.0.1:{self.server_port}")
        command = command.replace("0.0.0.0:5000", f"127.0.0.1:{self.server_port}")
        command = command.replace("127.0.0.1:5000", f"127.0.0.1:{self.server_port}")
        command = re.sub(r"(^|\s)\.venv/bin/", rf"\g<1>{self.venv}/bin/", command)
        command = command.replace("localhost:8080", f"127.0.0.1:{self.viewer_port}")
        command = command.replace("localhost:9092", self.bootstrap)
        return re.sub(r"--serve 8080\b", f"--serve {self.viewer_port}", command)

    def _provide_inputs(self, command: str) -> None:
        """Write the recorded traffic a command reads, when the reader would
        bring their own file (a README's `--input capture.har`)."""
        words = shlex.split(command, comments=True)
        wanted = [
            word
            for before, word in zip(["", *words], words, strict=False)
            if word.endswith((".jsonl", ".har"))
            and (before == "--input" or "replay" in command)
        ]
        for name in wanted:
            path = self.workdir / name
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_sample_traffic(path)

    def _shell(self, command: str, timeout: float = 300) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise CommandFailed(
                f"`{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    # -- handlers ------------------------------------------------------------

    def _run(self, command: str) -> str:
        return self._shell(self.rewrite(command))

    def _the_test_command(self, command: str) -> str:
        # this very suite runs under it; running it again would recurse
        assert (ROOT / "test.sh").is_file()
        return ""

    def _make_venv(self, command: str) -> str:
        self._shell(command)
        return ""

    def _activate(self, command: str) -> str:
        name = re.match(r"^\. (\S+)/bin/activate$", command).group(1)
        self.venv = self.workdir / name
        assert (self.venv / "bin" / "activate").is_file()
        return ""

    def _benchmark(self, command: str) -> str:
        if "--size" not in command:
            command += " --size small"
        return self._shell(self.rewrite(command), timeout=600)

    def _kafka_local_start(self, command: str) -> str:
        run_dir = self.workdir / "kafka" / ".run"
        self.local_kafka_env = {
            "KAFKA_PORT": str(free_port()),
            "ZOOKEEPER_PORT": str(free_port()),
            "KAFKA_LOCAL_DIR": str(run_dir),
        }
        output = self._shell(command)
        self.bootstrap = output.strip().splitlines()[-1]
        return output

    def _kafka_local_stop(self, command: str) -> str:
        output = self._shell(command)
        self.local_kafka_env = None
        self.bootstrap = self.test_bootstrap
        return output

    def _server(self, command: str) -> str:
        self._stop("server")
        self._start("server", self.rewrite(command), self.server_port)
        return ""

    def _live_reader(self, command: str) -> str:
        self._stop("spec")
        port = self.viewer_port if "--serve" in command else None
        self._start("spec", self.rewrite(command), port)
        return ""

    def _following_reader(self, command: str) -> str:
        self._stop("follow")
        self._start("follow", self.rewrite(command), None)
        return ""

    def _docker_compose(self, command: str) -> str:
        words = shlex.split(command)[2:]
        action, rest = words[0], words[1:]
        services = COMPOSE["services"]
        if action == "up":
            names = [word for word in rest if not word.startswith("-")]
            for name in names:
                assert name in services, f"no service {name} in docker-compose.yml"
            names = names or list(services)
            if BROKER_SERVICES & set(names):
                self._check_broker()
            for name in ("server", "spec"):
                if name in names:
                    self._compose_service(name)
            return ""
        if action in ("down", "stop"):
            for name in list(self.background):
                self._stop(name)
            return ""
        if action == "ps":
            for name, process in self.background.items():
                assert process.poll() is None, f"{name} exited"
            return ""
        if action == "logs":
            name = rest[-1]
            assert name in services
            return (self.workdir / f"{name}.log").read_text()
        if action == "exec":
            return self._compose_exec(rest)
        raise CommandFailed(f"no native equivalent for `{command}`")

    def _compose_exec(self, words: list[str]) -> str:
        service, tool, *args = words
        assert service == "kafka", f"exec into {service} is not supported"
        internal = compose_internal_bootstrap()
        assert args[args.index("--bootstrap-server") + 1] == internal
        del args[
            args.index("--bootstrap-server") : args.index("--bootstrap-server") + 2
        ]
        if tool == "kafka-topics":
            return self._shell(shlex.join(["kafka/local", "topics", *args]))
        if tool == "kafka-console-consumer":
            topic = args[args.index("--topic") + 1]
            count = args[args.index("--max-messages") + 1]
            assert "--from-beginning" in args
            env = f"RECORDING_TOPIC={shlex.quote(topic)}"
            return self._consume(f"{env} kafka/local consume {count}")
        raise CommandFailed(f"no native equivalent for {tool}")

    def _consume(self, command: str) -> str:
        """Run a console consumer; what it prints must be recorded exchanges."""
        output = self._shell(command)
        count = int(command.rsplit(" ", 1)[1])
        lines = output.splitlines()
        assert len(lines) == count, f"`{command}` printed {len(lines)} messages"
        for line in lines:
            exchange = json.loads(line)
            assert {"request", "response"} <= set(exchange), line
        return output

    def _compose_service(self, name: str) -> None:
        """Start a compose service as a process: its command, its environment."""
        service = COMPOSE["services"][name]
        env_overrides = {}
        for key, value in service.get("environment", {}).items():
            value = str(value)
            if key == "KAFKA_BOOTSTRAP_SERVERS":
                value = self.bootstrap
            elif key == "SPEC_OUT_DIR":
                # the bind mount ./spec:/app/spec
                value = str(self.workdir / "spec")
            elif key == "SPEC_SERVE_PORT":
                value = str(self.viewer_port)
            elif key == "SPEC_SERVE_HOST":
                value = "127.0.0.1"
            env_overrides[key] = value
        command = list(service["command"])
        port = self.viewer_port if name == "spec" else self.server_port
        if "--bind" in command:
            command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
        assignments = " ".join(
            f"{k}={shlex.quote(v)}" for k, v in env_overrides.items()
        )
        self._stop(name)
        self._start(name, f"{assignments} exec {shlex.join(command)}", port)

    def _check_broker(self) -> None:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            assert "http_recordings" in admin.list_topics()
        finally:
            admin.close()

    # -- background processes ----------------------------------------------

    def _start(self, name: str, command: str, port: int | None) -> None:
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.background[name] = process
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandFailed(
                    f"`{command}` exited {process.returncode}:\n"
                    + (self.workdir / f"{name}.log").read_text()
                )
            if port is None:
                # nothing to connect to: alive after a few seconds is started
                if time.monotonic() > deadline - 55:
                    return
            else:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        return
            time.sleep(0.2)
        raise CommandFailed(f"`{command}` did not listen on {port} within 60 s")

    def _stop(self, name: str) -> None:
        process = self.background.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def compose_internal_bootstrap() -> str:
    """The address other compose services use for the broker."""
    environment = COMPOSE["services"]["kafka"]["environment"]
    for listener in environment["KAFKA_ADVERTISED_LISTENERS"].split(","):
        name, _, address = listener.partition("://")
        if name == environment["KAFKA_INTER_BROKER_LISTENER_NAME"]:
            return address
    raise LookupError("no inter-broker listener")


def copy_repository(target: Path) -> Path:
    """Copy the checkout's files (not .venv, not caches) to target."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    # the broker jars are a download, not part of the checkout
    (target / "kafka" / "lib").symlink_to(ROOT / "kafka" / "lib")
    return target


def check_output(step: Step, output: str) -> None:
    """Compare what a command printed with what the document shows, in essence."""
    shown = step.output.strip()
    where = f"{step.document}:{step.line} `{step.command}`"
    status = re.match(r"HTTP/[\d.]+ (\d{3})", shown)
    if status:
        got = re.match(r"HTTP/[\d.]+ (\d{3})", output)
        assert got, f"{where}: printed no status line:\n{output}"
        assert got.group(1) == status.group(1), f"{where}: status {got.group(1)}"
        shown = shown.split("\n\n", 1)[-1] if "\n\n" in shown else ""
        output = output.replace("\r\n", "\n").split("\n\n", 1)[-1]
        if not shown:
            return
    if step.output_kind == "json" or shown[:1] in "{[":
        actual, expected = json.loads(output), json.loads(shown)
        assert _shape(actual) == _shape(expected), f"{where}: printed\n{output}"
        return
    if step.output_kind == "yaml":
        expected, actual = yaml.safe_load(shown), yaml.safe_load(output)
        if isinstance(expected, dict) and "paths" in expected:
            assert _operations(actual) == _operations(expected), f"{where}: {output}"
            return
        assert _shape(actual) == _shape(expected), f"{where}: printed\n{output}"
        return
    # plain text: the shown words appear; numbers, ids and hashes may differ
    for line in shown.splitlines():
        for word in re.findall(r"\b[A-Za-z_][A-Za-z_./-]{3,}\b", line):
            assert word in output, f"{where}: {word!r} missing from:\n{output}"


def _shape(value: object, depth: int = 2) -> object:
    """The keys of a JSON value, two levels deep, without the values.

    Deeper levels (header names, the fields of list items) vary with the
    client and the data, so they are not part of what a document promises.
    """
    if depth == 0:
        return type(value).__name__
    if isinstance(value, dict):
        return {key: _shape(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0], depth - 1)] if value else []
    return type(value).__name__


def _operations(document: dict) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in (document.get("paths") or {}).items()
        for method in item
        if method != "parameters"
    }


def write_sample_traffic(path: Path) -> None:
    """Write a few exchanges of the demo API as JSON Lines or as a HAR file."""
    user = {"id": "4b8a3f0e-2c1d-4e5f-9a6b-7c8d9e0f1a2b", "name": "Ada"}
    calls = [
        ("get", "/users", {"limit": "5"}, None, 200, {"items": [user], "total": 1}),
        ("post", "/users", {}, {"name": "Ada"}, 201, user),
        ("get", f"/users/{user['id']}", {}, None, 200, user),
        ("get", "/users/3c1d2e4f-0000-4000-8000-000000000000", {}, None, 404, {}),
    ]
    stamp = "2026-12-04T10:00:00.000+00:00"
    if path.suffix == ".har":
        entries = []
        for method, pathname, query, body, status, answer in calls:
            search = "&".join(f"{key}={value}" for key, value in query.items())
            request = {
                "method": method.upper(),
                "url": f"http://localhost:5000{pathname}"
                + (f"?{search}" if search else ""),
                "httpVersion": "HTTP/1.1",
                "headers": [{"name": "Accept", "value": "application/json"}],
                "queryString": [{"name": k, "value": v} for k, v in query.items()],
                "cookies": [],
                "headersSize": -1,
                "bodySize": -1,
            }
            if body is not None:
                request["postData"] = {
                    "mimeType": "application/json",
                    "text": json.dumps(body),
                }
            entries.append(
                {
                    "startedDateTime": stamp,
                    "time": 1.0,
                    "request": request,
                    "response": {
                        "status": status,
                        "statusText": "",
                        "httpVersion": "HTTP/1.1",
                        "headers": [
                            {"name": "Content-Type", "value": "application/json"}
                        ],
                        "cookies": [],
                        "content": {
                            "size": -1,
                            "mimeType": "application/json",
                            "text": json.dumps(answer),
                        },
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": -1,
                    },
                    "cache": {},
                    "timings": {"send": 0, "wait": 1, "receive": 0},
                }
            )
        har = {
            "log": {"version": "1.2", "creator": {"name": "tests"}, "entries": entries}
        }
        path.write_text(json.dumps(har))
        return
    lines = []
    for method, pathname, query, body, status, answer in calls:
        exchange = {
            "request": {
                "method": method,
                "protocol": "http",
                "host": "localhost:5000",
                "pathname": pathname,
                "query": query,
                "headers": {"content-type": "application/json"},
                "timestamp": stamp,
                "body": json.dumps(body) if body is not None else "",
            },
            "response": {
                "statusCode": status,
                "headers": {"content-type": "application/json"},
                "timestamp": stamp,
                "body": json.dumps(answer),
            },
        }
        lines.append(json.dumps(exchange))
    path.write_text("\n".join(lines) + "\n")
