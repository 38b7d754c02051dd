"""The Kafka sink on the real broker: delivery from forked workers, outages,
refused messages and the counters' balance."""

import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from kafka import KafkaConsumer

import recorder
from recorder import RecordingMiddleware
from recorder.sinks import kafka as kafka_sink
from recorder.sinks.kafka import KafkaSink
from tests.conftest import ROOT, LocalKafka, free_port
from tests.recorder.case_app import create_case_app
from tests.recorder.conftest import (
    assert_valid,
    new_request_id,
    start_gunicorn,
    stop_process,
    wait_until_up,
)

ZOOKEEPER_SESSION_SECONDS = 20


def consume(
    bootstrap: str, topic: str, expected: int, timeout: float = 60
) -> list[dict]:
    """Read the topic from the start until `expected` messages (or the deadline),
    then a little longer to catch any extra (duplicate) message."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                messages += [json.loads(record.value) for record in records]
            if len(messages) >= expected:
                for records in consumer.poll(timeout_ms=1500).values():
                    messages += [json.loads(record.value) for record in records]
                break
    finally:
        consumer.close()
    return messages


def wait_for(condition: Any, timeout: float = 60, message: str = "") -> None:
    """Poll a condition until true or fail after a generous deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {message}")
        time.sleep(0.1)


def delta(before: dict[str, int]) -> dict[str, int]:
    now = recorder.stats()
    return {name: now[name] - before[name] for name in before}


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_every_preforked_worker_delivers(
    kafka_bootstrap: str, kafka_topic: str, tmp_path, delivery: str, warm: bool
):
    env = {
        "RECORDER_SINK": "kafka",
        "RECORDER_DELIVERY": delivery,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RECORDING_TOPIC": kafka_topic,
    }
    if warm:
        # the master records one exchange before it forks: its sender thread
        # (and delivery child) must not leave the workers stuck or throttled
        env["CASE_APP_WARM_UP"] = "1"
    process, base = start_gunicorn(
        "tests.recorder.case_app:app",
        env,
        tmp_path / "gunicorn.log",
        "--preload",
        "-w",
        "2",
    )
    sent: dict[str, int] = {}
    try:
        wait_until_up(base + "/counts", process)
        # new connections land on either worker; go on until both answered
        for number in range(400):
            request_id = new_request_id()
            response = requests.post(
                base + "/orders",
                json={"number": number},
                headers={"X-Request-ID": request_id, "Connection": "close"},
                timeout=30,
            )
            assert response.status_code == 201
            sent[request_id] = response.json()["worker"]
            if len(set(sent.values())) == 2 and len(sent) >= 20:
                break
        assert len(set(sent.values())) == 2, "both workers should have answered"
        messages = consume(kafka_bootstrap, kafka_topic, len(sent))
    finally:
        stop_process(process)

    # the master's own exchange (warm) is not one the workers answered
    messages = [m for m in messages if m["request"]["pathname"] == "/orders"]
    ids = [message["meta"]["requestId"] for message in messages]
    assert sorted(ids) == sorted(sent)
    workers = {
        json.loads(message["response"]["body"])["worker"] for message in messages
    }
    assert workers == set(sent.values())
    for message in messages:
        assert_valid(message)
        assert message["response"]["statusCode"] == 201


@pytest.mark.slow
def test_broker_outage_counts_losses_and_recording_resumes(
    own_kafka: LocalKafka, thread_server: Any
) -> None:
    bootstrap = own_kafka.start()
    topic = "http_recordings"
    app = create_case_app(
        sink="kafka",
        bootstrap_servers=bootstrap,
        topic=topic,
        # a small cap so the outage shows as drops within a few requests
        max_in_flight_bytes=20_000,
        producer_config={"delivery_timeout_ms": 8_000, "request_timeout_ms": 3_000},
    )
    sink = app.extensions["recorder"].sink
    base = thread_server(app)
    before = recorder.stats()
    try:
        for _ in range(5):
            assert requests.get(base + "/ping", timeout=30).status_code == 200
        wait_for(lambda: delta(before)["delivered"] == 5, message="first deliveries")

        own_kafka.kill_broker()
        killed_at = time.monotonic()
        for _ in range(200):
            assert requests.get(base + "/ping", timeout=30).status_code == 200
        wait_for(
            lambda: delta(before)["dropped"] + delta(before)["failed"] > 0,
            message="losses counted while the broker is down",
        )

        # ZooKeeper forgets the killed broker only when its session expires
        # (18 s by default); a broker started before that cannot register
        time.sleep(max(0.0, killed_at + ZOOKEEPER_SESSION_SECONDS - time.monotonic()))
        own_kafka.start_broker()
        # requests after the broker is back reach the topic, with no restart
        resumed: list[str] = []

        def recorded_again() -> bool:
            request_id = new_request_id()
            resumed.append(request_id)
            requests.get(
                base + "/ping", headers={"X-Request-ID": request_id}, timeout=30
            )
            time.sleep(0.5)
            return delta(before)["delivered"] > 5 and sink.pending() == 0

        wait_for(recorded_again, timeout=90, message="delivery after the restart")
        messages = consume(bootstrap, topic, 1, timeout=30)
        assert set(resumed) & {message["meta"]["requestId"] for message in messages}

        wait_for(lambda: sink.pending() == 0, message="queue and in-flight drained")
        counts = delta(before)
        assert counts["recorded"] == 5 + 200 + len(resumed)
        assert (
            counts["recorded"]
            == counts["delivered"] + counts["dropped"] + counts["failed"]
        )
    finally:
        sink.close(10)


