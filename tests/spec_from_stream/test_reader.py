"""The reader core: counting, skipping, offsets and writes (builder faked)."""

import errno
import gc
import json
import logging
import re
import threading

import orjson
import pytest

from spec_from_stream.config import BEHIND_WRITE_INTERVAL, WRITE_INTERVAL
from spec_from_stream.exchange import BadMessage
from spec_from_stream.reader import (
    GC_THRESHOLD,
    BuildOptions,
    KafkaReader,
    Reader,
    build_from_file,
    instance_id_for,
)
from spec_from_stream.sources import MAX_POLL_RECORDS
from spec_from_stream.state import StateError
from spec_from_stream.writer import OutputError
from tests.conftest import SHARED


def records(first: int, *values) -> tuple[list[int], list]:
    """One partition's messages in the columns a poll returns."""
    return list(range(first, first + len(values))), list(values)


TUTORIAL = SHARED / "cases" / "spec" / "10-tutorial-users" / "input.jsonl"
TUTORIAL_LINE = TUTORIAL.read_bytes().splitlines()[0]


def exchange_bytes(path: str) -> bytes:
    request = {"method": "get", "host": "a.test", "pathname": path}
    request["headers"] = {"authorization": "Bearer s3cr3t"}
    return orjson.dumps({"request": request, "response": {"statusCode": 200}})


class FakeBuilder:
    """Records the pathnames it is given; fails on /boom."""

    def __init__(self):
        self.paths = []
        self.exchanges = 0
        self.render_fails = False

    def add(self, exchange):
        if exchange["request"]["pathname"] == "/boom":
            raise RuntimeError(f"bug near {exchange['request']['headers']}")
        self.paths.append(exchange["request"]["pathname"])
        self.exchanges += 1

    def operation_count(self):
        return len(set(self.paths))

    def render(self, version):
        if self.render_fails:
            raise RuntimeError("render bug")
        return {"a.test": {"openapi": version, "paths": sorted(set(self.paths))}}


@pytest.fixture
def reader(tmp_path):
    made = Reader(tmp_path, BuildOptions())
    made.builder = FakeBuilder()
    return made


def test_records_advance_offsets_and_counts(reader):
    reader.add_records(
        {
            0: records(0, exchange_bytes("/a"), b"nope"),
            2: records(7, exchange_bytes("/b")),
        }
    )

    assert reader.offsets == {0: 2, 2: 8}
    assert reader.counts.read == 3
    assert reader.counts.skipped == {"not_json": 1}
    assert reader.builder.paths == ["/a", "/b"]
    assert reader.schedule.dirty


def test_records_already_in_the_builder_are_not_counted_twice(reader):
    first = records(0, exchange_bytes("/a"), exchange_bytes("/b"))
    reader.add_records({0: first})

    # a rebalance sought back to offset 1 after 0..1 were fetched again
    reader.add_records({0: records(1, exchange_bytes("/b"), exchange_bytes("/c"))})
    reader.add_records({0: first})
    reader.add_records({0: ([], [])})

    assert reader.builder.paths == ["/a", "/b", "/c"]
    assert reader.counts.read == 3
    assert reader.offsets == {0: 3}


def test_each_kind_of_bad_message_is_logged_once_with_its_position(reader, caplog):
    reader.add_records({1: records(0, b"nope", b"nope again", b"\x00", None)})

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert reader.counts.skipped_total == 4
    assert len(warnings) == len(reader.counts.skipped)
    assert "partition 1 offset 0" in warnings[0]
    assert "nope" not in caplog.text


def test_tombstones_and_empty_messages_are_counted_as_empty(reader):
    reader.add_records({0: records(0, None, b"", exchange_bytes("/a"))})

    assert reader.counts.skipped == {"empty": 2}
    assert reader.builder.paths == ["/a"]


