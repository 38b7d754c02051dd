"""A sink that keeps exchanges in a list, for tests and experiments."""

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from recorder.sinks.base import QueueSink
from recorder.stats import COUNTERS


class MemorySink(QueueSink):
    """Keeps every delivered exchange (decoded from its JSON) in `.exchanges`."""

    name = "memory"

    def __init__(
        self,
        encode: Callable[[Any], bytes],
        queue_size: int = 10_000,
        queue_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        super().__init__(encode, queue_size, queue_bytes=queue_bytes)
        self.exchanges: list[dict[str, Any]] = []
        self._arrived = threading.Condition()

    def deliver(self, batch: list[Any]) -> None:
        """Encode each exchange and keep the result."""
        for item in batch:
            try:
                exchange = orjson.loads(self.encode(item))
            except Exception:
                COUNTERS.add("failed")
                continue
            with self._arrived:
                self.exchanges.append(exchange)
                self._arrived.notify_all()
            COUNTERS.add("delivered")

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` exchanges arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.exchanges) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return list(self.exchanges)
