"""gunicorn --preload with four workers: every exchange arrives exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.figures import write_figures
from tests.reliability.load import Load, demo_calls
from tests.reliability.processes import ServerProcess, recorder_stats
from tests.reliability.topic import read_topic, request_ids

pytestmark = pytest.mark.slow

REQUESTS = 2000
CLIENTS = 20
WORKERS = 4


def counters_per_worker(server: ServerProcess, rounds: int = 20) -> dict[int, int]:
    """Exchanges recorded by each worker, asked with bursts of parallel requests.

    Each answer comes from whichever worker takes it; bursts reach them all,
    almost always within a few rounds.
    """
    recorded: dict[int, int] = {}
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for _ in range(rounds):
            answers = pool.map(lambda _: recorder_stats(server), range(CLIENTS))
            for stats in answers:
                recorded[stats["pid"]] = stats["recorded"]
            if len(recorded) == WORKERS:
                break
    return recorded


def test_preloaded_workers_deliver_every_exchange_once(
    kafka_bootstrap, kafka_topic, start_server
):
    server = start_server(
        bootstrap=kafka_bootstrap,
        topic=kafka_topic,
        app="tests.reliability.stats_app:app",
        workers=WORKERS,
        threads=4,
        preload=True,
    )
    result = Load(
        server.base_url, demo_calls, clients=CLIENTS, total=REQUESTS, rate=200
    )
    result = result.start().wait()
    recorded_by_worker = counters_per_worker(server)
    # a graceful stop makes each worker flush what it still holds
    server.stop()
    messages = read_topic(kafka_bootstrap, kafka_topic, at_least=REQUESTS)
    on_topic = request_ids(messages)
    duplicates = sum(count - 1 for count in on_topic.values())
    write_figures(
        "preload_workers",
        {
            "workers": WORKERS,
            "recorded_by_worker": sorted(recorded_by_worker.values()),
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
    # the load really went through several forked workers, each recording
    assert sum(1 for count in recorded_by_worker.values() if count > 0) >= 2
    if len(recorded_by_worker) == WORKERS:
        assert sum(recorded_by_worker.values()) == REQUESTS
