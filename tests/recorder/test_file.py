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


def file_sink(path: Path):
    from recorder.sinks.file import FileSink

    # deliver() is called directly: no sender thread, one batch at a time
    return FileSink(str(path), encode=lambda item: item)


def test_a_rotated_file_is_started_anew(tmp_path: Path) -> None:
    path = tmp_path / "recordings.jsonl"
    sink = file_sink(path)
    sink.deliver([b'{"n": 1}'])
    # moved away, as logrotate does
    path.rename(tmp_path / "recordings.jsonl.1")
    sink.deliver([b'{"n": 2}'])
    assert (tmp_path / "recordings.jsonl.1").read_bytes() == b'{"n": 1}\n'
    assert path.read_bytes() == b'{"n": 2}\n'
    # removed
    path.unlink()
    sink.deliver([b'{"n": 3}'])
    assert path.read_bytes() == b'{"n": 3}\n'


def test_a_write_cut_short_counts_whole_lines_and_ends_the_cut_one(
    tmp_path: Path, monkeypatch
) -> None:
    import errno

    from recorder.sinks import file

    path = tmp_path / "recordings.jsonl"
    sink = file_sink(path)
    write = file.os.write
    room = [12]

    def full_disk(descriptor: int, data: bytes) -> int:
        # the first line and part of the second fit, then the disk is full
        if not room[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = write(descriptor, data[: room[0]])
        room[0] -= written
        return written

    before = recorder.stats()
    monkeypatch.setattr(file.os, "write", full_disk)
    sink.deliver([b'{"n": 1}', b'{"n": 2}', b'{"n": 3}'])
    monkeypatch.setattr(file.os, "write", write)
    sink.deliver([b'{"n": 4}'])

    after = recorder.stats()
    assert after["delivered"] - before["delivered"] == 2
    assert after["failed"] - before["failed"] == 2
    assert path.read_bytes().split(b"\n") == [b'{"n": 1}', b'{"n', b'{"n": 4}', b""]