def test_a_builder_failure_is_counted_and_reading_goes_on(reader, caplog):
    reader.add_records({0: records(0, exchange_bytes("/boom"), exchange_bytes("/a"))})
    reader.add_message(exchange_bytes("/boom"), "line 3")

    assert reader.counts.skipped == {"builder_error": 2}
    assert reader.builder.paths == ["/a"]
    assert caplog.text.count("the builder failed") == 1
    assert "RuntimeError" in caplog.text and "in add" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_file_messages_of_every_form_are_ingested(reader):
    reader.add_message(exchange_bytes("/a"), "line 1")
    reader.add_message(json.loads(exchange_bytes("/b")), "entry 0")
    reader.add_message(BadMessage("not_exchange", "no request"), "entry 1")

    assert reader.builder.paths == ["/a", "/b"]
    assert reader.counts.read == 3
    assert reader.counts.skipped == {"not_exchange": 1}


def test_render_failure_is_logged_once_and_written_later(reader, tmp_path, caplog):
    reader.add_message(exchange_bytes("/a"), "line 1")
    reader.builder.render_fails = True

    assert reader.write_documents() == []
    assert reader.write_documents() == []
    reader.builder.render_fails = False
    assert reader.write_documents() == [tmp_path / "openapi.yaml"]
    assert caplog.text.count("rendering the document failed") == 1


def test_build_from_file_counts_every_line(tmp_path):
    source = tmp_path / "in.jsonl"
    lines = TUTORIAL.read_bytes().splitlines()
    source.write_bytes(b"\n".join([*lines, b"", b"garbage", b"[1]"]) + b"\n")

    reader = build_from_file(source, tmp_path / "out", BuildOptions())

    assert reader.counts.read == len(lines) + 2
    assert reader.counts.skipped_total == 2
    assert reader.builder.exchanges == len(lines)
    assert (tmp_path / "out" / "openapi.yaml").is_file()


@pytest.mark.parametrize(
    "builder_state", [{"version": 999, "hosts": {}}, {"surprise": True}, [1, 2, 3]]
)
def test_a_builder_state_the_builder_refuses_is_a_state_error(tmp_path, builder_state):
    state = {
        "format": 1,
        "source": {"kind": "kafka", "topic": "t"},
        "offsets": {"0": 5},
        "counts": {"read": 5, "skipped": {}},
        "builder": builder_state,
    }
    (tmp_path / ".state").mkdir()
    (tmp_path / ".state" / "state.json").write_bytes(orjson.dumps(state))

    with pytest.raises(StateError, match="saved builder state cannot be used"):
        KafkaReader("127.0.0.1:1", "t", "g", tmp_path, BuildOptions())


def test_a_stop_request_ends_a_file_build_without_writing(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([TUTORIAL.read_bytes().splitlines()[0]] * 5000))
    stop = threading.Event()
    stop.set()

    reader = build_from_file(source, tmp_path / "out", BuildOptions(), stop=stop)

    assert reader.counts.read < 5000
    assert not (tmp_path / "out").exists()


def test_group_member_id_is_stable_per_out_folder(tmp_path):
    first = instance_id_for(tmp_path / "spec")

    assert first == instance_id_for(tmp_path / "spec")
    assert first != instance_id_for(tmp_path / "other")
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", first)


