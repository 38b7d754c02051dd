"""The JSON Lines file sink and the skip rules, through the middleware."""

import time
from pathlib import Path
from typing import Any

import requests

import recorder
from recorder import RecordingMiddleware
from tests.recorder.conftest import assert_valid, read_jsonl


def wait_recorded(before: dict[str, int], count: int) -> None:
    """Servers finish a record after the client has its answer: wait for it."""
    deadline = time.monotonic() + 20
    while recorder.stats()["recorded"] - before["recorded"] < count:
        assert time.monotonic() < deadline, "exchanges were not recorded"
        time.sleep(0.05)


def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_file_sink_appends_one_valid_line_per_exchange(
    tmp_path: Path, thread_server: Any
) -> None:
    path = tmp_path / "deep" / "recordings.jsonl"
    middleware = RecordingMiddleware(hello_app, sink=f"file:{path}")
    before = recorder.stats()
    try:
        base = thread_server(middleware)
        for number in range(20):
            assert requests.get(f"{base}/items/{number}", timeout=30).text == "hello"
        assert requests.get(f"{base}/healthz", timeout=30).text == "hello"
        assert requests.options(f"{base}/items", timeout=30).text == "hello"
        wait_recorded(before, 20)
    finally:
        middleware.sink.close(10)
    lines = read_jsonl(path)
    assert len(lines) == 20
    for exchange in lines:
        assert_valid(exchange)
    assert sorted(line["request"]["pathname"] for line in lines) == sorted(
        f"/items/{number}" for number in range(20)
    )
    after = recorder.stats()
    assert after["delivered"] - before["delivered"] == 20
    assert after["skipped"] - before["skipped"] == 2
    assert path.read_text().count("\n") == 20


def test_sampling_records_a_share(tmp_path: Path, thread_server: Any) -> None:
    path = tmp_path / "sampled.jsonl"
    middleware = RecordingMiddleware(hello_app, sink=f"file:{path}", sample_rate=0.0)
    try:
        base = thread_server(middleware)
        for _ in range(10):
            requests.get(f"{base}/x", timeout=30)
    finally:
        middleware.sink.close(5)
    assert read_jsonl(path) == []


def test_off_records_nothing(thread_server: Any) -> None:
    middleware = RecordingMiddleware(hello_app, sink="off")
    assert middleware.sink is None
    base = thread_server(middleware)
    assert requests.get(f"{base}/x", timeout=30).text == "hello"


def test_unwritable_file_counts_failures(tmp_path: Path, thread_server: Any) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    middleware = RecordingMiddleware(hello_app, sink=f"file:{blocker}/rec.jsonl")
    before = recorder.stats()
    try:
        base = thread_server(middleware)
        assert requests.get(f"{base}/x", timeout=30).text == "hello"
        wait_recorded(before, 1)
    finally:
        middleware.sink.close(5)
    after = recorder.stats()
    assert after["failed"] - before["failed"] == 1


def test_unwritable_file_is_one_warning_without_traceback(
    tmp_path: Path, thread_server: Any, caplog: Any
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    middleware = RecordingMiddleware(hello_app, sink=f"file:{blocker}/rec.jsonl")
    before = recorder.stats()
    try:
        base = thread_server(middleware)
        for _ in range(3):
            # one at a time, so each exchange is a batch of its own
            assert requests.get(f"{base}/x", timeout=30).text == "hello"
            deadline = time.monotonic() + 20
            while recorder.stats()["failed"] == before["failed"]:
                assert time.monotonic() < deadline, "the failure was not counted"
                time.sleep(0.05)
            before = recorder.stats()
    finally:
        middleware.sink.close(5)
    records = [r for r in caplog.records if r.name.startswith("recorder")]
    # besides the counters' lines (the last one at close), one warning
    warnings = [
        r
        for r in records
        if r.levelname == "WARNING" and "recorded=" not in r.getMessage()
    ]
    assert len(warnings) == 1 and str(blocker) in warnings[0].getMessage()
    assert not any(r.exc_info for r in records)
