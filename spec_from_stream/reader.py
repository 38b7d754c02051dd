"""The reader: messages from a source into the builder, saved and written."""

from __future__ import annotations

import bisect
import gc
import hashlib
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spec_from_stream.builder import Limits, SpecBuilder
from spec_from_stream.exchange import BadMessage, decode
from spec_from_stream.fetcher import FetcherProcess
from spec_from_stream.sources import (
    MAX_POLL_RECORDS,
    Batch,
    KafkaSettings,
    KafkaSource,
    RetryWarnings,
    SourceError,
    open_file,
)
from spec_from_stream.state import Counts, ReaderState, StateError, StateStore
from spec_from_stream.writer import (
    Listener,
    Progress,
    Schedule,
    SpecWriter,
    check_out_dir,
    write_failure,
)

logger = logging.getLogger(__name__)

# how long one poll waits for records: also how fast a stop request is seen
POLL_TIMEOUT_MS = 200
# seconds between two looks at the stop request while connecting
START_CHECK = 0.1
# seconds between two checks that the folder's lock is still this reader's
CLAIM_CHECK = 1.0
# the builder makes a few containers per exchange that die at once and keeps its
# counters for good: looking for cycles every 50,000 allocations instead of
# Python's 700 saves about 5 % of the reader's time (bench/README.md)
GC_THRESHOLD = 50_000
# skips that browser captures hold by nature, said once at INFO, not as a warning
_CAPTURE_KINDS = {
    "page_asset": "the page's own files",
    "no_response": "requests the browser got no answer for",
}


@dataclass(frozen=True)
class BuildOptions:
    """What shapes the document, whatever the source."""

    openapi_version: str = "3.1"
    initial_spec: dict | None = None
    examples: bool = False
    limits: Limits | None = None