def test_an_out_path_that_is_a_file_is_refused_before_reading(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("mine")

    with pytest.raises(OutputError, match="is not a folder"):
        build_from_file(TUTORIAL, taken, BuildOptions())
    with pytest.raises(OutputError, match="cannot write to"):
        build_from_file(TUTORIAL, taken / "spec", BuildOptions())
    assert taken.read_text() == "mine"


def test_the_out_check_leaves_no_folder_behind(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"not json\n")

    build_from_file(source, tmp_path / "a" / "b", BuildOptions())

    assert not (tmp_path / "a").exists()


def test_a_full_disk_while_writing_is_an_output_error(tmp_path, monkeypatch):
    def full(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("spec_from_stream.writer.write_atomic", full)

    with pytest.raises(OutputError, match="No space left on device"):
        build_from_file(TUTORIAL, tmp_path / "out", BuildOptions())


def test_a_live_reader_refuses_an_unwritable_out_at_once(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("mine")

    with pytest.raises(OutputError, match="cannot write to"):
        KafkaReader("127.0.0.1:1", "t", "g", taken / "spec", BuildOptions())


def test_a_failing_save_is_warned_about_once_until_it_works(
    tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger="spec_from_stream")
    live = KafkaReader("127.0.0.1:1", "t", "g", tmp_path, BuildOptions())
    save = live.store.save

    def full(state):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(live.store, "save", full)
    results = [live._save_and_write() for _ in range(3)]
    monkeypatch.setattr(live.store, "save", save)
    results.append(live._save_and_write())

    assert results == [False, False, False, True]
    assert caplog.text.count("No space left on device") == 1
    assert "work again" in caplog.text


@pytest.fixture
def gc_threshold():
    """Python's collection thresholds, put back after the test."""
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_reading_a_file_collects_cycles_less_often(tmp_path, gc_threshold):
    gc.set_threshold(700, 10, 10)
    build_from_file(TUTORIAL, tmp_path / "out", BuildOptions())
    assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)
    # a process that already collects even less often is left as it is
    gc.set_threshold(GC_THRESHOLD * 2, 5, 5)
    build_from_file(TUTORIAL, tmp_path / "again", BuildOptions())
    assert gc.get_threshold() == (GC_THRESHOLD * 2, 5, 5)


def test_a_folder_in_use_is_refused_until_its_reader_lets_go(tmp_path):
    live = KafkaReader("127.0.0.1:1", "t", "g", tmp_path, BuildOptions())

    with pytest.raises(StateError, match="another reader is using"):
        KafkaReader("127.0.0.1:1", "other", "g", tmp_path, BuildOptions())
    live.store.release()
    KafkaReader("127.0.0.1:1", "t", "g", tmp_path, BuildOptions()).store.release()


def test_a_file_build_is_refused_on_a_folder_a_live_reader_uses(tmp_path):
    live = KafkaReader("127.0.0.1:1", "t", "g", tmp_path, BuildOptions())
    try:
        # the build would replace the live reader's document with its own
        with pytest.raises(StateError, match="another reader is using"):
            build_from_file(TUTORIAL, tmp_path, BuildOptions())
        assert not (tmp_path / "openapi.yaml").exists()
    finally:
        live.store.release()
    build_from_file(TUTORIAL, tmp_path, BuildOptions())
    assert (tmp_path / "openapi.yaml").exists()


class FakeSource:
    """Hands over the given polls, (records, records still waiting) each, then
    sets stop."""

    def __init__(self, polls: list[tuple[int, int]], stop: threading.Event) -> None:
        self.polls = list(polls)
        self.stop = stop
        self.offset = 0
        self.waiting = 0
        self.topic_id = None

    def start(self) -> None:
        pass

    def poll(self, timeout_ms: int) -> dict:
        count, self.waiting = self.polls.pop(0)
        if not self.polls:
            self.stop.set()
        if not count:
            return {}
        offsets = list(range(self.offset, self.offset + count))
        self.offset += count
        return {0: (offsets, [TUTORIAL_LINE] * count)}

    def close(self) -> None:
        pass


BEHIND = (MAX_POLL_RECORDS, 4 * MAX_POLL_RECORDS)


@pytest.mark.parametrize(
    ("polls", "interval"),
    [
        ([(10, 0), BEHIND], BEHIND_WRITE_INTERVAL),
        ([BEHIND, (10, 0)], WRITE_INTERVAL),
        # caught up exactly: the next poll is empty
        ([BEHIND, (0, 0)], WRITE_INTERVAL),
        # records bigger than a fetch's worth make shorter polls, still behind
        ([BEHIND, (3750, 4 * MAX_POLL_RECORDS)], BEHIND_WRITE_INTERVAL),
        ([(MAX_POLL_RECORDS, MAX_POLL_RECORDS)], WRITE_INTERVAL),
    ],
)
def test_the_live_reader_writes_less_often_while_it_is_behind(
    tmp_path, polls, interval
):
    live = KafkaReader("127.0.0.1:1", "t", "g", tmp_path, BuildOptions())
    stop = threading.Event()
    live.source = FakeSource(polls, stop)

    assert live.run(stop)

    assert live.reader.schedule.interval == interval
    assert live.reader.counts.read == sum(count for count, _ in polls)