def test_a_message_the_broker_refuses_is_counted_as_failed(
    kafka_bootstrap: str, kafka_topic: str, thread_server: Any
) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x" * 300_000]

    middleware = RecordingMiddleware(
        app,
        sink="kafka",
        bootstrap_servers=kafka_bootstrap,
        topic=kafka_topic,
        max_body_bytes=1_000_000,
        producer_config={"max_request_size": 100_000},
    )
    before = recorder.stats()
    try:
        base = thread_server(middleware)
        assert requests.get(base + "/export", timeout=30).status_code == 200
        wait_for(lambda: delta(before)["failed"] == 1, message="the refused send")
    finally:
        middleware.sink.close(5)
    assert delta(before)["delivered"] == 0


def test_unreachable_broker_never_fails_a_request(thread_server: Any) -> None:
    app = create_case_app(sink="kafka", bootstrap_servers=f"127.0.0.1:{free_port()}")
    sink = app.extensions["recorder"].sink
    before = recorder.stats()
    try:
        base = thread_server(app)
        for _ in range(5):
            assert requests.get(base + "/ping", timeout=30).status_code == 200
        wait_for(
            lambda: delta(before)["dropped"] + delta(before)["failed"] == 5,
            message="every exchange counted as lost",
        )
    finally:
        sink.close(2)
    assert delta(before)["delivered"] == 0


def test_close_delivers_what_is_still_queued(kafka_bootstrap: str, kafka_topic: str):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    middleware = RecordingMiddleware(
        app, sink="kafka", bootstrap_servers=kafka_bootstrap, topic=kafka_topic
    )
    before = recorder.stats()
    for number in range(50):
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": f"/items/{number}",
            "SERVER_NAME": "test",
            "SERVER_PORT": "80",
        }
        response = middleware(environ, lambda status, headers, *exc: None)
        list(response)
        response.close()
    middleware.sink.close(20)
    assert delta(before)["delivered"] == 50
    messages = consume(kafka_bootstrap, kafka_topic, 50)
    assert sorted(message["request"]["pathname"] for message in messages) == sorted(
        f"/items/{number}" for number in range(50)
    )


EXIT_SCRIPT = """
import sys
from recorder import RecordingMiddleware

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

middleware = RecordingMiddleware(
    app, sink="kafka", bootstrap_servers=sys.argv[1], topic=sys.argv[2]
)
for number in range(500):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/exit/{number}",
               "SERVER_NAME": "test", "SERVER_PORT": "80"}
    response = middleware(environ, lambda *args: None)
    list(response)
    response.close()
# the process ends at once: the exit handler must deliver the queue
"""


def test_process_exit_delivers_the_queue(
    kafka_bootstrap: str, kafka_topic: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, kafka_bootstrap, kafka_topic],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    messages = consume(kafka_bootstrap, kafka_topic, 500)
    assert len(messages) == 500


class FakeFuture:
    """A send kafka-python has not settled yet; `settle` plays the broker."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Any, tuple]] = []

    def add_both(self, callback: Any, *args: Any) -> None:
        self.callbacks.append((callback, args))

    def settle(self, outcome: Any) -> None:
        for callback, args in self.callbacks:
            callback(*args, outcome)


class FakeProducer:
    """Keeps every send's future; never talks to a broker (unit tests only)."""

    def __init__(self) -> None:
        self.futures: list[FakeFuture] = []

    def send(self, topic: str, value: bytes) -> FakeFuture:
        self.futures.append(FakeFuture())
        return self.futures[-1]


