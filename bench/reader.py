"""Measuring the spec reader: throughput from a file and from Kafka, and memory.

Each measurement runs in a child process of its own (``python -m bench.reader
MODE ...``, one JSON line on stdout), so it gets one core and a clean heap,
and the bench process's own memory never counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)


class MeasurementError(RuntimeError):
    """A measuring child process failed; the message holds its last line."""


def run_child(arguments: list[str], timeout: float) -> dict:
    """Run ``python -m bench.reader ARGUMENTS``; return its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.reader", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasurementError(f"bench.reader {arguments[0]} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def produce_file(bootstrap: str, topic: str, path: Path) -> int:
    """Send every line of a JSON Lines file to the topic; return the count."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        acks=1,
    )
    count = 0
    try:
        with path.open("rb") as lines:
            for line in lines:
                producer.send(topic, line.rstrip(b"\n"))
                count += 1
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)
    return count


def _rss_bytes() -> int:
    """Return this process's resident memory now (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS in /proc/self/status")


def from_file(corpus: Path) -> dict:
    """Build the document from a JSON Lines file the way the reader's CLI does."""
    from spec_from_stream.reader import BuildOptions, build_from_file

    with tempfile.TemporaryDirectory(prefix="bench-spec-") as out:
        started = time.perf_counter()
        reader = build_from_file(corpus, Path(out), BuildOptions())
        seconds = time.perf_counter() - started
    return {
        "count": reader.counts.read,
        "skipped": reader.counts.skipped_total,
        "seconds": seconds,
        "rate": reader.counts.read / seconds,
        "operations": reader.builder.operation_count(),
    }


def in_memory(corpus: Path) -> dict:
    """Time the reader's own work on lines already in memory, then one render.

    This is the part that compares with another builder: decoding, checking
    and adding each exchange, and rendering the document once at the end, with
    no file reading or writing on either side.
    """
    from spec_from_stream.reader import BuildOptions, Reader, collect_less_often

    with corpus.open("rb") as lines:
        messages = lines.readlines()
    # as the reader's command line does
    collect_less_often()
    with tempfile.TemporaryDirectory(prefix="bench-spec-") as out:
        reader = Reader(Path(out), BuildOptions())
        cpu_started = time.process_time()
        started = time.perf_counter()
        for number, message in enumerate(messages, start=1):
            reader.add_message(message, f"line {number}")
        added = time.perf_counter()
        reader.builder.render()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    return {
        "count": reader.counts.read,
        "skipped": reader.counts.skipped_total,
        "seconds": seconds,
        "render_seconds": seconds - (added - started),
        "rate": reader.counts.read / seconds,
        "cpu_seconds": cpu_seconds,
        "cpu_rate": reader.counts.read / cpu_seconds,
    }


def from_kafka(bootstrap: str, topic: str, count: int, deadline: float) -> dict:
    """Run the live reader on a topic until it has read count messages.

    The clock starts when the first records arrive, so connecting and joining
    the group do not count, as for ``bare_consumer``.
    """
    from spec_from_stream.reader import BuildOptions, KafkaReader

    with tempfile.TemporaryDirectory(prefix="bench-spec-") as out:
        live = KafkaReader(bootstrap, topic, "bench", Path(out), BuildOptions())
        stop = threading.Event()
        marks: dict[str, float] = {}
        poll = live.source.poll
        add_records = live.reader.add_records

        def timed_poll(timeout_ms: int) -> dict:
            batch = poll(timeout_ms)
            if batch and "first" not in marks:
                marks["first"] = time.perf_counter()
            return batch

        def counted_add(batch: dict) -> None:
            add_records(batch)
            if live.reader.counts.read >= count and "last" not in marks:
                marks["last"] = time.perf_counter()
                stop.set()

        live.source.poll = timed_poll
        live.reader.add_records = counted_add
        runner = threading.Thread(target=live.run, args=(stop,), daemon=True)
        runner.start()
        stop.wait(deadline)
        stop.set()
        runner.join(30)
        read = live.reader.counts.read
    if "last" not in marks:
        raise MeasurementError(f"the reader read {read} of {count} in {deadline}s")
    seconds = marks["last"] - marks["first"]
    return {"count": read, "seconds": seconds, "rate": read / seconds}


