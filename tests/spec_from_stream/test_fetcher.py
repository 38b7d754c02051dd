"""The fetch process: a consumer in a child process, on the real broker."""

import os
import signal
import threading
import time

import pytest
from kafka import KafkaProducer

from spec_from_stream.fetcher import FetcherProcess
from spec_from_stream.sources import KafkaSettings, SourceError
from tests.conftest import create_topic, free_port


def produce(bootstrap: str, topic: str, start: int, stop: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for number in range(start, stop):
        producer.send(topic, str(number).encode(), partition=number % 2)
    producer.flush()
    producer.close()


def read_until(fetcher, offsets, lock, count, seen) -> None:
    """Poll like the reader does: take each batch, then advance the offsets."""
    deadline = time.monotonic() + 90
    while len(seen) < count:
        assert time.monotonic() < deadline, f"got {len(seen)} of {count}"
        batch = fetcher.poll(200)
        with lock:
            for partition, (record_offsets, values) in batch.items():
                seen.extend(int(value) for value in values)
                offsets[partition] = record_offsets[-1] + 1


@pytest.fixture
def topic(kafka_bootstrap):
    return create_topic(kafka_bootstrap, f"fetch_{free_port()}", partitions=2)


def make_fetcher(bootstrap, topic, offsets, lock, revoked=None) -> FetcherProcess:
    return FetcherProcess(
        KafkaSettings(
            bootstrap,
            topic,
            f"group_{topic}",
            connect_timeout=30,
            instance_id=f"instance_{topic}",
        ),
        offsets,
        lock,
        lambda: (revoked or []).append(True),
    )


def test_child_hands_over_every_message_from_the_saved_offsets(kafka_bootstrap, topic):
    produce(kafka_bootstrap, topic, 0, 40)
    lock = threading.Lock()
    # 10 messages of partition 0 (the even numbers 0..18) were read before
    offsets = {0: 10}
    fetcher = make_fetcher(kafka_bootstrap, topic, offsets, lock)
    fetcher.start()
    seen: list[int] = []
    try:
        read_until(fetcher, offsets, lock, 30, seen)
    finally:
        fetcher.close()

    assert sorted(seen) == sorted([n for n in range(40) if n % 2 or n >= 20])
    assert offsets == {0: 20, 1: 20}
    assert fetcher._process is None


def test_a_dead_child_is_replaced_without_loss_or_repeats(kafka_bootstrap, topic):
    produce(kafka_bootstrap, topic, 0, 20)
    lock = threading.Lock()
    offsets: dict[int, int] = {}
    fetcher = make_fetcher(kafka_bootstrap, topic, offsets, lock)
    fetcher.start()
    seen: list[int] = []
    try:
        read_until(fetcher, offsets, lock, 20, seen)
        os.kill(fetcher._process.pid, signal.SIGKILL)
        produce(kafka_bootstrap, topic, 20, 50)
        read_until(fetcher, offsets, lock, 50, seen)
    finally:
        fetcher.close()

    assert sorted(seen) == list(range(50))


def test_unreachable_broker_is_a_source_error():
    fetcher = FetcherProcess(
        KafkaSettings(f"127.0.0.1:{free_port()}", "t", "g", connect_timeout=1),
        {},
        threading.Lock(),
        lambda: None,
    )

    with pytest.raises(SourceError, match="cannot reach Kafka"):
        fetcher.start()
    assert fetcher._process is None


def test_a_topic_name_kafka_refuses_is_a_source_error_without_a_trace(
    kafka_bootstrap, capfd
):
    fetcher = FetcherProcess(
        KafkaSettings(kafka_bootstrap, "bad/name", "g", connect_timeout=30),
        {},
        threading.Lock(),
        lambda: None,
    )

    with pytest.raises(SourceError, match="cannot read topic 'bad/name'"):
        fetcher.start()
    assert fetcher._process is None
    assert "Traceback" not in capfd.readouterr().err
