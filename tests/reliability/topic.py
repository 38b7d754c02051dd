"""Reading a whole topic back, and writing raw messages into one."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

# a little above the broker's default message.max.bytes (1 MiB + 12)
MAX_REQUEST_SIZE = 2 * 1024 * 1024


def read_topic(
    bootstrap: str, topic: str, *, at_least: int = 0, deadline: float = 60.0
) -> list[bytes]:
    """Every message on the topic now, waiting (up to deadline) for at_least."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_REQUEST_SIZE,
        fetch_max_bytes=64 * MAX_REQUEST_SIZE,
    )
    try:
        end = time.monotonic() + deadline
        partitions = None
        while partitions is None and time.monotonic() < end:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.5)
        if partitions is None:
            raise AssertionError(f"topic {topic} has no partitions after {deadline}s")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        values: list[bytes] = []
        while True:
            targets = consumer.end_offsets(assigned)
            while any(consumer.position(tp) < targets[tp] for tp in assigned):
                for records in consumer.poll(timeout_ms=500).values():
                    values.extend(record.value for record in records)
                if time.monotonic() > end:
                    break
            if len(values) >= at_least or time.monotonic() > end:
                return values
            time.sleep(0.5)
    finally:
        consumer.close()


def request_ids(messages: Iterable[bytes]) -> Counter:
    """How often each meta.requestId occurs in recorded exchanges."""
    ids: Counter = Counter()
    for value in messages:
        exchange = orjson.loads(value)
        ids[exchange["meta"]["requestId"]] += 1
    return ids


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | None],
    partition: int | None = None,
) -> int:
    """Send raw messages (round robin unless a partition is given); return count."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        max_request_size=MAX_REQUEST_SIZE,
        linger_ms=5,
    )
    count = 0
    try:
        futures = []
        for value in values:
            # Kafka takes a null value (a tombstone) only with a key
            key = b"tombstone" if value is None else None
            futures.append(producer.send(topic, value, key, partition=partition))
            count += 1
        producer.flush(timeout=60)
        for future in futures:
            # a refused message must fail the test setup, not vanish
            future.get(timeout=60)
    finally:
        producer.close(timeout=10)
    return count
