"""The real server and reader, run as subprocesses on free ports of 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
import requests

from tests.conftest import ROOT, free_port

# generous: the machine is shared, and a JVM broker may be starting beside us
START_DEADLINE = 60.0
STOP_DEADLINE = 30.0


class ProcessError(AssertionError):
    """A subprocess did not start, or died; the message ends with its log."""


class ManagedProcess:
    """One subprocess in its own session, its output in a log file."""

    def __init__(
        self, name: str, command: Sequence[str], env: Mapping[str, str], log: Path
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        """The process id of the running subprocess."""
        assert self.process is not None, "start() first"
        return self.process.pid

    def start(self) -> None:
        """Start the subprocess, appending to its log file."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            # a session of its own, so stopping it reaches gunicorn's workers too
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        """Tell whether the subprocess still runs."""
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        """Everything the subprocess wrote so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def fail(self, message: str) -> ProcessError:
        """An error naming this process, with the end of its log."""
        tail = "\n".join(self.log_text().splitlines()[-30:])
        return ProcessError(f"{self.name}: {message}\n--- {self.log} (end) ---\n{tail}")

    def stop(self, deadline: float = STOP_DEADLINE) -> int | None:
        """SIGTERM, wait, then SIGKILL the whole session; return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(deadline)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(10)
        # workers left behind by a killed master must not outlive the test
        self._signal_group(signal.SIGKILL)
        return self.process.returncode

    def children(self) -> list[int]:
        """The direct child processes (gunicorn workers, the reader's fetcher)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def kill_main(self) -> None:
        """SIGKILL only the main process, as `kill -9 PID` would; children stay."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL the whole session at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.process.wait(10)

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


class ServerProcess(ManagedProcess):
    """The demo API (or another WSGI app) under gunicorn, recording to Kafka."""

    def __init__(
        self,
        log: Path,
        *,
        bootstrap: str,
        topic: str,
        app: str = "server.wsgi:app",
        workers: int = 1,
        threads: int = 8,
        preload: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "server/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ]
        if preload:
            command.append("--preload")
        command.append(app)
        environment = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "RECORDING_TOPIC": topic,
            "RECORDER_SINK": "kafka",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        super().__init__("server", command, environment, log)

    def start(self) -> None:
        """Start gunicorn and wait until /healthz answers."""
        super().start()
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.fail("exited during start")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise self.fail(f"not answering /healthz after {START_DEADLINE:g}s")

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        return self.children()


def process_exists(pid: int) -> bool:
    """Whether a process still runs (a zombie counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def rss_bytes(pid: int) -> int:
    """The resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for process {pid}")


class ReaderProcess(ManagedProcess):
    """The live spec reader, `python -m spec_from_stream`, on a topic."""

    def __init__(
        self,
        log: Path,
        out: Path,
        *,
        bootstrap: str,
        topic: str,
        group_id: str | None,
        extra_args: Sequence[str] = (),
    ) -> None:
        """group_id None leaves --group-id out (the reader's own default)."""
        self.out = out
        command = [
            sys.executable,
            "-m",
            "spec_from_stream",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            *(("--group-id", group_id) if group_id is not None else ()),
            "--out",
            str(out),
            "--connect-timeout",
            "60",
            *extra_args,
        ]
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        super().__init__("reader", command, environment, log)

    def state(self) -> dict | None:
        """The reader's saved state (counts, offsets, builder), if written yet."""
        try:
            return orjson.loads((self.out / ".state" / "state.json").read_bytes())
        except FileNotFoundError:
            return None

    def read_count(self) -> int:
        """How many messages the saved state says were read."""
        state = self.state()
        return 0 if state is None else state["counts"]["read"]

    def wait_for_read(self, count: int, deadline: float = 120.0) -> dict:
        """Wait until the saved state has read at least count messages."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if not self.alive():
                raise self.fail("exited while reading")
            state = self.state()
            if state is not None and state["counts"]["read"] >= count:
                return state
            time.sleep(0.25)
        raise self.fail(
            f"read {self.read_count()} of {count} messages in {deadline:g}s"
        )

    def document(self) -> dict:
        """The written document (one host: OUT/openapi.json)."""
        return orjson.loads((self.out / "openapi.json").read_bytes())


def recorder_stats(server: ServerProcess) -> dict:
    """The recorder counters of a server running tests.reliability.stats_app."""
    response = requests.get(f"{server.base_url}/__recorder_stats", timeout=10)
    response.raise_for_status()
    return response.json()


def wait_for_drain(server: ServerProcess, deadline: float = 120.0) -> dict:
    """Wait until every recorded exchange is delivered, dropped or failed.

    Returns the counters then (a count past `recorded` is for the caller to
    catch); raises if exchanges are still unsettled at the deadline.
    """
    end = time.monotonic() + deadline
    while True:
        stats = recorder_stats(server)
        settled = stats["delivered"] + stats["dropped"] + stats["failed"]
        if settled >= stats["recorded"]:
            return stats
        if time.monotonic() > end:
            raise AssertionError(f"exchanges unsettled after {deadline:g}s: {stats}")
        time.sleep(0.5)
