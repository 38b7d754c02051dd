"""The Kafka sink: exchanges as JSON messages on a topic, sent by kafka-python."""

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from recorder.sinks.base import QueueSink
from recorder.stats import COUNTERS

logger = logging.getLogger(__name__)

# chosen so that no call ever waits long and a broker outage costs only memory
PRODUCER_DEFAULTS: dict[str, Any] = {
    # a fixed protocol version: the constructor never waits to ask the broker
    "api_version": (2, 8),
    # sending waits at most this long for metadata, and only in the sender thread
    "max_block_ms": 500,
    # Limitation: at most once, but counted: a failed send is not retried (a retry
    # after a lost acknowledgement would duplicate the message) but counted
    # as failed. Idempotence would make retries safe, but kafka-python 3.0's
    # idempotent producer stops delivering for good once batches expired
    # during a broker outage (seen with 3.0.12), so it is off.
    "enable_idempotence": False,
    "retries": 0,
    "acks": "all",
    # every produce request costs kafka-python and the broker about as much
    # as dozens of messages, so fewer, fuller batches cost the server's
    # machine less (measured per exchange, this sink plus the broker: 46 µs
    # at 20 ms, 34 at 50, 27 at 100 and 200, 25 at 500; bench/README.md),
    # and messages still reach the topic within a quarter of a second
    "linger_ms": 200,
    "batch_size": 256 * 1024,
    # measured here: gzip (kafka-python compresses at level 9) costs about a
    # third more CPU per message, taken from the server's process; set
    # producer_config={"compression_type": "gzip"} when bandwidth is scarcer
    "compression_type": None,
    "request_timeout_ms": 10_000,
    # a message the broker has not confirmed by then counts as failed
    "delivery_timeout_ms": 30_000,
    "reconnect_backoff_max_ms": 2_000,
    "max_request_size": 1024 * 1024,
}
# seconds the sink waits at start for the topic's metadata: the first
# exchanges wait in the queue meanwhile, instead of failing after max_block_ms
OPEN_WAIT = 10.0
# messages sent between two voluntary hand-overs of the interpreter lock
YIELD_EVERY = 8
# seconds without any confirmation while sends wait: the broker counts as
# unreachable and new exchanges are dropped before they cost any encoding;
# far above a healthy broker's answer (linger plus a round trip, well under a
# second even on a busy machine), far below the 30 s kafka-python waits
STALL_SECONDS = 5.0
# the reasons given for what is dropped: the broker is away, or the
# in-flight cap is reached
STALLED = "Kafka confirms nothing"
FULL = "too many unconfirmed sends"
# seconds between two warnings about failed sends
FAIL_LOG_INTERVAL = 10.0


