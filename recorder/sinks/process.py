"""Kafka delivery from a child process: the app's process only pickles captures.

Building the http-types object, redaction, JSON encoding and kafka-python all
take the interpreter lock the app's request threads need. With
`delivery="process"` (`RECORDER_DELIVERY=process`) each server process starts
one child (`python -m recorder.sinks.process`) on its first exchange; its
sender thread writes batches of raw captures to the child's stdin, and the
child builds, redacts, encodes and sends them with the ordinary `KafkaSink`,
reporting its counters back on stdout so `recorder.stats()` stays exact.

Frames both ways are a 4-byte big-endian length and a pickle. The first
frame to the child holds the options; the rest are lists of capture tuples.
The child reports its (delivered, dropped, failed) totals, why it would
drop exchanges now (`KafkaSink.overloaded`: the broker confirms nothing, or
the in-flight cap is reached) and whether the broker answers at all
(`KafkaSink.answering`) whenever one of them changes, and once more after
its last flush; it exits when its stdin closes. While it would drop them,
the app's request threads skip the capture and count each exchange as
dropped, so an outage costs them almost nothing; while the broker does not
answer, shutdown waits for nothing.
"""

import contextlib
import logging
import operator
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

from recorder.config import RecorderOptions
from recorder.exchange import Capture
from recorder.sinks.base import QueueSink
from recorder.stats import COUNTERS

logger = logging.getLogger(__name__)

FRAME = struct.Struct(">I")
CAPTURE_FIELDS = tuple(item.name for item in fields(Capture))
# one C call turns a capture into a plain tuple, cheaper to pickle than the object
_as_tuple = operator.attrgetter(*CAPTURE_FIELDS)
# seconds between two counter reports of the child while they change
REPORT_INTERVAL = 0.1
# seconds before a child that died may be started again
RESTART_DELAY = 1.0
# how much lower the child's scheduling priority is than the server's: on
# busy cores the server's own threads go first, and recording falls behind
# (then drops, counted) rather than the API
CHILD_NICENESS = 10
# the folder holding the recorder package, so the child imports the same code
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
SETTLED = ("delivered", "dropped", "failed")
# seconds between two of kafka-python's log lines in the child: during an
# outage it logs several a second; the recorder's own warnings say what is lost
KAFKA_LOG_INTERVAL = 30.0


def write_frame(stream: IO[bytes], payload: Any) -> None:
    """Write one pickled, length-prefixed frame and flush it."""
    stream.write(frame_bytes(payload))
    stream.flush()


