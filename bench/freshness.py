"""Freshness: how long after its response a request shows in the document on disk.

The demo API records into Kafka and the reader's command line follows the
topic, as in the tutorial. Under steady load, some requests are probes that
each carry a query parameter no other request has (``probe_<n>``); a watcher
thread notes when each name first appears in the YAML document the reader
writes. The difference to the probe's response time is its freshness.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.demo_server import ROOT, DemoServer, request_mix
from bench.load import build_request, fixed_rate

logger = logging.getLogger(__name__)

PROBE = re.compile(rb"probe_(\d+)")
# probes ask a route the API answers (the list of users): a path that only
# ever answered 404 is not an operation, so it would never show up
PROBE_PATH = "/users"


class DocumentWatcher(threading.Thread):
    """Notes when each probe name first appears in the documents under a folder."""

    def __init__(self, folder: Path, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.interval = interval
        self.seen: dict[int, float] = {}
        self.stopping = threading.Event()
        self._mtimes: dict[Path, int] = {}

    def run(self) -> None:
        while not self.stopping.is_set():
            for path in self.folder.glob("**/openapi.yaml"):
                self._check(path)
            time.sleep(self.interval)

    def _check(self, path: Path) -> None:
        try:
            mtime = path.stat().st_mtime_ns
            if self._mtimes.get(path) == mtime:
                return
            now = time.monotonic()
            text = path.read_bytes()
        except OSError:
            return
        self._mtimes[path] = mtime
        for match in PROBE.finditer(text):
            self.seen.setdefault(int(match.group(1)), now)

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(5)


def _start_reader(bootstrap: str, topic: str, out: Path, log: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "spec_from_stream",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--out",
        str(out),
    ]
    with open(log, "ab") as output:
        return subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=output)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def measure_freshness(
    bootstrap: str,
    topic: str,
    log_dir: Path,
    *,
    rate: float = 500.0,
    duration: float = 20.0,
    warmup: float = 3.0,
    probes_per_second: float = 2.0,
) -> dict:
    """Load the recorded API at rate for duration; return freshness figures.

    Latencies are in seconds: p50, p99 and max over the probes, with how
    many probes were sent and how many never showed up.
    """
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as out_name:
        out = Path(out_name)
        reader = _start_reader(bootstrap, topic, out, log_dir / "reader-fresh.log")
        env = {
            "RECORDER_SINK": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "RECORDING_TOPIC": topic,
        }
        watcher = DocumentWatcher(out)
        try:
            with DemoServer(
                "server.wsgi:app", env, log_dir / "gunicorn-fresh.log"
            ) as server:
                mix = request_mix(server)
                total = int(rate * (warmup + duration))
                every = max(1, int(rate / probes_per_second))
                requests = [mix[index % len(mix)] for index in range(total)]
                probes: dict[int, int] = {}
                for index in range(int(rate * warmup), total, every):
                    number = len(probes)
                    target = f"{PROBE_PATH}?probe_{number}=1"
                    requests[index] = build_request("GET", target, server.host)
                    probes[index] = number
                watcher.start()
                result = fixed_rate(
                    server.address, requests, rate, warmup + duration, watch=probes
                )
                # the last probes need up to a write interval and more
                deadline = time.monotonic() + 10
                while len(watcher.seen) < len(probes) and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            watcher.stop()
            _stop(reader)

    delays = sorted(
        watcher.seen[number] - result.completed_at[index]
        for index, number in probes.items()
        if number in watcher.seen and index in result.completed_at
    )
    if not delays:
        raise RuntimeError("no probe reached the document (see reader-fresh.log)")

    def pick(fraction: float) -> float:
        return delays[min(len(delays) - 1, max(0, round(fraction * len(delays)) - 1))]

    return {
        "probes": len(probes),
        "missing": len(probes) - len(delays),
        "p50": pick(0.50),
        "p99": pick(0.99),
        "max": delays[-1],
        "rate": result.throughput,
        "request_p99": result.percentile(0.99),
    }