def counting_sink(**options: Any) -> tuple[KafkaSink, FakeProducer, list[int]]:
    """A KafkaSink on a fake producer, and a list holding how often it encoded."""
    encoded = [0]

    def encode(item: Any) -> bytes:
        encoded[0] += 1
        return b"{}"

    sink = KafkaSink("127.0.0.1:1", "t", encode=encode, **options)
    producer = FakeProducer()
    sink._producer = producer
    return sink, producer, encoded


def test_the_in_flight_count_cap_drops_before_encoding() -> None:
    sink, producer, encoded = counting_sink(max_in_flight=3)
    before = recorder.stats()
    sink.deliver(["a"] * 5)
    assert encoded[0] == 3 and len(producer.futures) == 3
    assert delta(before)["dropped"] == 2
    producer.futures[0].settle("metadata")
    sink.deliver(["b"])
    assert encoded[0] == 4
    assert delta(before)["delivered"] == 1


def test_a_failed_send_names_the_broker_it_was_sent_to(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, producer, _ = counting_sink()
    sink.deliver(["a"])
    with caplog.at_level(logging.WARNING, logger="recorder.sinks.kafka"):
        producer.futures[0].settle(RuntimeError("Connection refused"))
    # a mistyped address is what the reader of the log must see
    assert "Kafka send to 127.0.0.1:1 failed (Connection refused)" in caplog.text


def test_a_silent_broker_makes_the_sink_drop_without_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, producer, encoded = counting_sink()
    before = recorder.stats()
    sink.deliver(["a", "b"])
    assert not sink.stalled()
    # nothing confirmed for longer than the stall time: the broker is away
    monkeypatch.setattr(kafka_sink, "STALL_SECONDS", 0.0)
    time.sleep(0.01)
    assert sink.stalled()
    sink.deliver(["c", "d", "e"])
    assert encoded[0] == 2
    assert delta(before)["dropped"] == 3
    # one confirmation: the broker is back and exchanges go through again
    producer.futures[0].settle("metadata")
    monkeypatch.setattr(kafka_sink, "STALL_SECONDS", 60.0)
    assert not sink.stalled()
    sink.deliver(["f"])
    assert encoded[0] == 3


def test_a_stalled_sink_tells_request_threads_to_skip_the_capture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, producer, _ = counting_sink()
    # as after its first send in this process
    sink._pid = os.getpid()
    sink.deliver(["a"])
    assert sink.shedding() is None
    monkeypatch.setattr(kafka_sink, "STALL_SECONDS", 0.0)
    time.sleep(0.01)
    assert sink.shedding() == kafka_sink.STALLED
    # a forked process has its own sink, whatever its parent's state
    sink._pid = -1
    assert sink.shedding() is None
    sink._pid = os.getpid()
    producer.futures[0].settle("metadata")
    assert sink.shedding() is None


def test_a_full_in_flight_cap_tells_request_threads_to_skip_the_capture() -> None:
    sink, producer, _ = counting_sink(max_in_flight=2)
    sink._pid = os.getpid()
    sink.deliver(["a"])
    assert sink.shedding() is None
    sink.deliver(["b"])
    assert sink.shedding() == kafka_sink.FULL
    producer.futures[0].settle("metadata")
    assert sink.shedding() is None


def test_a_broker_that_does_not_answer_is_not_waited_for_at_shutdown() -> None:
    from kafka.errors import KafkaTimeoutError

    sink, producer, encoded = counting_sink()
    sink.deliver(["a", "b"])
    assert sink.answering()
    # an expired batch: no broker answered in time
    producer.futures[0].settle(KafkaTimeoutError("expired"))
    assert not sink.answering()
    # closing: the rest is dropped at once instead of tried send by send
    sink._stopping.set()
    before = recorder.stats()
    sink.deliver(["c", "d"])
    assert encoded[0] == 2
    assert delta(before)["dropped"] == 2
    # one confirmation and the broker answers again
    producer.futures[1].settle("metadata")
    assert sink.answering()


def test_a_stall_ends_when_the_waiting_sends_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, producer, encoded = counting_sink()
    before = recorder.stats()
    monkeypatch.setattr(kafka_sink, "STALL_SECONDS", 0.0)
    sink.deliver(["a"])
    time.sleep(0.01)
    sink.deliver(["b"])
    assert encoded[0] == 1
    producer.futures[0].settle(TimeoutError("expired"))
    # nothing waits any more: the next exchange is tried (a probe)
    sink.deliver(["c"])
    assert encoded[0] == 2
    counts = delta(before)
    assert (counts["dropped"], counts["failed"], sink.pending()) == (1, 1, 1)
