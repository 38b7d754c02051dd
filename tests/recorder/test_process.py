"""Kafka delivery from a child process: frames, exact counters, restarts.

Forked workers delivering through their children: test_kafka.py."""

import contextlib
import io
import logging
import os
import signal
import threading
import time
from typing import Any

import pytest
import requests

import recorder
from recorder import RecordingMiddleware
from recorder.exchange import Capture
from recorder.sinks import process
from recorder.sinks.process import ProcessKafkaSink, read_frame, write_frame
from tests.conftest import LocalKafka, free_port
from tests.recorder.conftest import (
    assert_valid,
    new_request_id,
    start_gunicorn,
    stop_process,
    wait_until_up,
)
from tests.recorder.test_kafka import consume, delta, wait_for


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body or b'{"ok": true}']


def process_middleware(bootstrap: str, topic: str) -> RecordingMiddleware:
    return RecordingMiddleware(
        echo_app,
        sink="kafka",
        delivery="process",
        bootstrap_servers=bootstrap,
        topic=topic,
    )


def test_frames_carry_captures_both_ways() -> None:
    capture = Capture("GET", "/a", "", "/a", "", "http", "h", {}, 1.0, 2.0)
    pipe = io.BytesIO()
    write_frame(pipe, [(capture.method, capture.host)])
    write_frame(pipe, (1, 2, 3))
    pipe.seek(0)
    assert read_frame(pipe) == [("GET", "h")]
    assert read_frame(pipe) == (1, 2, 3)
    try:
        read_frame(pipe)
    except EOFError:
        pass
    else:
        raise AssertionError("an empty pipe should end with EOFError")


def test_the_child_delivers_redacted_exchanges_and_counts_stay_exact(
    kafka_bootstrap: str, kafka_topic: str, thread_server: Any
) -> None:
    middleware = process_middleware(kafka_bootstrap, kafka_topic)
    sink = middleware.sink
    assert isinstance(sink, ProcessKafkaSink)
    before = recorder.stats()
    ids = [new_request_id() for _ in range(20)]
    try:
        base = thread_server(middleware)
        for request_id in ids:
            response = requests.post(
                base + "/orders",
                json={"password": "hunter2", "n": 1},
                headers={
                    "X-Request-ID": request_id,
                    "Authorization": "Bearer sekrit-token",
                },
                timeout=30,
            )
            assert response.status_code == 200
        wait_for(lambda: delta(before)["delivered"] == 20, message="20 delivered")
        assert sink.pending() == 0
        child = sink._child
        assert child is not None and child.pid != os.getpid()
    finally:
        sink.close(10)
    # the child exits cleanly once its input is closed
    assert child.returncode == 0
    counts = delta(before)
    assert (counts["recorded"], counts["dropped"], counts["failed"]) == (20, 0, 0)
    messages = consume(kafka_bootstrap, kafka_topic, 20)
    assert sorted(message["meta"]["requestId"] for message in messages) == sorted(ids)
    for message in messages:
        assert_valid(message)
        text = str(message)
        assert "hunter2" not in text and "sekrit-token" not in text
        assert message["request"]["headers"]["authorization"] == "Bearer [REDACTED]"


def test_a_killed_child_is_restarted_and_counters_balance(
    kafka_bootstrap: str, kafka_topic: str, thread_server: Any
) -> None:
    middleware = process_middleware(kafka_bootstrap, kafka_topic)
    sink = middleware.sink
    before = recorder.stats()
    try:
        base = thread_server(middleware)
        for _ in range(5):
            assert requests.get(base + "/a", timeout=30).status_code == 200
        wait_for(lambda: delta(before)["delivered"] == 5, message="first five")
        first = sink._child
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        # the next exchanges start a new child (after a short pause)
        late = new_request_id()

        def delivered_again() -> bool:
            requests.get(base + "/b", headers={"X-Request-ID": late}, timeout=30)
            return delta(before)["delivered"] > 5 and sink.pending() == 0

        wait_for(delivered_again, message="delivery by a new child")
        assert sink._child is not None and sink._child.pid != first.pid
    finally:
        sink.close(10)
    counts = delta(before)
    assert sink.pending() == 0
    assert counts["recorded"] == (
        counts["delivered"] + counts["dropped"] + counts["failed"]
    )
    messages = consume(kafka_bootstrap, kafka_topic, counts["delivered"])
    assert late in {message["meta"]["requestId"] for message in messages}