def frame_bytes(payload: Any) -> bytes:
    """One pickled, length-prefixed frame."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(data)) + data


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame; raise EOFError when the other side closed the pipe."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        raise EOFError
    (size,) = FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class ProcessKafkaSink(QueueSink):
    """Hands captures to a child process that sends them to Kafka.

    Counted here: `recorded` (as every sink), drops of the local queue, and
    as `failed` whatever a child that died had taken but not reported on.
    Counted by the child and added here as its reports come: delivered,
    dropped and failed of what it was given.
    """

    name = "kafka-child"
    # fewer, larger pickles: each wake-up of the sender thread takes the
    # interpreter lock from the request threads, and the child lingers
    # 200 ms before sending anyway
    poll_shortest = 0.01

    def __init__(self, options: RecorderOptions) -> None:
        super().__init__(
            lambda item: b"",
            options.queue_size,
            options.flush_timeout,
            options.queue_bytes,
        )
        self.options = options
        try:
            # the child's first frame, made once: settings it cannot receive
            # are an error now, at start, not a child failing every second
            self._options_frame = frame_bytes(options)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise ValueError(
                f"the recorder's settings cannot be sent to its delivery child "
                f"({error}); give producer_config plain values (file paths, "
                f"not objects such as an SSLContext) or use delivery='thread'"
            ) from None
        self._child: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        # captures written to the current child, and its last reported totals
        self._given = 0
        self._reported = (0, 0, 0)
        # the child's last word on the broker: why it would drop exchanges
        # now (they are shed here instead), and whether the broker answers
        # (if not, shutdown does not wait for it)
        self._child_shed: str | None = None
        self._child_silent = False
        self._not_before = 0.0
        # set by close(): past it, writes to the child stop and batches drop
        self._give_up_at: float | None = None
        # one writer at a time, so frames never interleave in the pipe
        self._write_lock = threading.Lock()

    def after_fork(self) -> None:
        """The parent's child belongs to the parent: start a new one here."""
        if self._child is not None and self._child.stdin is not None:
            # this copy of the pipe would keep the parent's child from seeing EOF
            self._child.stdin.close()
        self._child = None
        self._reader = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._give_up_at = None
        self._given = 0
        self._reported = (0, 0, 0)
        self._child_shed = None
        self._child_silent = False
        # the parent's restart delay is the parent's
        self._not_before = 0.0

    def pending(self) -> int:
        """Exchanges queued here plus those the child holds."""
        with self._lock:
            held = self._given - sum(self._reported)
        return super().pending() + held

    def shedding(self) -> str | None:
        """Why exchanges are dropped now: the queue is full, or the child
        says it would drop them (KafkaSink.overloaded)."""
        shed = self._child_shed
        if shed is not None and self._pid == os.getpid():
            return shed
        return super().shedding()

    def open(self) -> None:
        """Start the child."""
        self._ensure_child()

    def _ensure_child(self) -> bool:
        child = self._child
        if child is not None and child.poll() is None:
            return True
        if child is not None:
            self._bury(child)
        # at most one start a second: the batch waits for it (the queue
        # holds the rest meanwhile), unless shutting down
        wait = self._not_before - time.monotonic()
        if wait > 0:
            if self._give_up_at is not None:
                return False
            time.sleep(wait)
        self._not_before = time.monotonic() + RESTART_DELAY
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [PACKAGE_ROOT, environment.get("PYTHONPATH")])
        )
        child = None
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "recorder.sinks.process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=environment,
            )
            assert child.stdin is not None
            # written through the descriptor only, never blocking past a
            # deadline (see _write)
            os.set_blocking(child.stdin.fileno(), False)
            if not self._write(child, self._options_frame):
                raise OSError("the child took no options")
        except Exception as error:
            logger.warning("recorder: cannot start the delivery child: %s", error)
            if child is not None:
                # never left waiting for options that will not come
                child.kill()
                child.wait()
                for stream in (child.stdin, child.stdout):
                    if stream is not None:
                        stream.close()
            return False
        with self._lock:
            self._child = child
            self._given = 0
            self._reported = (0, 0, 0)
            self._child_shed = None
            self._child_silent = False
        self._reader = threading.Thread(
            target=self._read_reports,
            args=(child,),
            name="recorder-child-reports",
            daemon=True,
        )
        self._reader.start()
        logger.info("recorder: delivery child %d started", child.pid)
        return True

    def _read_reports(self, child: subprocess.Popen) -> None:
        """Add the child's counter reports to this process's counters."""
        assert child.stdout is not None
        while True:
            try:
                *totals, shed, silent = read_frame(child.stdout)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                return
            with self._lock:
                if self._child is not child:
                    return
                before, self._reported = self._reported, tuple(totals)
                self._child_shed = shed
                self._child_silent = bool(silent)
            for name, now, was in zip(SETTLED, totals, before, strict=True):
                if now > was:
                    COUNTERS.add(name, now - was)

    def _bury(self, child: subprocess.Popen) -> None:
        """Count what a finished child never reported on as failed."""
        reader = self._reader
        if reader is not None:
            # its last reports are still in the pipe: read them first
            reader.join(timeout=2.0)
        with self._lock:
            if self._child is not child:
                return
            lost = self._given - sum(self._reported)
            self._child = None
            self._given = 0
            self._reported = (0, 0, 0)
            self._child_shed = None
            self._child_silent = False
        if lost > 0:
            COUNTERS.add("failed", lost)
            code = child.returncode
            how = (
                f"was stopped by signal {-code}"
                if code is not None and code < 0
                else f"exited with status {code}"
            )
            logger.warning(
                "recorder: the delivery child %s holding %d exchanges, counted "
                "as failed",
                how,
                lost,
            )

    def deliver(self, batch: list[Any]) -> None:
        """Write the batch to the child, as tuples of the captured pieces."""
        if self._past_hope():
            # shutting down, out of time: no new child, no more waiting
            COUNTERS.add("dropped", len(batch))
            return
        if not self._ensure_child():
            COUNTERS.add("failed", len(batch))
            return
        child = self._child
        assert child is not None and child.stdin is not None
        data = frame_bytes([_as_tuple(item) for item in batch])
        with self._lock:
            self._given += len(batch)
        try:
            written = self._write(child, data)
        except (OSError, ValueError):
            written = False
        if not written:
            # the child is gone, or stuck past the shutdown deadline: what it
            # had and this batch are counted by _bury
            self._await_exit(child, 0.0 if self._give_up_at is not None else 5.0)
            self._bury(child)

    def _past_hope(self) -> bool:
        """True once close() began and either its deadline passed or no broker
        answers the child: then nothing more can be delivered in time."""
        if self._give_up_at is None:
            return False
        return self._child_silent or time.monotonic() >= self._give_up_at

    def _write(self, child: subprocess.Popen, data: bytes) -> bool:
        """Write all of data to the child's input; False when the child is gone
        or the shutdown deadline passed first.

        The pipe is non-blocking and waited on in short steps, so a child that
        stopped reading holds up this thread (never a request) only until
        close() gives up on it.
        """
        assert child.stdin is not None
        descriptor = child.stdin.fileno()
        view = memoryview(data)
        waiting: select.poll | None = None
        with self._write_lock:
            while view:
                try:
                    view = view[os.write(descriptor, view) :]
                    continue
                except BlockingIOError:
                    pass
                # the pipe is full: wait for room in short steps
                if self._past_hope():
                    return False
                if child.poll() is not None:
                    return False
                if waiting is None:
                    # poll, not select: a busy server's descriptors pass 1024
                    waiting = select.poll()
                    waiting.register(descriptor, select.POLLOUT)
                if not waiting.poll(100):
                    # still counting while the child lags
                    COUNTERS.maybe_log(self.pending())
        return True

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued within timeout, then give up on the child."""
        timeout = self.flush_timeout if timeout is None else timeout
        self._give_up_at = time.monotonic() + timeout
        super().close(timeout)

    def finish(self, deadline: float) -> None:
        """Close the child's input and wait for its last report."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # the sender thread leaves _write within 0.1 s of the deadline;
            # the descriptor is closed only once nothing writes to it
            thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
        child = self._child
        if child is None:
            return
        try:
            assert child.stdin is not None
            child.stdin.close()
        except OSError:
            pass
        self._await_exit(child, max(0.0, deadline - time.monotonic()) + 1.0)
        self._bury(child)

    def _await_exit(self, child: subprocess.Popen, timeout: float) -> None:
        """Wait for the child to exit; kill it past the timeout, or at once
        when, shutting down, no broker answers it (what it holds is lost)."""
        until = time.monotonic() + timeout
        while child.poll() is None:
            closing = self._give_up_at is not None
            if closing and self._child_silent:
                reason = "Kafka does not answer the delivery child; not waiting"
            elif time.monotonic() >= until:
                reason = "the delivery child did not finish in time"
            else:
                time.sleep(0.05)
                continue
            logger.warning("recorder: %s", reason)
            child.kill()
            child.wait()


