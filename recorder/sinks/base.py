"""The sink interface and a base with a bounded queue and a sender thread."""

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from recorder.stats import COUNTERS

logger = logging.getLogger(__name__)

# seconds between two warnings about a full queue
DROP_LOG_INTERVAL = 10.0
# how many items the sender thread takes from the queue at once
BATCH_SIZE = 500
# seconds the sender thread sleeps while the queue is empty: short while
# traffic flows, doubling up to the longest while it is idle
POLL_SHORTEST = 0.002
POLL_LONGEST = 0.1


class Sink:
    """Receives exchanges; `send` never blocks and never raises."""

    def send(self, item: Any) -> None:
        """Accept one exchange for delivery (or drop and count it)."""
        raise NotImplementedError

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is still held, waiting at most `timeout` seconds."""

    def pending(self) -> int:
        """How many exchanges wait for delivery or confirmation."""
        return 0

    def shedding(self) -> str | None:
        """Why an exchange would be dropped now, asked before it is captured
        (None: it would be taken). Asked on every request, so it is cheap."""
        return None

    def refuse(self, reason: str) -> None:
        """Count an exchange that was shed as recorded and dropped at once."""
        COUNTERS.add("recorded")
        COUNTERS.add("dropped")


class QueueSink(Sink):
    """A bounded queue drained by one sender thread per process.

    The queue is a deque the sender thread polls: appending costs a request
    thread almost nothing and never wakes the sender, which takes exchanges
    in batches every few milliseconds instead of one thread switch each.

    The queue and thread are created on the first `send` in each process
    (checked by PID), so a server that forks workers after loading the app
    gets a working sender in every worker. Subclasses implement `deliver`.
    """

    name = "sink"
    # seconds the sender thread sleeps between batches while traffic flows
    poll_shortest = POLL_SHORTEST

    def __init__(
        self,
        encode: Callable[[Any], bytes],
        queue_size: int = 10_000,
        flush_timeout: float = 5.0,
        queue_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.encode = encode
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        # bytes the queued items hold (by their size()), for the bytes bound
        self._queued_bytes = 0
        self._bytes_lock = threading.Lock()
        self.flush_timeout = flush_timeout
        self._pid: int | None = None
        self._start_lock = threading.Lock()
        # (item, its size) pairs: the size is taken once, on the way in
        self._queue: deque[tuple[Any, int]] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._last_drop_log = 0.0

    def send(self, item: Any) -> None:
        """Queue an exchange for the sender thread; drop and count if full."""
        if self._pid != os.getpid():
            self._start()
        # the count bound may be passed by a few items when threads race: harmless
        if self._stopping.is_set() or len(self._queue) >= self.queue_size:
            self.refuse("queue full" if self.pending() else "sink closed")
            return
        size = _size(item)
        with self._bytes_lock:
            fits = self._queued_bytes + size <= self.queue_bytes
            if fits:
                self._queued_bytes += size
        if not fits:
            self.refuse("queue bytes full")
            return
        self._queue.append((item, size))
        # counted once queued, so whoever sees it counted finds it queued
        COUNTERS.add("recorded")

    def pending(self) -> int:
        """Exchanges still in the queue."""
        return len(self._queue)

    def shedding(self) -> str | None:
        """Say "queue full" while the queue holds queue_size exchanges."""
        # a forked process still sees its parent's queue until its first send
        if len(self._queue) >= self.queue_size and self._pid == os.getpid():
            return "queue full"
        return None

    def _start(self) -> None:
        with self._start_lock:
            pid = os.getpid()
            if self._pid == pid:
                return
            if self._pid is not None:
                # forked: the parent's thread does not exist here, start afresh
                self._queue = deque()
                self._queued_bytes = 0
                self._bytes_lock = threading.Lock()
                self._stopping = threading.Event()
                self._stopped = threading.Event()
                self.after_fork()
            self._thread = threading.Thread(
                target=self._run, name=f"recorder-{self.name}", daemon=True
            )
            self._thread.start()
            self._pid = pid

    def after_fork(self) -> None:
        """Forget state inherited from the parent process (subclasses extend)."""

    def _run(self) -> None:
        try:
            self.open()
        except Exception:
            logger.exception("recorder: the %s sink could not start", self.name)
        delay = self.poll_shortest
        while not self._stopping.is_set():
            batch = self._take_batch()
            if batch:
                delay = self.poll_shortest
                self.deliver_batch(batch)
            else:
                self._stopping.wait(delay)
                delay = min(delay * 2, POLL_LONGEST)
            COUNTERS.maybe_log(self.pending())
        self._stopped.set()

    def _take_batch(self) -> list[Any]:
        batch: list[Any] = []
        taken = 0
        queue = self._queue
        try:
            while len(batch) < BATCH_SIZE:
                item, size = queue.popleft()
                batch.append(item)
                taken += size
        except IndexError:
            pass
        if taken:
            with self._bytes_lock:
                self._queued_bytes -= taken
        return batch

    def deliver_batch(self, batch: list[Any]) -> None:
        """Deliver a batch from the calling thread, counting what escapes as failed."""
        try:
            self.deliver(batch)
        except Exception:
            # deliver counts what it handled; an escape here loses the batch
            COUNTERS.add("failed", len(batch))
            logger.exception("recorder: the %s sink failed on a batch", self.name)

    def open(self) -> None:
        """Prepare delivery, in the sender thread (subclasses override)."""

    def deliver(self, batch: list[Any]) -> None:
        """Deliver a batch, counting each exchange as delivered, dropped or failed."""
        raise NotImplementedError

    def finish(self, deadline: float) -> None:
        """Wait for outstanding deliveries until the monotonic `deadline`."""

    def close(self, timeout: float | None = None) -> None:
        """Stop the sender thread after it delivered what is queued."""
        timeout = self.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if self._pid != os.getpid() or self._thread is None:
            return
        # close() runs twice at a server's exit (its hook, then atexit): the
        # second finds nothing to do and logs nothing
        first = not self._stopping.is_set()
        if first:
            self._stopping.set()
            self._stopped.wait(max(0.0, deadline - time.monotonic()))
            # the sender thread has stopped taking: deliver the rest from here
            while self._queue and time.monotonic() < deadline:
                self.deliver_batch(self._take_batch())
            self.finish(deadline)
        left = len(self._queue)
        self._queue.clear()
        with self._bytes_lock:
            self._queued_bytes = 0
        if left:
            COUNTERS.add("dropped", left)
            logger.warning("recorder: %d exchanges dropped at shutdown", left)
        if first or left:
            COUNTERS.maybe_log(force=True)

    def refuse(self, reason: str) -> None:
        """Count an exchange recorded and dropped at once, and say why."""
        super().refuse(reason)
        self._warn_drop(reason)

    def _warn_drop(self, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            logger.warning(
                "recorder: dropping exchanges (%s); counts: %s",
                reason,
                COUNTERS.snapshot(),
            )


def _size(item: Any) -> int:
    """The bytes an item holds, for the queue's bytes bound (0 if unknown)."""
    size = getattr(item, "size", None)
    return size() if size is not None else 0
