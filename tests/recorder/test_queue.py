"""The sender queue's bounds, by count and by bytes, and its last log line."""

import logging
import threading
import time
from typing import Any

import pytest

import recorder
from recorder.exchange import Capture
from recorder.sinks.base import QueueSink
from recorder.stats import COUNTERS


class HeldSink(QueueSink):
    """Delivers nothing until released, so exchanges stay queued."""

    name = "held"

    def __init__(self, **bounds: Any) -> None:
        super().__init__(lambda item: b"", **bounds)
        self.release = threading.Event()
        self.delivered: list[Any] = []

    def deliver(self, batch: list[Any]) -> None:
        self.release.wait(30)
        self.delivered += batch
        COUNTERS.add("delivered", len(batch))


def capture(body_bytes: int) -> Capture:
    return Capture(
        "POST", "/a", "", "/a", "", "http", "h", {"HTTP_HOST": "h"}, 1.0, 2.0,
        request_body=b"x" * body_bytes,
    )  # fmt: skip


def test_the_bytes_bound_drops_big_exchanges_and_frees_as_they_leave() -> None:
    sink = HeldSink(queue_bytes=3_500_000)
    before = recorder.stats()
    try:
        # the first is taken by the sender thread (and held there), so at most
        # four of a megabyte each fit: one held, three queued
        for _ in range(10):
            sink.send(capture(1_000_000))
        after = recorder.stats()
        dropped = after["dropped"] - before["dropped"]
        assert after["recorded"] - before["recorded"] == 10
        assert 6 <= dropped <= 7
        assert sink._queued_bytes <= sink.queue_bytes
        sink.release.set()
        sink.close(10)
    finally:
        sink.release.set()
    assert len(sink.delivered) == 10 - dropped
    assert sink._queued_bytes == 0


def test_small_exchanges_are_bound_by_count_not_bytes() -> None:
    sink = HeldSink(queue_size=5)
    before = recorder.stats()
    try:
        for _ in range(20):
            sink.send(capture(10))
        dropped = recorder.stats()["dropped"] - before["dropped"]
        assert 14 <= dropped <= 15
    finally:
        sink.release.set()
        sink.close(10)


def test_closing_logs_the_final_counts(caplog: pytest.LogCaptureFixture) -> None:
    sink = HeldSink()
    sink.release.set()
    sink.send(capture(10))
    # a line was just logged: only the final one at close can appear now
    COUNTERS.maybe_log(force=True)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="recorder"):
        sink.close(10)
        # as atexit does after the server's own exit hook
        sink.close(10)
    lines = [record for record in caplog.records if "recorded=" in record.getMessage()]
    assert len(lines) == 1


def test_a_full_queue_sheds_until_it_drains() -> None:
    sink = HeldSink(queue_size=2)
    try:
        assert sink.shedding() is None
        # the sender thread takes one and holds it; two more fill the queue
        deadline = time.monotonic() + 30
        while sink.shedding() is None:
            assert time.monotonic() < deadline, "the queue never filled"
            sink.send(capture(10))
            time.sleep(0.01)
        assert sink.shedding() == "queue full"
        sink.release.set()
        while sink.shedding() is not None:
            assert time.monotonic() < deadline, "the queue never drained"
            time.sleep(0.01)
    finally:
        sink.release.set()
        sink.close(10)
