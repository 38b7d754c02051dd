"""An HTTP/1.1 load generator on raw non-blocking sockets with keep-alive.

Two ways to drive a server:

- ``saturate``: a closed loop, every connection always has one request in
  flight; the completed requests per second are the maximum throughput.
- ``fixed_rate``: an open loop, requests are due on a fixed schedule whatever
  the server does, and latency counts from when a request was due, so a slow
  server cannot hide its queueing (no coordinated omission).

One selector loop in one thread keeps the generator cheap: it spends a few
microseconds per request, far less than the server it measures.
"""

from __future__ import annotations

import collections
import errno
import logging
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# a response that does not finish in this many seconds counts as an error
RESPONSE_TIMEOUT = 10.0


def build_request(
    method: str,
    target: str,
    host: str,
    body: bytes = b"",
    content_type: str = "application/json",
) -> bytes:
    """Return the bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "User-Agent: bench/1"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("ascii") + body


@dataclass
class LoadResult:
    """What one load run measured; latencies are in seconds."""

    duration: float
    latencies: list[float] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    errors: int = 0
    # requests put on the wire, answered or not: a closed loop stops with
    # requests in flight, which the server still serves (and records)
    sent: int = 0
    # why requests failed: "timeout", "closed" (by the server), "socket"
    error_kinds: collections.Counter = field(default_factory=collections.Counter)
    # CPU seconds the server spent on this run, when the caller measured it
    cpu_seconds: float = 0.0
    # when the watched requests (by index) completed, on time.monotonic()
    completed_at: dict[int, float] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        """Return the number of responses received."""
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Return completed responses per second."""
        return self.completed / self.duration if self.duration else 0.0

    def percentile(self, fraction: float) -> float:
        """Return the latency below which the given fraction of requests fell."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index]


class _ResponseReader:
    """Incremental parser of HTTP/1.1 responses on one connection."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.status = 0
        self.remaining: int | None = None
        self.chunked = False
        self.close_after = False
        self.head_done = False

    def feed(self, data: bytes) -> bool:
        """Add received bytes; return True once a whole response is in."""
        self.buffer += data
        if not self.head_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self._parse_head(bytes(self.buffer[:end]))
            del self.buffer[: end + 4]
            self.head_done = True
        if self.chunked:
            return self._chunked_done()
        return len(self.buffer) >= (self.remaining or 0)

    def reset(self) -> None:
        """Get ready for the next response on the same connection."""
        # a pipelining server could have sent more, but one request is in flight
        self.buffer.clear()
        self.status = 0
        self.remaining = None
        self.chunked = False
        self.close_after = False
        self.head_done = False

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        self.remaining = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"content-length":
                self.remaining = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                self.chunked = True
            elif name == b"connection" and value == b"close":
                self.close_after = True
        if self.status in (204, 304) or 100 <= self.status < 200:
            self.remaining = 0
            self.chunked = False

    def _chunked_done(self) -> bool:
        position = 0
        while True:
            line_end = self.buffer.find(b"\r\n", position)
            if line_end < 0:
                return False
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            if size == 0:
                # trailers are not used by the servers measured here
                return self.buffer.find(b"\r\n\r\n", line_end) >= 0 or (
                    self.buffer[line_end:] == b"\r\n\r\n"
                )
            position = line_end + 2 + size + 2
            if position > len(self.buffer):
                return False