def bare_consumer(bootstrap: str, topic: str, count: int, deadline: float) -> dict:
    """Read count messages with a plain kafka-python consumer, doing nothing more.

    It fetches with the reader's own fetch settings, so the comparison shows
    what the reader adds on top of Kafka, not a difference in tuning.
    """
    from kafka import KafkaConsumer, TopicPartition

    from spec_from_stream import sources

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_poll_records=sources.MAX_POLL_RECORDS,
        max_partition_fetch_bytes=sources.MAX_PARTITION_FETCH_BYTES,
        fetch_max_bytes=sources.FETCH_MAX_BYTES,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        read = 0
        size = 0
        first = None
        stop_at = time.monotonic() + deadline
        while read < count and time.monotonic() < stop_at:
            batch = consumer.poll(timeout_ms=200, max_records=sources.MAX_POLL_RECORDS)
            if batch and first is None:
                first = time.perf_counter()
            for records in batch.values():
                for record in records:
                    size += len(record.value)
                read += len(records)
        last = time.perf_counter()
    finally:
        consumer.close()
    if read < count or first is None:
        raise MeasurementError(f"the consumer read {read} of {count} in {deadline}s")
    return {"count": read, "seconds": last - first, "rate": read / (last - first)}


def memory(messages: Iterable[bytes], checkpoints: list[int]) -> dict:
    """Feed messages to the reader; return its resident memory at checkpoints."""
    from spec_from_stream.reader import BuildOptions, Reader

    with tempfile.TemporaryDirectory(prefix="bench-spec-") as out:
        reader = Reader(Path(out), BuildOptions())
        marks = sorted(checkpoints)
        rss: dict[str, int] = {}
        for number, message in enumerate(messages, start=1):
            reader.add_message(message, "bench")
            if marks and number == marks[0]:
                marks.pop(0)
                # a render at each checkpoint also counts what rendering keeps
                reader.builder.render()
                gc.collect()
                rss[str(number)] = _rss_bytes()
        operations = reader.builder.operation_count()
    return {
        "rss": rss,
        "operations": operations,
        "skipped": reader.counts.skipped_total,
    }


def main(argv: list[str] | None = None) -> int:
    """Run one measurement in this process and print its JSON result."""
    parser = argparse.ArgumentParser(prog="python -m bench.reader")
    modes = parser.add_subparsers(dest="mode", required=True)
    for name in ("file", "in-memory"):
        file_mode = modes.add_parser(name)
        file_mode.add_argument("corpus", type=Path)
    for name in ("kafka", "bare"):
        kafka_mode = modes.add_parser(name)
        kafka_mode.add_argument("bootstrap")
        kafka_mode.add_argument("topic")
        kafka_mode.add_argument("count", type=int)
        kafka_mode.add_argument("--deadline", type=float, default=300)
    memory_mode = modes.add_parser("memory")
    memory_mode.add_argument("small", type=int)
    memory_mode.add_argument("large", type=int)
    arguments = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    if arguments.mode == "file":
        result = from_file(arguments.corpus)
    elif arguments.mode == "in-memory":
        result = in_memory(arguments.corpus)
    elif arguments.mode == "kafka":
        result = from_kafka(
            arguments.bootstrap, arguments.topic, arguments.count, arguments.deadline
        )
    elif arguments.mode == "bare":
        result = bare_consumer(
            arguments.bootstrap, arguments.topic, arguments.count, arguments.deadline
        )
    else:
        from bench.corpus import fixed_endpoint_exchanges

        messages = fixed_endpoint_exchanges(arguments.large)
        result = memory(messages, [arguments.small, arguments.large])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
