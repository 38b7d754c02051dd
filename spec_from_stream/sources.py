"""Where exchanges come from: a Kafka topic, a JSON Lines file or a HAR file."""

from __future__ import annotations

import codecs
import gzip
import logging
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import (
    AuthorizationError,
    FencedInstanceIdError,
    InconsistentGroupProtocolError,
    KafkaError,
    UnsupportedCodecError,
)

from spec_from_stream.exchange import BadMessage, strip_bom
from spec_from_stream.har import HarError, exchange_from_entry, load_entries

logger = logging.getLogger(__name__)

# records handed over per poll: big enough to amortise the call, small enough
# that a write or a stop request waits only a moment
MAX_POLL_RECORDS = 5000
# exchanges can be large (bodies up to the recorder's cap): fetch generously
MAX_PARTITION_FETCH_BYTES = 8 * 1024 * 1024
FETCH_MAX_BYTES = 64 * 1024 * 1024
# a first group join normally takes well under a second
ASSIGNMENT_WAIT = 60.0
# seconds between two looks for the topic while nothing is assigned, and how
# long a topic that has just appeared may go unassigned
TOPIC_CHECK = 2.0
TOPIC_ASSIGNMENT_WAIT = 10.0
# seconds the reader waits for a partition's first and last offsets, which it
# compares with the saved ones when the partition is assigned
OFFSETS_TIMEOUT = 10.0
# seconds between metadata refreshes: partitions added to the topic are read
# within this time (kafka-python's default is five minutes)
METADATA_MAX_AGE = 30.0


# one poll's messages: {partition: (offsets, values)}, offsets ascending; in
# columns, because they cross a process boundary cheaply that way
Batch = dict[int, tuple[list[int], list[bytes | None]]]


class SourceError(RuntimeError):
    """The source cannot be read at all (missing file, unreachable broker)."""


def fatal_reason(error: Exception, settings: KafkaSettings) -> str | None:
    """Say why polling again cannot help, or None for an error worth retrying.

    kafka-python retries these for ever (and after an unknown codec its next
    poll never returns), so the reader stops with one line instead.
    """
    if isinstance(error, UnsupportedCodecError):
        return (
            f"topic {settings.topic} holds batches compressed with a codec this "
            f"Python lacks ({error}); install requirements.txt"
        )
    if isinstance(error, InconsistentGroupProtocolError):
        return (
            f"consumer group {settings.group_id} is used by consumers with "
            f"another partition assignment strategy; leave out --group-id, so "
            f"the reader has a group of its own"
        )
    if isinstance(error, FencedInstanceIdError):
        return (
            f"another consumer joined group {settings.group_id} as this "
            f"reader's static member ({settings.instance_id}: the same host "
            f"and --out folder); run one reader per folder"
        )
    if isinstance(error, AuthorizationError):
        return f"Kafka refused access to topic {settings.topic}: {error}"
    return None


class RetryWarnings:
    """Warns about a failing poll at once, then at most every `interval` s."""

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval
        self._next = 0.0
        self._quiet = 0

    def failed(self, error: Exception) -> None:
        """Note one failed poll; log it unless one was logged lately."""
        now = time.monotonic()
        if now < self._next:
            self._quiet += 1
            return
        again = f" ({self._quiet} more since the last warning)" if self._quiet else ""
        logger.warning("polling Kafka failed, retrying%s: %s", again, error)
        self._next = now + self.interval
        self._quiet = 0


@dataclass(frozen=True)
class KafkaSettings:
    """Where the exchanges are and how the reader joins the group to read them.

    instance_id makes the reader a static group member: a restarted reader
    gets its partitions back at once.
    """

    bootstrap_servers: str
    topic: str
    group_id: str
    connect_timeout: float = 30.0
    instance_id: str | None = None
    # the topic's id the saved offsets belong to (None: not known)
    topic_id: str | None = None