def test_what_a_dying_child_held_is_counted_as_failed(
    thread_server: Any, caplog: Any
) -> None:
    # nothing listens there: the child holds exchanges while its sends wait
    middleware = process_middleware(f"127.0.0.1:{free_port()}", "t")
    sink = middleware.sink
    before = recorder.stats()
    caplog.set_level(logging.WARNING, logger="recorder.sinks.process")
    try:
        base = thread_server(middleware)
        for _ in range(8):
            assert requests.get(base + "/a", timeout=30).status_code == 200
        wait_for(lambda: sink._child is not None, message="a child")
        os.kill(sink._child.pid, signal.SIGKILL)
    finally:
        # closing finds the child dead and counts what it held
        sink.close(5)
    counts = delta(before)
    assert sink.pending() == 0
    assert counts["recorded"] == 8 and counts["delivered"] == 0
    assert counts["dropped"] + counts["failed"] == 8
    # what the child had taken when killed (nearly always some) is failed
    if counts["failed"]:
        assert "the delivery child was stopped by signal 9 holding" in caplog.text


def test_a_frozen_child_never_holds_up_shutdown(
    kafka_bootstrap: str, kafka_topic: str
) -> None:
    middleware = process_middleware(kafka_bootstrap, kafka_topic)
    sink = middleware.sink
    before = recorder.stats()
    big = b'{"pad": "' + b"x" * 60_000 + b'"}'
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/big",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(big)),
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "127.0.0.1",
    }

    def record(count: int) -> None:
        for _ in range(count):
            response = middleware(
                {**environ, "wsgi.input": io.BytesIO(big)}, lambda *a: None
            )
            assert b"".join(response) == big
            response.close()

    record(1)
    wait_for(lambda: delta(before)["delivered"] == 1, message="a first delivery")
    child = sink._child
    os.kill(child.pid, signal.SIGSTOP)
    try:
        # far more than the pipe holds: the sender thread waits on the pipe
        record(200)
        wait_for(lambda: len(sink._queue) > 0, message="exchanges queued")
        closing = threading.Thread(target=sink.close, args=(2.0,))
        closing.start()
        # the frozen child is given up on at the deadline, not waited for
        closing.join(60)
        assert not closing.is_alive(), "close() hung on a frozen child"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    counts = delta(before)
    assert sink.pending() == 0
    assert counts["recorded"] == 201
    assert counts["recorded"] == (
        counts["delivered"] + counts["dropped"] + counts["failed"]
    )
    assert counts["dropped"] + counts["failed"] > 0


def kafka_line(name: str = "kafka.conn", error: Exception | None = None):
    return logging.LogRecord(
        name,
        logging.ERROR,
        __file__,
        1,
        "connection to %s failed",
        ("node 0",),
        (type(error), error, None) if error else None,
    )


