"""A server started while Kafka is down, under load: bounded memory, then recovery."""

from __future__ import annotations

import time

import pytest

from tests.reliability.figures import write_figures
from tests.reliability.load import Load, demo_calls
from tests.reliability.processes import recorder_stats, rss_bytes, wait_for_drain
from tests.reliability.topic import read_topic, request_ids

pytestmark = pytest.mark.slow

TOPIC = "http_recordings"
LOAD_SECONDS = 60
RATE = 60
# bodies big enough that keeping every exchange would show in the memory
BODY_BYTES = 32 * 1024
QUEUE_SIZE = 500
MAX_IN_FLIGHT_BYTES = 4 * 1024 * 1024


def heavy_calls(number: int):
    """Every other request carries a 32 KiB JSON body (answered 400, recorded)."""
    if number % 2:
        return demo_calls(number)
    body = {"name": "x" * BODY_BYTES, "email": f"big{number}@example.org"}
    return "POST", "/users", {"json": body}


def test_server_started_with_kafka_down_keeps_memory_bounded(own_kafka, start_server):
    bootstrap = own_kafka.start()
    own_kafka.kill_broker()
    server = start_server(
        bootstrap=bootstrap,
        topic=TOPIC,
        app="tests.reliability.stats_app:app",
        env={
            "RECORDER_QUEUE_SIZE": str(QUEUE_SIZE),
            "RECORDER_MAX_IN_FLIGHT_BYTES": str(MAX_IN_FLIGHT_BYTES),
        },
    )
    (worker,) = server.worker_pids()

    # a short warm-up, so imports and first allocations are in the baseline
    Load(server.base_url, heavy_calls, total=100, rate=RATE).start().wait()
    baseline = rss_bytes(worker)
    samples = []
    load = Load(server.base_url, heavy_calls, clients=4, rate=RATE).start()
    try:
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            time.sleep(1)
            samples.append(rss_bytes(worker))
    finally:
        down = load.stop()
    stats_down = recorder_stats(server)

    own_kafka.start_broker()
    # the backlog held in the queue drains by itself, without a restart
    backlog = wait_for_drain(server)
    # and once it has, every new exchange arrives
    after = Load(server.base_url, demo_calls, clients=4, total=100, rate=RATE)
    after = after.start().wait()
    stats = wait_for_drain(server)
    on_topic = request_ids(read_topic(bootstrap, TOPIC, at_least=stats["delivered"]))
    arrived = set(after.request_ids) & set(on_topic)

    peak_growth = max(samples) - baseline
    # what the caps allow (queue of big exchanges, copies while encoding, the
    # in-flight bytes) plus room for the allocator; keeping every exchange of
    # the minute would need several times more
    allowed = QUEUE_SIZE * BODY_BYTES * 3 + MAX_IN_FLIGHT_BYTES * 2 + 48 * 1024**2
    kept_if_unbounded = down.sent // 2 * BODY_BYTES
    write_figures(
        "broker_down",
        {
            "load_seconds": LOAD_SECONDS,
            "requests_sent_while_down": down.sent,
            "requests_failed": down.failed + after.failed,
            "rss_baseline_mib": round(baseline / 1024**2, 1),
            "rss_peak_growth_mib": round(peak_growth / 1024**2, 1),
            "rss_last_mib": round(samples[-1] / 1024**2, 1),
            "rss_growth_allowed_mib": round(allowed / 1024**2, 1),
            "body_bytes_sent_while_down_mib": round(kept_if_unbounded / 1024**2, 1),
            "counters_while_down": stats_down,
            "counters_after_backlog": backlog,
            "counters_final": stats,
            "after_restart_sent": after.sent,
            "after_restart_on_topic": len(arrived),
        },
    )

    assert down.errors == [] and after.errors == []
    assert down.server_errors == 0 and after.server_errors == 0
    assert stats_down["dropped"] + stats_down["failed"] > 0
    assert peak_growth < allowed
    assert peak_growth < kept_if_unbounded
    assert backlog["delivered"] > stats_down["delivered"]
    assert stats["recorded"] == stats["delivered"] + stats["dropped"] + stats["failed"]
    assert arrived == set(after.request_ids)
