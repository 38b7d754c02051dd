"""A broker address that accepts connections and never answers (a hung broker,
or a firewall that swallows packets): requests are served as usual, the
recorder counts every exchange it could not deliver, and the server still
stops by itself within its flush timeout."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from tests.reliability.figures import write_figures
from tests.reliability.load import Load, demo_calls
from tests.reliability.processes import recorder_stats

pytestmark = pytest.mark.slow

TOPIC = "http_recordings"
REQUESTS = 400
RATE = 50
FLUSH_TIMEOUT = 2
# how long SIGTERM to exit may take: the flush timeout, gunicorn's graceful
# timeout around it, and a generous margin for a busy machine
STOP_DEADLINE = 30.0
FINAL_COUNTS = re.compile(
    r"recorder: recorded=(\d+) delivered=(\d+) dropped=(\d+) failed=(\d+)"
)


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and reads them, never writing."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self.connections = 0
        self.received = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self) -> SilentListener:
        self._threads[0].start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for connection in self._open:
            connection.close()
        self._socket.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._open.append(connection)
            reader = threading.Thread(target=self._swallow, args=(connection,))
            reader.daemon = True
            self._threads.append(reader)
            reader.start()

    def _swallow(self, connection: socket.socket) -> None:
        connection.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.received += len(data)


def test_silent_broker_costs_requests_nothing_and_is_counted(start_server):
    with SilentListener() as silent:
        server = start_server(
            bootstrap=silent.address,
            topic=TOPIC,
            app="tests.reliability.stats_app:app",
            env={"RECORDER_FLUSH_TIMEOUT": str(FLUSH_TIMEOUT)},
        )
        result = Load(
            server.base_url, demo_calls, clients=4, total=REQUESTS, rate=RATE
        ).start()
        result = result.wait()
        running = recorder_stats(server)
        began = time.monotonic()
        status = server.stop(deadline=STOP_DEADLINE)
        took = time.monotonic() - began
        log = server.log_text()

    # the last counters line, written at shutdown
    lines = FINAL_COUNTS.findall(log)
    assert lines, log[-2000:]
    recorded, delivered, dropped, failed = map(int, lines[-1])
    write_figures(
        "broker_silent",
        {
            "requests_sent": result.sent,
            "requests_failed": result.failed,
            "connections": silent.connections,
            "bytes_swallowed": silent.received,
            "stop_seconds": round(took, 1),
            "exit_status": status,
            "recorded": recorded,
            "delivered": delivered,
            "dropped": dropped,
            "failed": failed,
        },
    )

    # the requests never noticed
    assert result.errors == [] and result.server_errors == 0
    assert result.sent == REQUESTS
    # the recorder did reach the address, and it swallowed what was sent
    assert silent.connections > 0 and silent.received > 0
    # every request was recorded; nothing can have been confirmed
    assert running["recorded"] == REQUESTS and running["delivered"] == 0
    # SIGTERM was enough: gunicorn exited by itself (a SIGKILL shows as -9)
    assert status == 0, f"exit status {status} after {took:.1f}s"
    # and every exchange is settled, as lost
    assert recorded == REQUESTS and delivered == 0
    assert dropped + failed == recorded