def test_the_child_lets_one_kafka_python_line_through_per_interval(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(process.time, "monotonic", lambda: clock[0])
    sparse = process._SparseKafkaLines(interval=30.0)
    first = kafka_line(error=ConnectionResetError("reset by peer"))

    assert sparse.filter(first)
    assert first.getMessage() == (
        "kafka-python: connection to node 0 failed "
        "(ConnectionResetError: reset by peer)"
    )
    assert first.exc_info is None
    clock[0] += 10
    assert not sparse.filter(kafka_line())
    assert not sparse.filter(kafka_line("kafka"))
    # the recorder's own lines are never held back
    assert sparse.filter(kafka_line("recorder.sinks.kafka"))
    clock[0] += 25
    later = kafka_line()
    assert sparse.filter(later)
    assert later.getMessage().endswith("(2 more such lines held back)")


@pytest.mark.slow
def test_in_a_broker_outage_the_child_logs_little_and_the_worker_stops_capturing(
    own_kafka: LocalKafka, tmp_path
) -> None:
    bootstrap = own_kafka.start()
    log = tmp_path / "gunicorn.log"
    server, base = start_gunicorn(
        "tests.recorder.case_app:app",
        {
            "RECORDER_SINK": "kafka",
            "RECORDER_DELIVERY": "process",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "RECORDING_TOPIC": "http_recordings",
            "RECORDER_FLUSH_TIMEOUT": "2",
        },
        log,
    )
    try:
        wait_until_up(base + "/counts", server)
        for _ in range(5):
            requests.get(base + "/ping", timeout=30)
        # the child is connected once these are in the topic
        assert len(consume(bootstrap, "http_recordings", 5)) == 5
        own_kafka.kill_broker()
        # kafka-python logs several lines a second while it reconnects; once
        # nothing is confirmed for STALL_SECONDS the child says so, and the
        # worker counts exchanges as dropped without capturing them
        shed = "recorder: dropping exchanges (Kafka confirms nothing)"
        until = time.monotonic() + 60
        while not any(line.startswith(shed) for line in log.read_text().splitlines()):
            assert time.monotonic() < until, "the worker never stopped capturing"
            assert requests.get(base + "/ping", timeout=30).status_code == 200
            time.sleep(0.05)
    finally:
        stop_process(server)

    lines = log.read_text().splitlines()
    from_kafka = [line for line in lines if "kafka-python:" in line]
    assert 1 <= len(from_kafka) <= 2, from_kafka
    assert not any("Traceback" in line for line in lines)


def test_settings_the_child_cannot_receive_are_refused_at_start() -> None:
    import ssl

    from recorder.config import RecorderOptions

    options = RecorderOptions(
        sink="kafka", producer_config={"ssl_context": ssl.create_default_context()}
    )
    with pytest.raises(ValueError, match="cannot be sent to its delivery child"):
        ProcessKafkaSink(options)


def test_a_child_that_took_no_settings_is_not_left_behind(monkeypatch) -> None:
    from recorder.config import RecorderOptions

    sink = ProcessKafkaSink(RecorderOptions(sink="kafka"))
    started = []
    popen = process.subprocess.Popen

    def keep(*args: Any, **kwargs: Any) -> Any:
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(process.subprocess, "Popen", keep)
    monkeypatch.setattr(sink, "_write", lambda child, data: False)
    assert sink._ensure_child() is False
    (child,) = started
    # killed and reaped, not waiting for settings that will never come
    assert child.returncode is not None
    assert child.stdin.closed and child.stdout.closed


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_workers_recycled_while_kafka_is_unreachable_leave_at_once(
    tmp_path, delivery: str
) -> None:
    log = tmp_path / "gunicorn.log"
    env = {
        "RECORDER_SINK": "kafka",
        "RECORDER_DELIVERY": delivery,
        # nothing listens there: no broker ever answers
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "RECORDER_FLUSH_TIMEOUT": "60",
    }
    config = ("--config", "server/gunicorn.conf.py", "--max-requests", "15")
    # gunicorn gives a stopping worker the whole flush timeout
    grace = ("--graceful-timeout", "90")
    server, base = start_gunicorn("server.wsgi:app", env, log, *config, *grace)
    try:
        wait_until_up(base + "/healthz", server)
        for _ in range(50):
            # the one worker is recycled every 15 requests; one that waited
            # out the flush timeout for a broker that never answers would
            # leave this request unanswered past its deadline
            response = requests.get(base + "/users", timeout=15)
            assert response.status_code == 200
    finally:
        stop_process(server)
    text = log.read_text()
    assert text.count("Booting worker") >= 4
    assert "Traceback" not in text
    # each recycled worker said why it did not wait
    said = "Kafka does not answer" if delivery == "process" else "is not answering"
    assert text.count(said) >= 3