class KafkaSink(QueueSink):
    """Sends each exchange as one JSON message, never blocking a request.

    The in-flight caps count the messages and bytes sent but not yet
    confirmed by the broker: kafka-python buffers without a bound, so past a
    cap exchanges are dropped (and counted) instead of piling up during an
    outage. While sends wait and nothing was confirmed for STALL_SECONDS, the
    broker counts as unreachable and exchanges are dropped before encoding,
    and `shedding()` tells the middleware to skip even the capture, so an
    outage costs the process almost nothing; the first confirmation, or the
    last waiting send expiring, lets exchanges through again.
    """

    name = "kafka"

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        encode: Callable[[Any], bytes],
        queue_size: int = 10_000,
        max_in_flight_bytes: int = 8 * 1024 * 1024,
        flush_timeout: float = 5.0,
        producer_config: Mapping[str, Any] | None = None,
        max_in_flight: int = 5000,
        queue_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        super().__init__(encode, queue_size, flush_timeout, queue_bytes)
        # imported here, in the thread building the app, never in the sender
        # thread: a server forking while that thread imports would leave the
        # module's import lock held for good in the new process
        from kafka import KafkaProducer
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        self._producer_class = KafkaProducer
        # what kafka-python raises when no broker answered in time
        self._unanswered = (KafkaTimeoutError, KafkaConnectionError)
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.max_in_flight_bytes = max_in_flight_bytes
        self.max_in_flight = max_in_flight
        self.producer_config = {**PRODUCER_DEFAULTS, **(producer_config or {})}
        self._producer: Any = None
        self._inflight_lock = threading.Lock()
        self._in_flight = 0
        self._in_flight_bytes = 0
        # when the last confirmation came, or the first of the waiting sends left
        self._progress_at = 0.0
        self._abandoned = False
        # the last attempt to reach the broker got no answer (metadata at
        # start, a send, an expired batch), and none came since
        self._silent = False
        self._next_attempt = 0.0
        self._last_fail_log = 0.0
        # producers of parent processes, kept so their finalisers never run here
        self._inherited: list[Any] = []

    def after_fork(self) -> None:
        """Leave the parent's producer alone; this process makes its own."""
        if self._producer is not None:
            self._inherited.append(self._producer)
            # its exit hook would wait here for a sender thread left behind
            # in the parent
            cleanup = getattr(self._producer, "_cleanup", None)
            if cleanup is not None:
                atexit.unregister(cleanup)
        self._producer = None
        self._inflight_lock = threading.Lock()
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._abandoned = False
        self._silent = False
        self._next_attempt = 0.0

    def pending(self) -> int:
        """Exchanges queued plus those sent but not yet confirmed."""
        return super().pending() + self._in_flight

    def open(self) -> None:
        """Create the producer and wait (at most OPEN_WAIT) for the topic's
        partitions, so the first sends need not wait for metadata."""
        if not self._ensure_producer():
            return
        deadline = time.monotonic() + OPEN_WAIT
        last_error: Exception | None = None
        # a sink closing meanwhile stops waiting
        while time.monotonic() < deadline and not self._stopping.is_set():
            try:
                # waits max_block_ms at most per call
                if self._producer.partitions_for(self.topic):
                    self._silent = False
                    return
            except Exception as error:
                last_error = error
                self._silent = isinstance(error, self._unanswered)
            self._stopping.wait(0.1)
        if self._stopping.is_set():
            return
        logger.warning(
            "recorder: no metadata for topic %s at %s after %.0f s (%s); "
            "sending anyway",
            self.topic,
            self.bootstrap_servers,
            OPEN_WAIT,
            last_error,
        )

    def _ensure_producer(self) -> bool:
        if self._producer is not None:
            return True
        if time.monotonic() < self._next_attempt:
            return False
        try:
            self._producer = self._producer_class(
                bootstrap_servers=self.bootstrap_servers.split(","),
                **self.producer_config,
            )
        except Exception as error:
            self._next_attempt = time.monotonic() + 5.0
            logger.warning(
                "recorder: cannot create the Kafka producer for %s: %s",
                self.bootstrap_servers,
                error,
            )
            return False
        # kafka-python closes its producer at exit; registered after it, this
        # runs first (exit handlers run last-in first-out) and still delivers
        # what the queue holds
        atexit.register(self.close)
        logger.info(
            "recorder: sending exchanges to topic %s at %s",
            self.topic,
            self.bootstrap_servers,
        )
        return True

    def deliver(self, batch: list[Any]) -> None:
        """Hand each exchange to the producer, within the in-flight cap."""
        if not self._ensure_producer():
            COUNTERS.add("failed", len(batch))
            self._warn_failure("no Kafka producer")
            return
        if self.stalled():
            # checked before encoding, so an outage costs no serialising
            COUNTERS.add("dropped", len(batch))
            self._warn_drop(STALLED)
            return
        sent = 0
        for position, item in enumerate(batch):
            if self._stopping.is_set() and not self.answering():
                # shutting down with no broker to send to: waiting for it
                # (half a second a send) would only hold up the exit
                COUNTERS.add("dropped", len(batch) - position)
                self._warn_drop("Kafka is not answering at shutdown")
                return
            estimate = item.size() if hasattr(item, "size") else 0
            if (
                self._in_flight >= self.max_in_flight
                or self._in_flight_bytes + estimate > self.max_in_flight_bytes
            ):
                COUNTERS.add("dropped")
                self._warn_drop(FULL)
                continue
            try:
                value = self.encode(item)
            except Exception:
                COUNTERS.add("failed")
                logger.exception("recorder: could not encode an exchange")
                continue
            self._send(value)
            sent += 1
            if sent % YIELD_EVERY == 0:
                # hand the interpreter lock to request threads now and then, so
                # a long batch never makes a request wait a whole switch interval
                time.sleep(0)

    def shedding(self) -> str | None:
        """Why exchanges are dropped now: the queue is full, the broker
        confirms nothing, or the in-flight cap is reached (then the request
        threads skip even the capture)."""
        if self._pid == os.getpid():
            reason = self.overloaded()
            if reason is not None:
                return reason
        return super().shedding()

    def overloaded(self) -> str | None:
        """Why sends would be dropped now: STALLED, FULL, or None."""
        if self.stalled():
            return STALLED
        if self._in_flight >= self.max_in_flight:
            return FULL
        return None

    def answering(self) -> bool:
        """False while the broker confirms nothing, or its last attempt timed out."""
        return not self._silent and not self.stalled()

    def stalled(self) -> bool:
        """True while sends wait and the broker confirmed none for a while."""
        return (
            self._in_flight > 0 and time.monotonic() - self._progress_at > STALL_SECONDS
        )

    def _send(self, value: bytes) -> None:
        size = len(value)
        if self._in_flight_bytes + size > self.max_in_flight_bytes:
            COUNTERS.add("dropped")
            self._warn_drop(FULL)
            return
        with self._inflight_lock:
            if not self._in_flight:
                self._progress_at = time.monotonic()
            self._in_flight += 1
            self._in_flight_bytes += size
        try:
            # no key: exchanges spread evenly over the partitions (sticky
            # batches), which is what lets the spec reader scale out, one
            # consumer per partition; its per-endpoint statistics are summed
            # across partitions, so no ordering or locality is needed
            future = self._producer.send(self.topic, value=value)
        except Exception as error:
            self._silent = isinstance(error, self._unanswered)
            self._settle(size, "failed")
            self._warn_failure(str(error))
            return
        future.add_both(self._on_settled, size)

    def _on_settled(self, size: int, outcome: Any) -> None:
        # called once per message by kafka-python: metadata, or the exception
        if isinstance(outcome, BaseException):
            if isinstance(outcome, self._unanswered):
                self._silent = True
            self._settle(size, "failed")
            self._warn_failure(str(outcome))
        else:
            self._settle(size, "delivered")

    def _settle(self, size: int, outcome: str) -> None:
        with self._inflight_lock:
            if self._abandoned:
                # already counted as failed when the sink gave up at shutdown
                return
            self._in_flight -= 1
            self._in_flight_bytes -= size
            if outcome == "delivered":
                self._progress_at = time.monotonic()
                self._silent = False
        COUNTERS.add(outcome)

    def finish(self, deadline: float) -> None:
        """Flush the producer; sends still unconfirmed at the deadline fail.

        With no broker answering, nothing is waited for.
        """
        if not self.answering():
            deadline = time.monotonic()
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as error:
                logger.warning("recorder: Kafka flush incomplete: %s", error)
            try:
                producer.close(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as error:
                logger.warning("recorder: Kafka producer close failed: %s", error)
        with self._inflight_lock:
            unconfirmed = self._in_flight
            self._abandoned = True
            self._in_flight = 0
            self._in_flight_bytes = 0
        if unconfirmed:
            COUNTERS.add("failed", unconfirmed)
            logger.warning(
                "recorder: %d exchanges not confirmed by Kafka at shutdown", unconfirmed
            )

    def _warn_failure(self, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_fail_log >= FAIL_LOG_INTERVAL:
            self._last_fail_log = now
            logger.warning(
                "recorder: Kafka send to %s failed (%s); counts of this process: %s",
                self.bootstrap_servers,
                reason,
                COUNTERS.snapshot(),
            )