class _KafkaTrouble(logging.Handler):
    """Turns kafka-python's error lines into one warning every half minute.

    kafka-python logs several ERROR lines per reconnect attempt while a broker
    is away; the reader says it once, and again when messages flow.
    """

    def __init__(self, interval: float = 30.0) -> None:
        super().__init__(level=logging.ERROR)
        self.interval = interval
        # off until connected: a broker missing at start is one error line
        self.active = False
        self.troubled = False
        self._last = -interval

    def emit(self, record: logging.LogRecord) -> None:
        if not self.active:
            return
        if any(name in record.getMessage() for name in _FATAL_NAMES):
            # "keeps retrying" would be wrong: the reader stops with one line
            return
        now = time.monotonic()
        self.troubled = True
        if now - self._last < self.interval:
            return
        self._last = now
        missing = _MISSING_TOPIC.fullmatch(record.getMessage())
        if missing:
            logger.warning(
                "topic %s does not exist on the broker: waiting for it to be "
                "created (is --topic right?)",
                missing.group(1),
            )
            return
        logger.warning(
            "Kafka connection trouble (%s); kafka-python keeps retrying",
            record.getMessage()[:200],
        )

    def recovered(self) -> None:
        """Note that messages arrive again after trouble."""
        if self.troubled:
            self.troubled = False
            self._last = -self.interval
            logger.info("reading from Kafka again")


def _cluster(consumer: KafkaConsumer) -> Any:
    """kafka-python's cluster metadata of a consumer, None if it has none.

    Limitation: the consumer does not expose it; its topic ids, its cached
    partitions and its request settings are read there (kafka-python 3.0).
    """
    return getattr(getattr(consumer, "_client", None), "cluster", None)


def _never_create_topics(consumer: KafkaConsumer) -> None:
    """Make the consumer's metadata requests ask for no topic creation.

    kafka-python 3.0 takes ``allow_auto_create_topics`` but does not hand it to
    the cluster metadata that builds the requests, so it is set there too.
    """
    config = getattr(_cluster(consumer), "config", None)
    if isinstance(config, dict):
        config["allow_auto_create_topics"] = False


# what kafka-python logs while a subscribed topic does not exist
_MISSING_TOPIC = re.compile(r"Topic (\S+) not found in cluster metadata")
_trouble = _KafkaTrouble()
# the errors fatal_reason stops the reader for, as kafka-python names them
_FATAL_NAMES = (
    UnsupportedCodecError.__name__,
    InconsistentGroupProtocolError.__name__,
    FencedInstanceIdError.__name__,
    "AuthorizationFailed",
)


def quiet_kafka_logging() -> None:
    """Route kafka-python's own log lines through the rate-limited warning."""
    kafka_logger = logging.getLogger("kafka")
    kafka_logger.setLevel(logging.ERROR)
    kafka_logger.propagate = False
    if _trouble not in kafka_logger.handlers:
        kafka_logger.addHandler(_trouble)


# the first bytes of a gzip file, and of a zip archive
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
# byte order marks of the text encodings other than UTF-8 that files come in
# (UTF-32 first: its little-endian mark starts with UTF-16's)
TEXT_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# JSON begins with an ASCII character, so without a byte order mark the zero
# bytes among the first four tell UTF-16 and UTF-32 apart (RFC 4627, 3)
BOMLESS_ZEROS = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}
# what a broken gzip stream raises part-way
GZIP_ERRORS = (EOFError, OSError, zlib.error)


def _open(path: Path) -> IO[bytes]:
    """Open a file for reading as UTF-8, decompressing it if it is gzip.

    UTF-16 or UTF-32 (what Windows PowerShell's ``>`` writes) is recoded
    (``_as_utf8``).

    :raise SourceError: the file is a zip archive.
    """
    with path.open("rb") as stream:
        magic = stream.read(4)
    if magic.startswith(GZIP_MAGIC):
        return _as_utf8(gzip.open(path, "rb"))
    if magic == ZIP_MAGIC:
        raise SourceError(f"{path} is a zip archive: unpack the file inside first")
    return _as_utf8(path.open("rb"))


def _as_utf8(stream: IO[bytes]) -> IO[bytes]:
    """The stream as UTF-8: UTF-32 or UTF-16 is recoded.

    Either is known by its byte order mark, or without one by where the zero
    bytes fall in the first character, which JSON makes ASCII. The stream must
    have ``peek`` (files, gzip files and standard input do).
    """
    encoding = wide_encoding(stream.peek(4)[:4])
    if encoding is None:
        return stream
    # a broken character becomes U+FFFD: the rest of its line counts
    return codecs.EncodedFile(stream, "utf-8", encoding, "replace")


