"""Fetching from Kafka in a child process, so fetching and building use two cores.

kafka-python parses record batches in pure Python, and the builder is pure
Python too: in one process they share one core. Here a child process runs the
consumer (`KafkaSource`) and sends raw message values through a pipe; the
parent decodes and builds. The pipe's buffer bounds what is in flight: when
the parent is busy, the child waits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from spec_from_stream.sources import (
    Batch,
    KafkaSettings,
    KafkaSource,
    RetryWarnings,
    SourceError,
    quiet_kafka_logging,
)

logger = logging.getLogger(__name__)

# the child's own start-up (imports, connecting) is bounded by this much more
# than the connect timeout
START_MARGIN = 30.0


class FetcherProcess:
    """A KafkaSource in a child process; same start/poll/close as KafkaSource.

    The child tracks the next offset of each partition it has handed over, and
    seeks there when the group assigns it a partition again: the parent reads
    every batch in order, so nothing is skipped or handed over twice.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        offsets: dict[int, int],
        lock: threading.Lock,
        on_revoke: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.topic = settings.topic
        # the reader's offsets: where a restarted child has to begin
        self.offsets = offsets
        self.lock = lock
        self.on_revoke = on_revoke
        # the topic's id as the child last reported it
        self.topic_id = settings.topic_id
        # records past the last batch in its partitions, as the child saw them
        self.waiting = 0
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        # set by abandon(): no child is started past it; the lock orders the
        # two, so a child being started when abandon() comes is ended by it
        self._abandoned = False
        self._spawning = threading.Lock()

    def start(self) -> None:
        """Start the child and wait until it has connected.

        :raise SourceError: the broker could not be reached in time.
        """
        # spawn, not fork: the parent may already run threads (the viewer)
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        with self.lock:
            offsets = dict(self.offsets)
        settings = dataclasses.replace(self.settings, topic_id=self.topic_id)
        with self._spawning:
            if self._abandoned:
                raise SourceError("stopped before the fetch process started")
            self._process = context.Process(
                target=run_child,
                args=(child_end, settings, _log_level(), offsets),
                name="spec_from_stream-fetcher",
                daemon=True,
            )
            self._process.start()
        child_end.close()
        self._connection = parent_end

        if not parent_end.poll(self.settings.connect_timeout + START_MARGIN):
            self.close()
            raise SourceError("the Kafka fetch process did not start in time")
        try:
            kind, *detail = parent_end.recv()
        except EOFError:
            self.close()
            raise SourceError("the Kafka fetch process ended at start") from None
        if kind == "error":
            self.close()
            raise SourceError(detail[0])

    def poll(self, timeout_ms: int) -> Batch:
        """Return {partition: (offsets, values)} handed over since the last call."""
        connection = self._connection
        assert connection is not None, "start() first"
        self.waiting = 0
        try:
            if not connection.poll(timeout_ms / 1000):
                return {}
            kind, payload = connection.recv()
        except (EOFError, OSError):
            self._restart()
            return {}
        if kind == "records":
            batch, self.waiting = payload
            return batch
        if kind == "error":
            raise SourceError(payload)
        if kind == "revoked":
            # every batch sent before this one has been read: the state is exact
            self.on_revoke()
        elif kind == "rewind":
            # saved offsets past a partition's end, moved back by the child
            with self.lock:
                self.offsets.update(payload)
        elif kind == "topic":
            topic_id, recreated = payload
            with self.lock:
                if recreated:
                    # as the child did: the deleted topic's offsets are void
                    self.offsets.clear()
                self.topic_id = topic_id
        return {}

    def abandon(self) -> None:
        """Give up on a start() still waiting: end the child, which holds nothing."""
        with self._spawning:
            self._abandoned = True
            process = self._process
        if process is not None and process.is_alive():
            # it ignores SIGTERM (see run_child) and would wait out its timeout
            process.kill()
            process.join(timeout=5)

    def close(self) -> None:
        """Ask the child to leave the group and stop; make sure it is gone."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.send(("stop", None))
            _drain(connection, process)
            connection.close()
        if process is not None:
            process.join(timeout=10)
            if process.is_alive():
                # it ignores SIGTERM (see run_child), so the last resort is this
                process.kill()
                process.join(timeout=5)

    def _restart(self) -> None:
        """Start a new child after the old one died, from the reader's offsets."""
        exit_code = self._process.exitcode if self._process else None
        logger.warning(
            "the Kafka fetch process ended (exit code %s); starting a new one",
            exit_code,
        )
        self.close()
        # a child dying at once again must not become a busy loop
        time.sleep(1)
        try:
            self.start()
        except SourceError as error:
            logger.warning("restarting the fetch process failed: %s", error)


def _drain(connection: Connection, process) -> None:
    """Discard what the child still sends, so a child blocked on a full pipe
    can read the stop request; return when it closed its end (or after 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if connection.poll(0.1):
                connection.recv()
            elif process is None or not process.is_alive():
                return
        except (EOFError, OSError):
            return


def _log_level() -> int:
    """The reader's logging threshold, for the child to log alike."""
    return logging.getLogger("spec_from_stream").getEffectiveLevel()


def run_child(
    connection: Connection,
    settings: KafkaSettings,
    log_level: int,
    offsets: dict[int, int],
) -> None:
    """The child: consume the topic and send each poll's values to the parent."""
    # Ctrl-C, `timeout` and systemd signal the whole process group; the parent
    # saves its state first and then tells this process to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_kafka_logging()
    parent = os.getppid()
    lock = threading.Lock()

    def send_revoked() -> None:
        with lock, contextlib.suppress(OSError):
            # a parent that is gone has nothing left to save
            connection.send(("revoked", None))

    def send_topic(topic_id: str, recreated: bool) -> None:
        with lock, contextlib.suppress(OSError):
            connection.send(("topic", (topic_id, recreated)))

    def send_rewind(rewound: dict[int, int]) -> None:
        with lock, contextlib.suppress(OSError):
            connection.send(("rewind", rewound))

    source = KafkaSource(settings, offsets, lock, send_revoked, send_topic, send_rewind)
    try:
        source.start()
    except SourceError as error:
        connection.send(("error", str(error)))
        return
    asked_to_stop = False
    try:
        connection.send(("started", None))
        asked_to_stop = _forward(source, connection, lock, offsets, parent)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        # the parent is gone: nothing left to hand over
        pass
    finally:
        # after a crash of the parent, the static membership is kept for the
        # restarted reader, which takes the partitions over at once
        source.close(leave=asked_to_stop)


def _forward(
    source: KafkaSource,
    connection: Connection,
    lock: threading.Lock,
    offsets: dict[int, int],
    parent: int,
) -> bool:
    """Poll and send until the parent says stop (True), or it disappears or
    polling cannot go on (False)."""
    warnings = RetryWarnings()
    while True:
        if connection.poll() and connection.recv()[0] == "stop":
            return True
        if os.getppid() != parent:
            return False
        try:
            batch = source.poll(200)
        except SourceError as error:
            # retrying cannot help: the parent saves, writes and stops
            connection.send(("error", str(error)))
            return False
        except Exception as error:
            warnings.failed(error)
            time.sleep(1)
            continue
        if not batch:
            continue
        with lock:
            # advanced first: a rebalance seeks to what was handed over
            for partition, (record_offsets, _) in batch.items():
                offsets[partition] = record_offsets[-1] + 1
            connection.send(("records", (batch, source.waiting)))
