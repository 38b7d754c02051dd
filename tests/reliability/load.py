"""A bounded load generator: a few client threads, a capped request rate."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

# one request to send: (method, path, keyword arguments for requests)
Call = tuple[str, str, dict]
# given a running number, the request to send
CallFactory = Callable[[int], Call]


@dataclass
class LoadResult:
    """What the clients saw: statuses, transport errors, ids sent."""

    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """Requests that got an answer or an error."""
        return sum(self.statuses.values()) + len(self.errors)

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def failed(self) -> int:
        """Requests a client saw fail: no answer at all, or a 5xx."""
        return len(self.errors) + self.server_errors


class Load:
    """Clients that send requests until a count is reached or stop() is called.

    >>> load = Load(base_url, demo_calls, clients=4, rate=100)
    >>> load.start(); ...; result = load.stop()
    """

    def __init__(
        self,
        base_url: str,
        calls: CallFactory,
        *,
        clients: int = 4,
        total: int | None = None,
        rate: float | None = 100.0,
    ) -> None:
        self.base_url = base_url
        self.calls = calls
        self.clients = clients
        self.total = total
        # a shared pace keeps the load bounded on a small, shared machine
        self.interval = 0.0 if not rate else 1.0 / rate
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._next = 0
        self._next_time = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Load:
        """Start the client threads."""
        for number in range(self.clients):
            thread = threading.Thread(
                target=self._client, name=f"load-client-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def wait(self, timeout: float = 300.0) -> LoadResult:
        """Wait until the total is sent (or the timeout) and return the result."""
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        return self.stop()

    def stop(self) -> LoadResult:
        """Stop the clients after their current request; return the result."""
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.result

    def sent_so_far(self) -> int:
        """Requests answered (or failed) until now."""
        with self._lock:
            return self.result.sent

    def _take(self) -> tuple[int, float] | None:
        """Reserve the next request number and the time it may be sent."""
        with self._lock:
            if self.total is not None and self._next >= self.total:
                return None
            number = self._next
            self._next += 1
            self._next_time = max(self._next_time + self.interval, time.monotonic())
            return number, self._next_time

    def _client(self) -> None:
        session = requests.Session()
        try:
            while not self._stop.is_set():
                taken = self._take()
                if taken is None:
                    return
                number, when = taken
                delay = when - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._send(session, number)
        finally:
            session.close()

    def _send(self, session: requests.Session, number: int) -> None:
        method, path, kwargs = self.calls(number)
        request_id = uuid.uuid4().hex
        headers = {**kwargs.pop("headers", {}), "X-Request-ID": request_id}
        try:
            response = session.request(
                method, self.base_url + path, headers=headers, timeout=30, **kwargs
            )
        except requests.RequestException as error:
            with self._lock:
                self.result.errors.append(f"{method} {path}: {error!r}")
                self.result.request_ids.append(request_id)
            return
        with self._lock:
            self.result.statuses[response.status_code] += 1
            self.result.request_ids.append(request_id)


MISSING_USER = "/users/00000000-0000-4000-8000-000000000000"


def demo_calls(number: int) -> Call:
    """A mix of the demo API's operations: create, list, read a missing user."""
    kind = number % 4
    if kind == 0:
        body = {"name": f"user {number}", "email": f"user{number}@example.org"}
        return "POST", "/users", {"json": body}
    if kind == 1:
        return "GET", f"/users?limit={1 + number % 50}&offset=0", {}
    if kind == 2:
        return "GET", MISSING_USER, {}
    return "GET", "/users?name=user", {}