def wide_encoding(start: bytes) -> str | None:
    """The UTF-16 or UTF-32 encoding of JSON text starting with these four
    bytes (by its byte order mark, else by its zero bytes), None for UTF-8."""
    for mark, encoding in TEXT_BOMS:
        if start.startswith(mark):
            return encoding
    return BOMLESS_ZEROS.get(tuple(byte == 0 for byte in start))


def _suffix(path: Path) -> str:
    """The extension that tells the format, under a `.gz` one."""
    if path.suffix.lower() == ".gz":
        path = path.with_suffix("")
    return path.suffix.lower()


def detect_format(path: Path) -> str:
    """Tell whether a file is `har`, `jsonl` or a JSON `array` of exchanges, by
    extension, then by content."""
    suffix = _suffix(path)
    if suffix == ".har":
        return "har"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    with _open(path) as stream:
        for line in stream:
            line = strip_bom(line)
            if line.strip():
                break
        else:
            return "jsonl"
        if line.lstrip().startswith(b"["):
            return "array"
        # a JSON Lines file starts with one complete exchange on its first line;
        # a HAR file is one (usually indented) document with a `log` member
        try:
            first = orjson.loads(line)
        except orjson.JSONDecodeError:
            if not line.lstrip().startswith(b"{"):
                return "jsonl"
            # a HAR document's first line is not a whole document, and neither
            # is a JSON Lines file's first record when it was cut short: the
            # next line tells them apart (a whole record, or a HAR member)
            for line in stream:
                if line.strip():
                    return "jsonl" if _is_object(line) else "har"
            return "har"
    return "har" if isinstance(first, dict) and "log" in first else "jsonl"


def _is_object(line: bytes) -> bool:
    """Whether a line holds one whole JSON object."""
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def open_file(path: Path) -> Iterator[tuple[object, str]]:
    """Yield (message, position) from a JSON Lines or HAR file.

    A message is raw bytes (JSON Lines), an exchange dict (HAR) or a BadMessage
    for a HAR entry that could not be converted.

    :raise SourceError: the file is missing, unreadable or not HAR when named so.
    """
    if str(path) == "-":
        # a pipe cannot be read twice to tell its format: JSON Lines only
        stream: IO[bytes] = sys.stdin.buffer
        if stream.peek(len(GZIP_MAGIC)).startswith(GZIP_MAGIC):
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        return _jsonl_messages(_as_utf8(stream), "standard input")
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise SourceError(
                f"{path} is not a regular file (use - for standard input)"
            )
        raise SourceError(f"input file not found: {path}")
    try:
        kind = detect_format(path)
        if kind == "har":
            with _open(path) as stream:
                content = stream.read()
            try:
                return _har_messages(load_entries(path, content), path.parent)
            except HarError:
                # one exchange, pretty-printed (`python -m json.tool`)
                single = _one_exchange(content)
                if single is None:
                    raise
                return iter([(single, "the whole file")])
        if kind == "array":
            return _array_messages(path)
        return _jsonl_messages(_open(path), str(path))
    except HarError as error:
        raise SourceError(str(error)) from None
    except (EOFError, zlib.error) as error:
        raise SourceError(f"cannot read {path}: {error}") from None
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from None


def _jsonl_messages(stream: IO[bytes], name: str) -> Iterator[tuple[object, str]]:
    """Yield each non-blank line of a JSON Lines stream with its line number.

    A gzip stream cut short ends the messages with a warning; what was read
    before stays read.
    """
    with stream:
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    # files joined with `cat` may carry a byte order mark inside
                    yield strip_bom(line), f"line {number}"
        except GZIP_ERRORS as error:
            logger.warning(
                "%s: stopped reading after line %d, the rest cannot be "
                "decompressed (%s)",
                name,
                number,
                error,
            )


def _one_exchange(content: bytes) -> bytes | None:
    """The JSON of a document that is one exchange, else None."""
    try:
        value = orjson.loads(strip_bom(content))
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and "request" in value and "log" not in value:
        return orjson.dumps(value)
    return None


def _array_messages(path: Path) -> Iterator[tuple[object, str]]:
    """Yield each element of a JSON array of exchanges, as JSON bytes."""
    with _open(path) as stream:
        try:
            items = orjson.loads(strip_bom(stream.read()))
        except orjson.JSONDecodeError as error:
            raise SourceError(
                f"{path} is neither JSON Lines nor a JSON array of exchanges ({error})"
            ) from None
    if not isinstance(items, list):
        raise SourceError(f"{path} is neither JSON Lines nor a JSON array")
    # encoded again, so each is checked like a line of JSON Lines
    return ((orjson.dumps(item), f"item {index}") for index, item in enumerate(items))