class _SparseKafkaLines(logging.Filter):
    """Lets one of kafka-python's lines through per interval, without traceback."""

    def __init__(self, interval: float = KAFKA_LOG_INTERVAL) -> None:
        super().__init__()
        self.interval = interval
        self._last = -interval
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "kafka" and not record.name.startswith("kafka."):
            return True
        now = time.monotonic()
        if now - self._last < self.interval:
            self._held += 1
            return False
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {error})"
        if self._held:
            message += f" ({self._held} more such lines held back)"
        record.msg, record.args = f"kafka-python: {message}", ()
        # one line: the exception is named in the message
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        self._last, self._held = now, 0
        return True


def child_main() -> int:
    """Run in the child: read captures from stdin, send them, report counters."""
    from recorder.exchange import ExchangeEncoder
    from recorder.sinks.kafka import KafkaSink

    # Ctrl-C, systemd and `kill -- -PGID` signal the whole process group:
    # this child ends only when its input closes (the server process closed
    # it or is gone), after delivering what it holds
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s recorder child %(process)d: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_SparseKafkaLines())
    source, output = sys.stdin.buffer, sys.stdout.buffer
    try:
        options: RecorderOptions = read_frame(source)
    except EOFError:
        return 0
    sink = KafkaSink(
        options.bootstrap_servers,
        options.topic,
        encode=ExchangeEncoder(options),
        queue_size=options.queue_size,
        max_in_flight_bytes=options.max_in_flight_bytes,
        flush_timeout=options.flush_timeout,
        producer_config=options.producer_config,
        max_in_flight=options.max_in_flight,
    )
    done = threading.Event()

    def report() -> tuple[int | str | bool | None, ...]:
        values = COUNTERS.snapshot()
        settled = (values[name] for name in SETTLED)
        return (*settled, sink.overloaded(), not sink.answering())

    def report_loop() -> None:
        last: tuple[int | str | bool | None, ...] = (0, 0, 0, None, False)
        while not done.wait(REPORT_INTERVAL):
            now = report()
            if now != last:
                try:
                    write_frame(output, now)
                except OSError:
                    # the server process is gone; the main loop sees its input end
                    return
                last = now

    reporter = threading.Thread(target=report_loop, daemon=True)
    reporter.start()
    # connected before the first batch, which then waits for nothing
    sink.open()
    try:
        while True:
            try:
                batch = read_frame(source)
            except EOFError:
                break
            # counted here too, so the child's own warnings quote counts that
            # add up; only the settled ones are reported to the server process
            COUNTERS.add("recorded", len(batch))
            # delivered from this thread, batch by batch: no second queue;
            # while the producer waits, the pipe and the server's queue fill
            sink.deliver_batch([Capture(*values) for values in batch])
    finally:
        sink.finish(time.monotonic() + options.flush_timeout)
        done.set()
        reporter.join()
        with contextlib.suppress(OSError):
            write_frame(output, report())
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