class Reader:
    """Feeds messages to a builder, counts what it skips, writes the result."""

    def __init__(
        self,
        out_dir: Path,
        options: BuildOptions,
        *,
        state: ReaderState | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.options = options
        if state is None:
            self.builder = SpecBuilder(
                options.limits,
                initial_spec=options.initial_spec,
                examples=options.examples,
            )
            self.counts = Counts()
            self.offsets: dict[int, int] = {}
        else:
            self.builder = SpecBuilder.from_state(
                state.builder,
                options.limits,
                initial_spec=options.initial_spec,
                examples=options.examples,
            )
            self.counts = state.counts
            self.offsets = dict(state.offsets)
        self.writer = SpecWriter(out_dir, listener)
        self.schedule = Schedule()
        self.progress = Progress(read=self.counts.read)
        self._logged_kinds: set[str] = set()
        self._render_failing = False
        # the YAML paths of the last successful write
        self.written: list[Path] = []

    def add_message(self, message: object, where: str) -> None:
        """Ingest raw bytes, an exchange dict or a BadMessage from a file source."""
        self.counts.read += 1
        try:
            if isinstance(message, BadMessage):
                raise message
            if isinstance(message, dict):
                self.builder.add(message)
            else:
                self._add_raw()(message)
        except BadMessage as error:
            self.skip(error, where)
        except Exception:
            self.skip_builder_error(where)
        self.schedule.mark()

    def add_records(self, batch: Batch) -> None:
        """Ingest one poll's messages, advancing the partition offsets."""
        add_raw = self._add_raw()
        offsets = self.offsets
        for partition, (record_offsets, values) in batch.items():
            if not record_offsets:
                continue
            # a rebalance can seek back to the saved offset after messages past
            # it were fetched: those are in the builder already
            done = offsets.get(partition, 0)
            if record_offsets[0] < done:
                start = bisect.bisect_left(record_offsets, done)
                record_offsets, values = record_offsets[start:], values[start:]
                if not record_offsets:
                    continue
            for offset, value in zip(record_offsets, values, strict=True):
                try:
                    add_raw(value)
                except BadMessage as error:
                    # a tombstone (no value) or an empty message is not broken
                    # JSON: it says nothing at all
                    reason = error if value else BadMessage("empty", "no value")
                    self.skip(reason, f"partition {partition} offset {offset}")
                except Exception:
                    self.skip_builder_error(f"partition {partition} offset {offset}")
            self.counts.read += len(record_offsets)
            offsets[partition] = record_offsets[-1] + 1
        self.schedule.mark()

    def _add_raw(self) -> Callable[[bytes | None], None]:
        """The builder's decode-and-add, checking each exchange only once."""
        add_raw = getattr(self.builder, "add_raw", None)
        if add_raw is not None:
            return add_raw
        add = self.builder.add
        return lambda raw: add(decode(raw))

    def skip(self, error: BadMessage, where: str) -> None:
        """Count a bad message; log the first one of each kind."""
        self.counts.skipped[error.kind] += 1
        if error.kind not in self._logged_kinds:
            self._logged_kinds.add(error.kind)
            if error.kind in _CAPTURE_KINDS:
                # a browser capture holds these by nature: nothing is wrong
                logger.info(
                    "skipping %s in the capture, such as %s (%s): they are "
                    "left out of the document",
                    _CAPTURE_KINDS[error.kind],
                    where,
                    error,
                )
                return
            logger.warning(
                "skipped a bad message at %s (%s); further ones of this kind "
                "are only counted",
                where,
                error,
            )

    def skip_builder_error(self, where: str) -> None:
        """Count a message the builder failed on; log the first with its trace."""
        self.counts.skipped["builder_error"] += 1
        if "builder_error" not in self._logged_kinds:
            self._logged_kinds.add("builder_error")
            error = sys.exc_info()[1]
            # the frames locate the bug; the error's text could quote the
            # message (a header, a body value), so it stays out of the log
            frames = "".join(traceback.format_tb(error.__traceback__)).rstrip()
            logger.error(
                "the builder failed on the message at %s with %s; skipped "
                "(further failures are only counted)\n%s",
                where,
                type(error).__name__,
                frames,
            )

    def write_documents(self) -> list[Path]:
        """Render and write the documents now; return the YAML paths."""
        try:
            documents = self.builder.render(self.options.openapi_version)
        except Exception:
            # an internal error must not stop the reader: log it once, retry later
            if not self._render_failing:
                logger.exception("rendering the document failed; will retry")
            self._render_failing = True
            return []
        self._render_failing = False
        self.written = self.writer.write(documents)
        return self.written

    def summary(self) -> str:
        """Describe the counts in one line."""
        return self.counts.describe(self.builder.operation_count())


class WriteTrouble:
    """Warns once when saving or writing starts failing (it is retried every
    second), and says when it works again."""

    def __init__(self) -> None:
        self.failing = False

    def failed(self, what: str, error: OSError) -> None:
        """Note a failed save or write; warn if it is the first in a row."""
        if not self.failing:
            logger.warning(
                "%s failed, retrying every second (warned once until it works): %s",
                what,
                error,
            )
        self.failing = True

    def worked(self, message: str) -> None:
        """Note a success; log message if it ends a run of failures."""
        if self.failing:
            self.failing = False
            logger.info(message)


def collect_less_often() -> None:
    """Raise the garbage collector's first threshold for a reading process."""
    first, second, third = gc.get_threshold()
    gc.set_threshold(max(first, GC_THRESHOLD), second, third)


def instance_id_for(out_dir: Path) -> str:
    """A stable group member id for the reader writing out_dir on this machine.

    A restarted reader gets its partitions back at once. A second reader on
    the same folder is refused before it joins (StateStore.claim).
    """
    place = f"{socket.gethostname()}:{Path(out_dir).resolve()}"
    return f"spec_from_stream-{hashlib.sha1(place.encode()).hexdigest()[:16]}"


def build_from_file(
    path: Path,
    out_dir: Path,
    options: BuildOptions,
    listener: Listener | None = None,
    stop: threading.Event | None = None,
) -> Reader:
    """Build the document from a JSON Lines or HAR file and write it once.

    When stop is set while reading, nothing is written.

    :raise SourceError: the file cannot be read.
    :raise OutputError: out_dir or the documents in it cannot be written.
    :raise StateError: a live reader is writing out_dir.
    """
    check_out_dir(out_dir)
    # a live reader on the folder would see its document replaced by this one
    store = StateStore(out_dir)
    store.claim(shared=True)
    try:
        return _read_file(path, out_dir, options, listener, stop)
    finally:
        store.release()


def _read_file(
    path: Path,
    out_dir: Path,
    options: BuildOptions,
    listener: Listener | None,
    stop: threading.Event | None,
) -> Reader:
    """Read the file into a new Reader and write its documents."""
    collect_less_often()
    reader = Reader(out_dir, options, listener=listener)
    messages = open_file(path)
    logger.info("reading %s", path)
    for message, where in messages:
        reader.add_message(message, where)
        if reader.counts.read % 4096 == 0:
            if stop is not None and stop.is_set():
                logger.info("interrupted at %s: nothing written", where)
                return reader
            reader.progress.maybe_log(
                time.monotonic(), reader.counts, reader.builder.operation_count
            )
    try:
        written = reader.write_documents()
    except OSError as error:
        raise write_failure(out_dir, error) from None
    logger.info(
        "done: %s; wrote %s",
        reader.summary(),
        ", ".join(str(p) for p in written) or "nothing",
    )
    return reader


class KafkaReader:
    """The live reader: a topic into the builder, saved and written as it goes.

    With group_id None the reader joins a group of its own, named after
    out_dir and this machine, and so reads every partition of the topic.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str | None,
        out_dir: Path,
        options: BuildOptions,
        *,
        connect_timeout: float = 30.0,
        listener: Listener | None = None,
        fetch_process: bool | None = None,
    ) -> None:
        self.source_id = {"kind": "kafka", "topic": topic}
        # an unwritable folder is one error now, not a warning every second
        check_out_dir(out_dir)
        self.store = StateStore(out_dir)
        self.store.claim()
        try:
            saved = self.store.load(self.source_id)
            self.reader = self._resume(out_dir, options, saved, listener)
        except BaseException:
            self.store.release()
            raise
        if saved is not None:
            logger.info("resuming from %s: %s", self.store.path, self.reader.summary())
            # the document on disk may predate the saved state: refresh it
            self.reader.schedule.mark()
        # guards the builder and the offsets against the rebalance callbacks
        self.lock = threading.Lock()
        # a failing save or write is retried every second but warned about once
        self._trouble = WriteTrouble()
        # set when another reader took the folder over: nothing more is written
        self._taken_over: StateError | None = None
        self._claim_checked = 0.0
        self._poll_warnings = RetryWarnings()
        # with two cores, fetching in a child process runs beside the builder
        if fetch_process is None:
            fetch_process = (os.cpu_count() or 1) > 1
        source_class = FetcherProcess if fetch_process else KafkaSource
        instance_id = instance_id_for(out_dir)
        settings = KafkaSettings(
            bootstrap_servers,
            topic,
            # alone in its group, the reader is assigned every partition: a
            # shared group would split them between readers of other folders
            group_id or instance_id,
            connect_timeout=connect_timeout,
            instance_id=instance_id,
            topic_id=saved.topic_id if saved is not None else None,
        )
        self.source = source_class(
            settings, self.reader.offsets, self.lock, self._save_on_revoke
        )

    def _resume(
        self,
        out_dir: Path,
        options: BuildOptions,
        saved: ReaderState | None,
        listener: Listener | None,
    ) -> Reader:
        """Build the reader on the saved state, or afresh without one."""
        try:
            return Reader(out_dir, options, state=saved, listener=listener)
        except Exception as error:
            if saved is None:
                raise
            # another version's builder state, or one damaged by hand
            raise StateError(
                f"{self.store.path}: the saved builder state cannot be used "
                f"({error}); move the folder away to rebuild from the topic"
            ) from None

    def run(self, stop: threading.Event) -> bool:
        """Read until stop is set, then write the document and save the state.

        Return whether the final save and write succeeded.

        :raise SourceError: the broker could not be reached at start.
        :raise StateError: another reader took the folder over (its lock file
            was removed, and claimed anew by the other); nothing more is
            written.
        """
        if not self._start(stop):
            # stopped while waiting for the broker: nothing was read
            self.store.release()
            logger.info("stopped before Kafka answered")
            return True
        collect_less_often()
        reader = self.reader
        try:
            while not stop.is_set():
                batch = self._poll()
                if batch:
                    with self.lock:
                        reader.add_records(batch)
                # more than a poll's worth waits in Kafka: the reader is behind
                reader.schedule.pace(self.source.waiting > MAX_POLL_RECORDS)
                now = time.monotonic()
                if now - self._claim_checked >= CLAIM_CHECK:
                    # an idle reader notices a deleted folder too
                    self._claim_checked = now
                    if not self._still_claimed():
                        break
                if reader.schedule.due(now):
                    with self.lock:
                        saved = self._save_and_write()
                    if self._taken_over is not None:
                        break
                    reader.schedule.done(now)
                    if not saved:
                        # try again after the interval, not on every poll
                        reader.schedule.mark()
                reader.progress.maybe_log(
                    now, reader.counts, reader.builder.operation_count
                )
        finally:
            with self.lock:
                saved = self._save_and_write()
            self.source.close()
            self.store.release()
            logger.info("stopped: %s", reader.summary())
        if self._taken_over is not None:
            raise self._taken_over
        if not saved:
            logger.error("the final state or document could not be written")
        return saved

    def _start(self, stop: threading.Event) -> bool:
        """Connect the source, or give up as soon as stop is set (False).

        Connecting blocks for up to the connect timeout; it runs in a thread
        so that SIGINT or SIGTERM ends a reader still waiting for the broker
        at once, not when the timeout passes.

        :raise SourceError: the broker could not be reached in time.
        """
        outcome: list[BaseException | None] = []

        def start() -> None:
            try:
                self.source.start()
            except BaseException as error:
                outcome.append(error)
            else:
                outcome.append(None)

        threading.Thread(target=start, name="kafka-connect", daemon=True).start()
        while not outcome:
            if stop.wait(START_CHECK):
                self.source.abandon()
                return False
        if outcome[0] is not None:
            raise outcome[0]
        return True

    def _poll(self) -> dict:
        """Poll the consumer; a broker error is logged and retried.

        :raise SourceError: retrying cannot help (sources.fatal_reason).
        """
        try:
            return self.source.poll(POLL_TIMEOUT_MS)
        except SourceError:
            raise
        except Exception as error:
            # kafka-python reconnects by itself; this only keeps the loop alive
            self._poll_warnings.failed(error)
            time.sleep(1)
            return {}

    def _save_and_write(self) -> bool:
        """Save state and offsets, then write the document (lock held)."""
        if not self._still_claimed():
            return False
        reader = self.reader
        state = ReaderState(
            source=self.source_id,
            offsets=dict(reader.offsets),
            counts=reader.counts,
            builder=reader.builder.to_state(),
            topic_id=self.source.topic_id,
        )
        try:
            self.store.save(state)
        except OSError as error:
            self._trouble.failed("saving the state", error)
            return False
        try:
            reader.write_documents()
        except OSError as error:
            self._trouble.failed("writing the document", error)
            return False
        self._trouble.worked("saving the state and writing the document work again")
        return True

    def _still_claimed(self) -> bool:
        """Whether the folder is still this reader's (StateStore.check_claim)."""
        if self._taken_over is None:
            try:
                self.store.check_claim()
            except StateError as error:
                self._taken_over = error
        return self._taken_over is None

    def _save_on_revoke(self) -> None:
        """Save before partitions move, so their next owner starts exactly."""
        with self.lock:
            self._save_and_write()