def _har_messages(entries: list, folder: Path) -> Iterator[tuple[object, str]]:
    """Yield each HAR entry converted, or the reason it could not be."""
    for index, entry in enumerate(entries):
        try:
            yield exchange_from_entry(entry, folder), f"entry {index}"
        except BadMessage as error:
            yield error, f"entry {index}"


class KafkaSource:
    """A consumer-group member that resumes at the offsets the reader saved.

    The group only assigns partitions; offsets are never committed to Kafka,
    because the saved state is their single source of truth. A partition with
    no saved offset is read from its beginning. Give each reader a stable
    instance_id in its settings, so that a restart resumes at once.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        offsets: dict[int, int],
        lock: threading.Lock,
        on_revoke: Callable[[], None],
        on_topic: Callable[[str, bool], None] | None = None,
        on_rewind: Callable[[dict[int, int]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topic = settings.topic
        # shared with the reader, which advances them under the lock
        self.offsets = offsets
        self.lock = lock
        self.on_revoke = on_revoke
        # told the topic's id once known, and whether the offsets were dropped
        self.on_topic = on_topic
        # told the saved offsets moved back to where a partition's records begin
        self.on_rewind = on_rewind
        # assigned partitions whose saved offsets are still to be compared with
        # the records the partition holds
        self._unchecked: dict[TopicPartition, int] = {}
        self.topic_id = settings.topic_id
        self.consumer: KafkaConsumer | None = None
        # since when the first assignment is awaited (None: it came)
        self._waiting_since: float | None = None
        # records past the last poll in the assigned partitions (the reader is
        # behind when they are many), and per partition as last seen
        self.waiting = 0
        self._lags: dict[TopicPartition, int] = {}
        # whether the topic was found missing, and when that was last looked at
        self._topic_missing = False
        self._topic_checked = 0.0

    def start(self) -> None:
        """Connect (waiting at most connect_timeout) and join the group.

        :raise SourceError: no broker answered in time.
        """
        servers = self._servers()
        try:
            self.consumer = KafkaConsumer(
                bootstrap_servers=servers,
                group_id=self.settings.group_id,
                # a static member restarted after a crash gets its partitions
                # back at once, instead of after the dead member's session
                # times out (45 s)
                group_instance_id=self.settings.instance_id,
                client_id="spec_from_stream",
                enable_auto_commit=False,
                # a mistyped --topic must not create a topic on the broker: the
                # reader waits for it and says so (_KafkaTrouble)
                allow_auto_create_topics=False,
                auto_offset_reset="earliest",
                max_poll_records=MAX_POLL_RECORDS,
                max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
                fetch_max_bytes=FETCH_MAX_BYTES,
                bootstrap_timeout_ms=int(self.settings.connect_timeout * 1000),
                reconnect_backoff_max_ms=2000,
                metadata_max_age_ms=int(METADATA_MAX_AGE * 1000),
            )
        except KafkaError as error:
            raise SourceError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers} within "
                f"{self.settings.connect_timeout:g}s ({type(error).__name__})"
            ) from None
        except ValueError as error:
            raise SourceError(f"bad bootstrap server address: {error}") from None
        _never_create_topics(self.consumer)
        try:
            self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        except (TypeError, ValueError) as error:
            self.close(leave=False)
            raise SourceError(f"cannot read topic {self.topic!r}: {error}") from None
        self._waiting_since = time.monotonic()
        _trouble.active = True
        logger.info(
            "connected to Kafka at %s, reading topic %s as group %s",
            self.settings.bootstrap_servers,
            self.topic,
            self.settings.group_id,
        )

    def _current_topic_id(self) -> str | None:
        """The topic's id from the consumer's metadata (Kafka 2.8 and later).

        Limitation: kafka-python keeps topic ids in its cluster metadata, which
        its consumer does not expose; without them (another version, an older
        broker) a topic created again goes unnoticed, as before.
        """
        try:
            topic_id = _cluster(self.consumer).topic_id(self.topic)
        except AttributeError:
            return None
        return str(topic_id) if topic_id else None

    def _check_first_assignment(self) -> None:
        """Join again when the topic appears, or when no assignment comes.

        Limitation: on a very busy machine a first join was seen to stall
        (rarely, cause not found); a new consumer has always recovered.
        """
        assert self.consumer is not None
        if self.consumer.assignment():
            self._waiting_since = None
            self._topic_missing = False
            return
        now = time.monotonic()
        if now - self._topic_checked >= TOPIC_CHECK:
            self._topic_checked = now
            if not self._topic_known():
                # _KafkaTrouble says so; joining again would not help
                self._topic_missing = True
                self._waiting_since = now
                return
            if self._topic_missing:
                # the topic came: kafka-python joins again by itself, and is
                # made to if no partition is assigned soon
                self._topic_missing = False
                self._waiting_since = now - ASSIGNMENT_WAIT + TOPIC_ASSIGNMENT_WAIT
        if now - self._waiting_since < ASSIGNMENT_WAIT:
            return
        logger.warning(
            "no partition of %s assigned yet; joining the group again", self.topic
        )
        self._join_again()

    def _topic_known(self) -> bool:
        """Whether the consumer's metadata holds the topic's partitions.

        Read from the metadata kafka-python refreshes by itself while the
        topic is missing (its own ``partitions_for_topic`` would fetch and
        wait in the middle of a group join).
        """
        try:
            partitions = _cluster(self.consumer).partitions_for_topic(self.topic)
        except AttributeError:
            return True
        return bool(partitions)

    def _join_again(self) -> None:
        """Replace the consumer by a new one in the same group."""
        self.close(leave=False)
        try:
            self.start()
        except SourceError as error:
            # poll() tries again while the consumer is missing
            logger.warning("joining again failed, will retry: %s", error)

    def _servers(self) -> list[str]:
        """The bootstrap addresses as a list."""
        return [
            s.strip() for s in self.settings.bootstrap_servers.split(",") if s.strip()
        ]

    def poll(self, timeout_ms: int) -> Batch:
        """Return {partition: (offsets, values)} fetched since the last call."""
        if self.consumer is None:
            # joining again failed last time: try once more, within bounds
            try:
                self.start()
            except SourceError as error:
                logger.warning("joining again failed, will retry: %s", error)
                time.sleep(timeout_ms / 1000)
                return {}
        try:
            fetched = self.consumer.poll(
                timeout_ms=timeout_ms, max_records=MAX_POLL_RECORDS
            )
        except KafkaError as error:
            reason = fatal_reason(error, self.settings)
            if reason is not None:
                raise SourceError(reason) from None
            raise
        if fetched and _trouble.troubled:
            _trouble.recovered()
        if self._waiting_since is not None:
            self._check_first_assignment()
        if self._unchecked:
            self._check_ranges()
        self.waiting = self._waiting(fetched)
        return {
            tp.partition: ([r.offset for r in records], [r.value for r in records])
            for tp, records in fetched.items()
        }

    def _waiting(self, fetched: dict) -> int:
        """How many records the assigned partitions hold past what was polled.

        A poll brings records of some partitions only: the others count with
        what they held past their own last poll.
        """
        lags = self._lags
        for tp, records in fetched.items():
            try:
                highwater = self.consumer.highwater(tp)
            except KafkaError:
                # revoked meanwhile: not this reader's to read any more
                lags.pop(tp, None)
                continue
            if highwater is not None and records:
                lags[tp] = max(0, highwater - records[-1].offset - 1)
        if len(lags) > len(fetched):
            assigned = self.consumer.assignment()
            for tp in [tp for tp in lags if tp not in assigned]:
                del lags[tp]
        return sum(lags.values())

    def abandon(self) -> None:
        """Give up on a start() still waiting: the process is about to end."""
        # kafka-python's constructor cannot be interrupted; its threads are
        # daemons and end with the process

    def close(self, leave: bool = True) -> None:
        """Close the connections (bounded wait); leave the group if asked."""
        if self.consumer is not None:
            # requests cut short by closing are no trouble to report
            _trouble.active = False
            try:
                self.consumer.close(autocommit=False, timeout_ms=5000)
            except KafkaError as error:
                logger.warning("closing the Kafka consumer failed: %s", error)
            self.consumer = None
            if leave and self.settings.instance_id is not None:
                self._leave_as_static_member()

    def _leave_as_static_member(self) -> None:
        """Tell the group this static member is gone, so no rebalance waits.

        A static member does not leave on close (that is what lets a restart
        take its partitions back at once); after a deliberate stop the next
        member should not wait for its session to time out either.
        """
        from kafka.admin import KafkaAdminClient, MemberToRemove

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self._servers(),
                client_id="spec_from_stream",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
            )
            try:
                admin.remove_group_members(
                    self.settings.group_id,
                    [MemberToRemove(group_instance_id=self.settings.instance_id)],
                )
            finally:
                admin.close()
        except Exception as error:
            # the broker forgets the member when its session times out anyway
            logger.warning("leaving group %s failed: %s", self.settings.group_id, error)

    def seek_assigned(self, partitions: list[TopicPartition]) -> None:
        """Move newly assigned partitions to the saved offsets, or the start."""
        assert self.consumer is not None
        current = self._current_topic_id()
        changed = current is not None and current != self.topic_id
        recreated = changed and self.topic_id is not None
        with self.lock:
            if recreated:
                # offsets of the topic that was deleted would skip as many
                # messages of the new one: it is read from its beginning
                self.offsets.clear()
            if changed:
                self.topic_id = current
            wanted = {tp: self.offsets.get(tp.partition) for tp in partitions}
        if recreated:
            logger.warning(
                "topic %s was deleted and created again (its id changed): reading "
                "it from the beginning; the document keeps what it learned before",
                self.topic,
            )
        if changed and self.on_topic is not None:
            self.on_topic(current, recreated)
        # compared with what the partitions hold after this poll: kafka-python
        # runs this callback on its network thread, which must not block
        with self.lock:
            self._unchecked.update(
                {tp: offset for tp, offset in wanted.items() if offset is not None}
            )
        for tp, offset in wanted.items():
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
        if wanted:
            logger.info(
                "assigned partitions %s of %s",
                ", ".join(
                    f"{tp.partition}@{'start' if o is None else o}"
                    for tp, o in sorted(wanted.items())
                ),
                self.topic,
            )

    def _check_ranges(self) -> None:
        """Compare the saved offsets of new partitions with the records they hold.

        A saved offset past a partition's end means the broker lost records
        (its data folder went, or an unclean leader election cut the log):
        the offset moves back to where the partition begins, so what it holds
        now is read (records read before count again), and the owner of the
        offsets is told. Records deleted before they were read (retention,
        deleteRecords) are reported; kafka-python goes on where the partition
        now begins (auto_offset_reset).

        Limitation: a partition that lost records and has since grown past the
        saved offset looks whole; the records below that offset go unread.
        """
        assert self.consumer is not None
        with self.lock:
            saved, self._unchecked = self._unchecked, {}
        try:
            timeout = int(OFFSETS_TIMEOUT * 1000)
            first = self.consumer.beginning_offsets(list(saved), timeout)
            end = self.consumer.end_offsets(list(saved), timeout)
        except KafkaError as error:
            logger.warning("cannot compare the saved offsets with Kafka's: %s", error)
            return
        rewound: dict[int, int] = {}
        for tp, offset in sorted(saved.items()):
            if tp not in first or tp not in end:
                continue
            if offset > end[tp]:
                logger.warning(
                    "partition %d of %s ends at offset %d, before the saved %d: "
                    "the broker lost records; reading the %d it holds from %d "
                    "(those read before count again)",
                    tp.partition,
                    self.topic,
                    end[tp],
                    offset,
                    end[tp] - first[tp],
                    first[tp],
                )
                rewound[tp.partition] = first[tp]
            elif offset < first[tp]:
                logger.warning(
                    "partition %d of %s: %d records (offsets %d to %d) were "
                    "deleted before they were read; going on from %d",
                    tp.partition,
                    self.topic,
                    first[tp] - offset,
                    offset,
                    first[tp] - 1,
                    first[tp],
                )
        if rewound:
            with self.lock:
                self.offsets.update(rewound)
            if self.on_rewind is not None:
                self.on_rewind(rewound)


class _Rebalance(ConsumerRebalanceListener):
    """Save before partitions go away; seek when they arrive."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            self.source.on_revoke()

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.source.seek_assigned(list(assigned))

    def on_partitions_lost(self, lost: list[TopicPartition]) -> None:
        # the group moved on without us; what we built so far is still exact
        if lost:
            self.source.on_revoke()
