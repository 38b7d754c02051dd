"""Per-process counters of what happened to recorded exchanges, logged as they change.

Once the queues are drained, recorded = delivered + dropped + failed:
recorded  exchanges handed to a sink
delivered written to the file or confirmed by the broker
dropped   not sent because a queue or the in-flight cap was full, or at exit
failed    sends that raised, were refused or never confirmed by the broker
skipped   requests not recorded by the skip rules or sampling (not in the sum)
"""

import logging
import os
import threading
import time

logger = logging.getLogger(__name__)

NAMES = ("recorded", "delivered", "dropped", "failed", "skipped")
LOG_INTERVAL = 5.0


class Counters:
    """Thread-safe counters with a rate-limited log line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(NAMES, 0)
        self._logged = dict(self._values)
        self._last_log = time.monotonic()
        # a forked child starts from zero, with a lock no parent thread holds
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(NAMES, 0)
        self._logged = dict(self._values)

    def add(self, name: str, count: int = 1) -> None:
        """Add to one counter."""
        with self._lock:
            self._values[name] += count

    def snapshot(self) -> dict[str, int]:
        """Return the current values as a new dict."""
        with self._lock:
            return dict(self._values)

    def reset(self) -> None:
        """Set every counter to zero (a forked process starts from zero)."""
        with self._lock:
            self._values = dict.fromkeys(NAMES, 0)
            self._logged = dict(self._values)

    def maybe_log(self, pending: int = 0, force: bool = False) -> None:
        """Log the counters every LOG_INTERVAL seconds while they change, or
        now when forced (the last line at shutdown)."""
        now = time.monotonic()
        if not force and now - self._last_log < LOG_INTERVAL:
            return
        with self._lock:
            if not force and (
                now - self._last_log < LOG_INTERVAL or self._values == self._logged
            ):
                return
            values, before = dict(self._values), self._logged
            self._logged, self._last_log = values, now
        losing = (
            values["dropped"] > before["dropped"] or values["failed"] > before["failed"]
        )
        logger.log(
            logging.WARNING if losing else logging.INFO,
            "recorder: recorded=%d delivered=%d dropped=%d failed=%d skipped=%d "
            "pending=%d",
            values["recorded"],
            values["delivered"],
            values["dropped"],
            values["failed"],
            values["skipped"],
            pending,
        )


COUNTERS = Counters()
