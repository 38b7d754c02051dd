"""The file sink: one JSON object per line appended to a file (JSON Lines)."""

import logging
import os
from collections.abc import Callable
from typing import Any

from recorder.sinks.base import QueueSink
from recorder.stats import COUNTERS

logger = logging.getLogger(__name__)


class FileSink(QueueSink):
    """Appends exchanges to a JSON Lines file from its own thread.

    Each batch is one `write` on a file opened with O_APPEND, so several
    processes (gunicorn workers) can share the file without mixing lines.
    A file moved or removed (log rotation) is noticed before the next batch,
    which goes to a new file at the path.

    Limitation: a write cut short (a full disk) leaves a partial last line;
    this process ends it before its next batch, but a batch another process
    appends first is glued to it, and one of its lines is lost too.
    """

    name = "file"

    def __init__(
        self,
        path: str,
        encode: Callable[[Any], bytes],
        queue_size: int = 10_000,
        queue_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        super().__init__(encode, queue_size, queue_bytes=queue_bytes)
        self.path = path
        self._fd: int | None = None
        self._open_error: str | None = None
        # a write cut short left a partial line at the end of the file
        self._cut = False

    def after_fork(self) -> None:
        """Open the file again in this process."""
        self._fd = None
        self._cut = False

    def open(self) -> None:
        """Open (or create) the file for appending; warn once if it cannot be."""
        directory = os.path.dirname(self.path)
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as error:
            # one line per distinct cause, not a traceback per batch; the
            # counters' log line keeps reporting the failed exchanges
            if str(error) != self._open_error:
                self._open_error = str(error)
                logger.warning(
                    "recorder: cannot write exchanges to %s, they are counted "
                    "as failed until it can be opened: %s",
                    self.path,
                    error,
                )
            return
        self._open_error = None
        logger.info("recorder: appending exchanges to %s", self.path)

    def deliver(self, batch: list[Any]) -> None:
        """Encode a batch and append it in one write."""
        if self._fd is not None and self._moved():
            os.close(self._fd)
            self._fd, self._cut = None, False
            logger.info("recorder: %s was moved or removed: starting anew", self.path)
        if self._fd is None:
            self.open()
            if self._fd is None:
                COUNTERS.add("failed", len(batch))
                return
        lines = []
        for item in batch:
            try:
                lines.append(self.encode(item) + b"\n")
            except Exception:
                COUNTERS.add("failed")
                logger.exception("recorder: could not encode an exchange")
        if not lines:
            return
        # a newline first ends the line an earlier write cut short
        start = 1 if self._cut else 0
        data = b"\n" * start + b"".join(lines)
        written = 0
        failure: OSError | None = None
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as error:
            failure = error
        if written > start:
            self._cut = data[written - 1 : written] != b"\n"
        # what counts is the whole lines that reached the file
        whole = data.count(b"\n", start, written)
        COUNTERS.add("delivered", whole)
        if failure is not None:
            COUNTERS.add("failed", len(lines) - whole)
            logger.warning("recorder: could not write to %s: %s", self.path, failure)

    def _moved(self) -> bool:
        """True when the path no longer names the open file (rotated away)."""
        assert self._fd is not None
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        mine = os.fstat(self._fd)
        return (on_disk.st_ino, on_disk.st_dev) != (mine.st_ino, mine.st_dev)
