"""gunicorn --preload with four workers: every exchange arrives exactly once."""

from __future__ import annotations

import pytest

from tests.reliability.figures import write_figures
from tests.reliability.load import Load, demo_calls
from tests.reliability.topic import read_topic, request_ids

pytestmark = pytest.mark.slow

REQUESTS = 2000
CLIENTS = 20


def test_preloaded_workers_deliver_every_exchange_once(
    kafka_bootstrap, kafka_topic, start_server
):
    server = start_server(
        bootstrap=kafka_bootstrap, topic=kafka_topic, workers=4, threads=4, preload=True
    )
    result = Load(
        server.base_url, demo_calls, clients=CLIENTS, total=REQUESTS, rate=200
    )
    result = result.start().wait()
    # a graceful stop makes each worker flush what it still holds
    server.stop()
    messages = read_topic(kafka_bootstrap, kafka_topic, at_least=REQUESTS)
    on_topic = request_ids(messages)
    duplicates = sum(count - 1 for count in on_topic.values())
    write_figures(
        "preload_workers",
        {
            "workers": 4,
            "clients": CLIENTS,
            "requests_sent": result.sent,
            "requests_failed": result.failed,
            "messages_on_topic": len(messages),
            "duplicates": duplicates,
        },
    )

    assert result.sent == REQUESTS
    assert result.failed == 0
    assert len(messages) == REQUESTS
    assert duplicates == 0
    assert set(on_topic) == set(result.request_ids)