class _Connection:
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.reader = _ResponseReader()
        self.pending = b""
        self.index = -1
        self.started = 0.0
        self.sent = 0.0

    def open(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        error = sock.connect_ex(self.address)
        if error not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(error, f"cannot connect to {self.address}")
        self.sock = sock
        self.reader.reset()
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Driver:
    """The selector loop shared by both ways of driving a server."""

    def __init__(
        self, address: tuple[str, int], requests: Sequence[bytes], watch: set[int]
    ) -> None:
        self.address = address
        self.requests = requests
        self.watch = watch
        self.selector = selectors.DefaultSelector()
        self.idle: list[_Connection] = []
        self.busy = 0
        self.result = LoadResult(duration=0.0)

    def add_connection(self) -> _Connection:
        connection = _Connection(self.address)
        self.idle.append(connection)
        return connection

    def send(self, connection: _Connection, index: int, started: float) -> None:
        """Put request number index on the wire; latency counts from started."""
        if connection.sock is None:
            self.selector.register(connection.open(), selectors.EVENT_READ, connection)
        connection.index = index
        connection.started = started
        connection.sent = time.monotonic()
        connection.pending = self.requests[index % len(self.requests)]
        self.busy += 1
        self.result.sent += 1
        self._write(connection)

    def _write(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._fail(connection, "socket")
            return
        connection.pending = connection.pending[sent:]
        events = selectors.EVENT_READ
        if connection.pending:
            events |= selectors.EVENT_WRITE
        self.selector.modify(connection.sock, events, connection)

    def _fail(self, connection: _Connection, kind: str) -> None:
        self.result.errors += 1
        self.result.error_kinds[kind] += 1
        self._drop(connection)
        connection.index = -1
        self.busy -= 1
        self.idle.append(connection)

    def _drop(self, connection: _Connection) -> None:
        if connection.sock is not None:
            self.selector.unregister(connection.sock)
            connection.close()

    def poll(self, timeout: float, on_done: Callable[[_Connection], None]) -> None:
        """Wait up to timeout for socket events and handle them."""
        for key, mask in self.selector.select(timeout):
            connection: _Connection = key.data
            if mask & selectors.EVENT_WRITE and connection.pending:
                self._write(connection)
                continue
            try:
                data = connection.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                self._fail(connection, "socket")
                continue
            if not data:
                # the server closed: a request in flight is lost; an idle
                # connection just reconnects on its next request
                if connection.index >= 0:
                    self._fail(connection, "closed")
                else:
                    self._drop(connection)
                continue
            if connection.reader.feed(data):
                self._complete(connection, on_done)

    def _complete(
        self, connection: _Connection, on_done: Callable[[_Connection], None]
    ) -> None:
        now = time.monotonic()
        self.result.latencies.append(now - connection.started)
        self.result.statuses[connection.reader.status] += 1
        if connection.index in self.watch:
            self.result.completed_at[connection.index] = now
        if connection.reader.close_after:
            self._drop(connection)
        else:
            connection.reader.reset()
        connection.index = -1
        self.busy -= 1
        self.idle.append(connection)
        on_done(connection)

    def expire(self, now: float) -> None:
        """Count requests with no answer after RESPONSE_TIMEOUT as errors."""
        for key in list(self.selector.get_map().values()):
            connection: _Connection = key.data
            if connection.index >= 0 and now - connection.sent > RESPONSE_TIMEOUT:
                self._fail(connection, "timeout")

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            key.data.close()
        self.selector.close()


def saturate(
    address: tuple[str, int],
    requests: Sequence[bytes],
    duration: float,
    connections: int = 8,
) -> LoadResult:
    """Keep every connection busy for duration seconds; measure throughput."""
    driver = _Driver(address, requests, set())
    counter = iter(range(1 << 62))
    start = time.monotonic()
    deadline = start + duration

    def next_request(connection: _Connection) -> None:
        if time.monotonic() < deadline:
            driver.idle.remove(connection)
            driver.send(connection, next(counter), time.monotonic())

    try:
        for _ in range(connections):
            next_request(driver.add_connection())
        while time.monotonic() < deadline:
            driver.poll(0.05, next_request)
            # a connection that failed is idle: put it back to work
            for connection in list(driver.idle):
                next_request(connection)
            driver.expire(time.monotonic())
        driver.result.duration = time.monotonic() - start
    finally:
        driver.close()
    return driver.result


def fixed_rate(
    address: tuple[str, int],
    requests: Sequence[bytes],
    rate: float,
    duration: float,
    max_connections: int = 64,
    watch: Sequence[int] = (),
) -> LoadResult:
    """Send rate requests per second for duration seconds, open loop.

    Latency counts from the moment each request was due. Requests whose
    index is in watch get their completion time in ``completed_at``.
    """
    driver = _Driver(address, requests, set(watch))
    total = int(rate * duration)
    interval = 1.0 / rate
    start = time.monotonic() + 0.05
    due = 0
    opened = 0

    def nothing(connection: _Connection) -> None:
        return None

    try:
        while due < total or driver.busy:
            now = time.monotonic()
            # send everything that is due, opening connections while needed
            while due < total and start + due * interval <= now:
                if not driver.idle and opened < max_connections:
                    driver.add_connection()
                    opened += 1
                if not driver.idle:
                    break
                driver.send(driver.idle.pop(), due, start + due * interval)
                due += 1
            if due < total:
                wait = max(0.0, start + due * interval - time.monotonic())
            else:
                wait = 0.05
                if now > start + duration + RESPONSE_TIMEOUT:
                    break
            driver.poll(min(wait, 0.05), nothing)
            driver.expire(time.monotonic())
        driver.result.duration = duration
    finally:
        driver.close()
    return driver.result
