"""The broker SIGKILLed under steady load, then restarted: nothing lost silently."""

from __future__ import annotations

import time

import pytest

from recorder.sinks.kafka import PRODUCER_DEFAULTS
from tests.reliability.broker import BrokerCrash
from tests.reliability.figures import write_figures
from tests.reliability.load import Load, demo_calls
from tests.reliability.processes import recorder_stats, wait_for_drain
from tests.reliability.topic import read_topic, request_ids

pytestmark = pytest.mark.slow

TOPIC = "http_recordings"
# requests per second over all clients: steady, and light on a shared machine
RATE = 40
# longer than the recorder gives the broker to confirm a send, so sends made
# just before the crash expire and must be counted as failed
OUTAGE_SECONDS = PRODUCER_DEFAULTS["delivery_timeout_ms"] / 1000 + 10


def wait_until(condition, deadline: float, what: str) -> None:
    """Poll condition until it is true; fail naming what did not happen."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"waited {deadline:g}s for {what}")
        time.sleep(0.5)


def test_broker_killed_under_load_loses_nothing_silently(own_kafka, start_server):
    bootstrap = own_kafka.start()
    server = start_server(
        bootstrap=bootstrap, topic=TOPIC, app="tests.reliability.stats_app:app"
    )
    load = Load(server.base_url, demo_calls, clients=4, rate=RATE).start()
    try:
        wait_until(lambda: load.sent_so_far() >= 100, 60, "100 requests answered")
        wait_until(
            lambda: recorder_stats(server)["delivered"] > 0, 60, "a first delivery"
        )
        crash = BrokerCrash(own_kafka)
        crash.kill()
        sent_at_kill = load.sent_so_far()
        downtime = crash.restart(down_for=OUTAGE_SECONDS)
        sent_at_restart = load.sent_so_far()
        delivered_at_restart = recorder_stats(server)["delivered"]
        # recording resumes by itself: new deliveries while the load goes on
        wait_until(
            lambda: recorder_stats(server)["delivered"] > delivered_at_restart + 50,
            120,
            "deliveries after the broker came back",
        )
    finally:
        steady = load.stop()

    # once what was held during the outage has drained, every new exchange
    # arrives: a last batch checks it
    wait_for_drain(server)
    final = Load(server.base_url, demo_calls, clients=4, total=100, rate=RATE)
    final = final.start().wait()
    stats = wait_for_drain(server)
    messages = read_topic(bootstrap, TOPIC, at_least=stats["delivered"])
    on_topic = request_ids(messages)
    duplicates = sum(count - 1 for count in on_topic.values())
    sent_ids = set(steady.request_ids) | set(final.request_ids)
    sent = steady.sent + final.sent

    figures = {
        "requests_sent": sent,
        "requests_failed": steady.failed + final.failed,
        "sent_before_kill": sent_at_kill,
        "sent_while_down": sent_at_restart - sent_at_kill,
        "broker_down_seconds": round(downtime, 1),
        "recorded": stats["recorded"],
        "delivered": stats["delivered"],
        "dropped": stats["dropped"],
        "failed_sends": stats["failed"],
        "messages_on_topic": len(messages),
        "unique_on_topic": len(on_topic),
        "duplicates": duplicates,
        "final_batch_on_topic": len(set(final.request_ids) & set(on_topic)),
    }
    write_figures("broker_crash", figures)

    assert steady.errors == [] and final.errors == []
    assert steady.server_errors == 0 and final.server_errors == 0
    assert stats["recorded"] == sent
    assert stats["recorded"] == stats["delivered"] + stats["dropped"] + stats["failed"]
    assert set(on_topic) <= sent_ids
    assert stats["delivered"] <= len(on_topic) <= stats["delivered"] + stats["failed"]
    assert duplicates <= stats["failed"]
    assert set(final.request_ids) <= set(on_topic)
