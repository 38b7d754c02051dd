"""Sources: file format detection, file reading, and the Kafka group member."""

import collections
import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.errors import (
    FencedInstanceIdError,
    InconsistentGroupProtocolError,
    KafkaConnectionError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
    UnsupportedCodecError,
)

from spec_from_stream.exchange import BadMessage
from spec_from_stream.fetcher import FetcherProcess
from spec_from_stream.sources import (
    KafkaSettings,
    KafkaSource,
    RetryWarnings,
    SourceError,
    _KafkaTrouble,
    detect_format,
    fatal_reason,
    open_file,
)
from tests.conftest import ROOT, create_topic, free_port

HAR = {
    "log": {
        "entries": [
            {"request": {"method": "GET", "url": "http://a.test/x", "headers": []}},
            {"request": {}},
        ]
    }
}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("x.har", "{}", "har"),
        ("x.jsonl", '{"log": 1}', "jsonl"),
        ("x.txt", '{"request": {"method": "get"}}\n{"request": {}}\n', "jsonl"),
        ("x.txt", json.dumps(HAR, indent=2), "har"),
        ("x.json", json.dumps(HAR), "har"),
        ("x", "\n\n", "jsonl"),
        ("x", "\ufeff" + json.dumps(HAR), "har"),
        ("x", '\ufeff{"request": {"method": "get"}}\n', "jsonl"),
        # JSON Lines whose first record was cut short: one bad line, not HAR
        ("x.json", '{"request": {"meth\n{"request": {}}\n', "jsonl"),
        ("x.json", '{"log": {\n"entries": []}}\n', "har"),
        ("x.json", '{"log": {"entries": []\n}}\n', "har"),
    ],
)
def test_format_is_told_by_extension_then_content(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)

    assert detect_format(path) == expected


def test_json_lines_yield_raw_lines_with_their_numbers(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \nnot json\n')

    assert list(open_file(path)) == [
        (b'{"a": 1}\n', "line 1"),
        (b"not json\n", "line 4"),
    ]


@pytest.mark.parametrize(
    "content",
    [
        b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n',
        # files joined with `cat` carry the second one's mark inside
        b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n',
    ],
    ids=["first-line", "inside"],
)
def test_a_byte_order_mark_is_dropped(tmp_path, content):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)

    assert list(open_file(path)) == [
        (b'{"a": 1}\n', "line 1"),
        (b'{"b": 2}\n', "line 2"),
    ]


@pytest.mark.parametrize("name", ["in.jsonl.gz", "in.gz", "in"])
def test_gzip_json_lines_are_read_as_they_are(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b'{"a": 1}\n\n{"b": 2}\n'))

    assert list(open_file(path)) == [
        (b'{"a": 1}\n', "line 1"),
        (b'{"b": 2}\n', "line 3"),
    ]


def test_a_gzip_file_cut_short_keeps_the_lines_before_and_warns(tmp_path, caplog):
    lines = b"".join(b'{"n": %d}\n' % n for n in range(5000))
    packed = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])

    with caplog.at_level(logging.WARNING):
        read = list(open_file(path))

    assert 0 < len(read) < 5000
    assert read[-2] == (b'{"n": %d}\n' % (len(read) - 2), f"line {len(read) - 1}")
    assert "cannot be decompressed" in caplog.text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", ["in.jsonl", "in"])
def test_utf16_json_lines_are_read_as_utf8(tmp_path, name, encoding):
    # what Windows PowerShell's `>` writes: UTF-16 after its byte order mark
    path = tmp_path / name
    path.write_bytes(('\ufeff{"a": "é"}\n\n{"b": 2}\n').encode(encoding))

    assert list(open_file(path)) == [
        ('{"a": "é"}\n'.encode(), "line 1"),
        (b'{"b": 2}\n', "line 3"),
    ]


@pytest.mark.parametrize(
    "encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
)
def test_utf16_or_utf32_json_lines_without_a_byte_order_mark_are_read(
    tmp_path, encoding
):
    path = tmp_path / "in.jsonl"
    path.write_bytes('{"a": "é"}\n{"b": 2}\n'.encode(encoding))

    assert list(open_file(path)) == [
        ('{"a": "é"}\n'.encode(), "line 1"),
        (b'{"b": 2}\n', "line 2"),
    ]


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be", "utf-16-le"])
def test_gzip_of_utf32_or_utf16_json_lines_is_read_as_utf8(tmp_path, encoding):
    path = tmp_path / "in.jsonl.gz"
    text = '\ufeff{"a": "é"}\n{"b": 2}\n'
    path.write_bytes(gzip.compress(text.encode(encoding)))

    assert list(open_file(path)) == [
        ('{"a": "é"}\n'.encode(), "line 1"),
        (b'{"b": 2}\n', "line 2"),
    ]


def test_utf16_json_lines_from_standard_input_are_read_as_utf8():
    text = '\ufeff{"a": "é"}\n'.encode("utf-16-le")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from spec_from_stream.sources import open_file; "
            "print(list(open_file('-')))",
        ],
        input=text,
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.decode().strip() == repr([('{"a": "é"}\n'.encode(), "line 1")])


def test_a_utf16_har_is_read_as_utf8(tmp_path):
    path = tmp_path / "capture.har"
    path.write_bytes(("\ufeff" + json.dumps(HAR, indent=2)).encode("utf-16-le"))

    read = list(open_file(path))

    assert read[0][0]["request"]["pathname"] == "/x"
    assert isinstance(read[1][0], BadMessage)


def test_a_broken_utf16_character_is_replaced_and_its_line_kept(tmp_path):
    path = tmp_path / "broken.jsonl"
    # a lone high surrogate (0xD800) inside the second line's value
    head = '\ufeff{"a": 1}\n{"b": "'.encode("utf-16-le")
    path.write_bytes(head + b"\x00\xd8" + '"}\n'.encode("utf-16-le"))

    assert list(open_file(path)) == [
        (b'{"a": 1}\n', "line 1"),
        ('{"b": "\ufffd"}\n'.encode(), "line 2"),
    ]


def test_a_har_that_is_not_utf8_is_named_so(tmp_path):
    path = tmp_path / "latin1.har"
    path.write_bytes(
        json.dumps(HAR, ensure_ascii=False).replace("x", "é").encode("latin-1")
    )

    with pytest.raises(SourceError, match="is not UTF-8 text, as HAR files are"):
        open_file(path)


def test_a_json_array_of_exchanges_yields_each_item(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"a": 1}, {"b": [2]}], indent=2))

    assert list(open_file(path)) == [
        (b'{"a":1}', "item 0"),
        (b'{"b":[2]}', "item 1"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("x.zip", b"PK\x03\x04rest", "zip archive: unpack"),
        ("x.json", b"[1, 2", "neither JSON Lines nor a JSON array"),
    ],
)
def test_archives_and_broken_arrays_are_one_line(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(SourceError, match=fragment):
        list(open_file(path))


@pytest.mark.parametrize("name", ["capture.har.gz", "capture.gz"])
def test_a_gzip_har_is_read_as_it_is(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(json.dumps(HAR, indent=2).encode()))

    (first, _), (second, _) = list(open_file(path))

    assert first["request"]["pathname"] == "/x"
    assert isinstance(second, BadMessage)


def test_one_pretty_printed_exchange_is_one_message(tmp_path):
    exchange = {"request": {"method": "get", "pathname": "/a"}, "response": {}}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(exchange, indent=4))

    assert list(open_file(path)) == [
        (json.dumps(exchange).replace(" ", "").encode(), "the whole file")
    ]


def test_har_yields_exchanges_and_the_entries_it_cannot_convert(tmp_path):
    path = tmp_path / "capture.har"
    path.write_text(json.dumps(HAR))

    (first, where0), (second, where1) = list(open_file(path))

    assert first["request"]["pathname"] == "/x"
    assert isinstance(second, BadMessage)
    assert (where0, where1) == ("entry 0", "entry 1")


def test_missing_or_broken_files_are_source_errors(tmp_path):
    with pytest.raises(SourceError, match="input file not found"):
        open_file(tmp_path / "missing.jsonl")
    broken = tmp_path / "broken.har"
    broken.write_text("{")
    with pytest.raises(SourceError, match="not a HAR file"):
        open_file(broken)


def test_unreachable_broker_is_a_source_error_after_the_wait():
    source = KafkaSource(
        KafkaSettings(f"127.0.0.1:{free_port()}", "t", "g", connect_timeout=1),
        {},
        threading.Lock(),
        lambda: None,
    )

    with pytest.raises(SourceError, match="cannot reach Kafka"):
        source.start()


@pytest.mark.parametrize("topic", ["", "bad/name"])
def test_a_topic_name_kafka_refuses_is_a_source_error(kafka_bootstrap, topic):
    source = KafkaSource(
        KafkaSettings(kafka_bootstrap, topic, "g", connect_timeout=30),
        {},
        threading.Lock(),
        lambda: None,
    )

    with pytest.raises(SourceError, match="cannot read topic"):
        source.start()
    assert source.consumer is None


def test_assigned_partitions_start_at_saved_offsets_or_the_beginning(kafka_bootstrap):
    topic = create_topic(kafka_bootstrap, f"sources_{free_port()}", partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for partition in (0, 1):
        for number in range(10):
            producer.send(topic, f"{partition}-{number}".encode(), partition=partition)
    producer.flush()
    producer.close()

    revoked = []
    source = KafkaSource(
        KafkaSettings(kafka_bootstrap, topic, f"group_{topic}", connect_timeout=30),
        {0: 6},
        threading.Lock(),
        lambda: revoked.append(True),
    )
    source.start()
    seen: dict[int, list[int]] = {0: [], 1: []}
    deadline = time.monotonic() + 60
    try:
        while len(seen[0]) < 4 or len(seen[1]) < 10:
            assert time.monotonic() < deadline, f"only got {seen}"
            for partition, (offsets, values) in source.poll(500).items():
                seen[partition].extend(offsets)
                assert [int(v.split(b"-")[1]) for v in values] == offsets
    finally:
        source.close()

    assert seen == {0: [6, 7, 8, 9], 1: list(range(10))}
    # leaving the group gives the partitions back: the reader saves first
    assert revoked


@pytest.mark.parametrize("in_child", [False, True], ids=["one", "child"])
def test_each_poll_says_how_many_records_wait_past_it(kafka_bootstrap, in_child):
    topic = create_topic(kafka_bootstrap, f"sources_{free_port()}", partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=50)
    for number in range(12_000):
        producer.send(topic, b"%d" % number)
    producer.flush()
    producer.close()

    settings = KafkaSettings(kafka_bootstrap, topic, f"group_{topic}", 30)
    lock = threading.Lock()
    source_class = FetcherProcess if in_child else KafkaSource
    source = source_class(settings, {}, lock, lambda: None)
    source.start()
    read = 0
    polls: list[tuple[int, int]] = []
    deadline = time.monotonic() + 120
    try:
        while read < 12_000:
            assert time.monotonic() < deadline, f"only read {read}: {polls}"
            batch = source.poll(500)
            if batch:
                [(offsets, _)] = batch.values()
                read += len(offsets)
                polls.append((offsets[-1], source.waiting))
    finally:
        source.close()

    # what the partition holds past each poll's last record, and nothing at the end
    assert all(waiting == 12_000 - last - 1 for last, waiting in polls), polls
    assert polls[0][1] > 0
    assert polls[-1][1] == 0


@pytest.mark.parametrize("in_child", [False, True], ids=["one", "child"])
def test_what_waits_counts_the_partitions_a_poll_did_not_bring(
    kafka_bootstrap, in_child
):
    topic = create_topic(kafka_bootstrap, f"sources_{free_port()}", partitions=3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=50)
    # large enough that one fetch of a partition is less than a poll, so
    # polls bring some partitions only
    padding = b" " * 2_000
    counts = {0: 9_000, 1: 6_000, 2: 3_000}
    for partition, count in counts.items():
        for number in range(count):
            producer.send(topic, b"%d%s" % (number, padding), partition=partition)
    producer.flush()
    producer.close()

    settings = KafkaSettings(kafka_bootstrap, topic, f"group_{topic}", 30)
    source_class = FetcherProcess if in_child else KafkaSource
    source = source_class(settings, {}, threading.Lock(), lambda: None)
    source.start()
    left = dict(counts)
    seen: set[int] = set()
    # per poll once all partitions were seen: what is left, what the source
    # says waits, and whether a partition left out of the poll held records
    # (timing decides whether any does: the unit test below makes sure)
    polls: list[tuple[int, int, bool]] = []
    deadline = time.monotonic() + 120
    try:
        while sum(left.values()):
            assert time.monotonic() < deadline, f"{left} left: {polls}"
            batch = source.poll(500)
            for partition, (offsets, _) in batch.items():
                left[partition] -= len(offsets)
            seen |= set(batch)
            if batch and len(seen) == 3:
                skipped = any(left[p] for p in counts if p not in batch)
                polls.append((sum(left.values()), source.waiting, skipped))
    finally:
        source.close()

    assert polls, "no poll after all three partitions were seen"
    assert all(waiting == remaining for remaining, waiting, _ in polls), polls
    assert polls[-1][1] == 0


def test_kafka_errors_become_one_warning_until_reading_resumes(caplog):
    caplog.set_level(logging.INFO, logger="spec_from_stream.sources")
    trouble = _KafkaTrouble(interval=30.0)
    kafka_logger = logging.getLogger("kafka.test_trouble")
    kafka_logger.propagate = False
    kafka_logger.addHandler(trouble)
    try:
        kafka_logger.error("Connection failed before start")
        trouble.active = True
        # the reader stops with its own line on these: no "keeps retrying"
        kafka_logger.error("join failed due to fatal error: FencedInstanceIdError")
        for _ in range(5):
            kafka_logger.error("Connection failed: 111 ECONNREFUSED")
        trouble.recovered()
        trouble.recovered()
    finally:
        kafka_logger.removeHandler(trouble)

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("spec_")]
    assert lines == [
        "Kafka connection trouble (Connection failed: 111 ECONNREFUSED); "
        "kafka-python keeps retrying",
        "reading from Kafka again",
    ]


class _IdleConsumer:
    """A consumer whose group never assigns anything (fake, for the unit)."""

    def __init__(self, assigned=()):
        self.assigned = set(assigned)
        self.closed = False

    def poll(self, timeout_ms, max_records):
        return {}

    def assignment(self):
        return self.assigned

    def close(self, autocommit, timeout_ms):
        self.closed = True


class _RecordsConsumer(_IdleConsumer):
    """Hands over the given polls, with fixed end offsets (fake, for the unit)."""

    def __init__(self, polls, highwater):
        super().__init__(assigned=highwater)
        self.polls = list(polls)
        self.ends = highwater

    def poll(self, timeout_ms, max_records):
        return self.polls.pop(0)

    def highwater(self, tp):
        return self.ends[tp]


def test_what_waits_in_partitions_a_poll_left_out_still_counts():
    record = collections.namedtuple("record", "offset value")
    first, second = TopicPartition("t", 0), TopicPartition("t", 1)
    polls = [
        {first: [record(0, b"a"), record(1, b"b")], second: [record(0, b"c")]},
        # only the first partition: the second still holds 9 records
        {first: [record(2, b"d")]},
    ]
    source = KafkaSource(
        KafkaSettings("127.0.0.1:1", "t", "g"), {}, threading.Lock(), lambda: None
    )
    source.consumer = _RecordsConsumer(polls, {first: 5, second: 10})
    source._waiting_since = None

    source.poll(0)
    assert source.waiting == 3 + 9
    source.poll(0)
    assert source.waiting == 2 + 9
    # a partition taken away no longer counts
    source.consumer.assigned = {first}
    source.consumer.polls.append({first: [record(4, b"e")]})
    source.poll(0)
    assert source.waiting == 0


def test_a_join_that_never_assigns_is_tried_again(monkeypatch, caplog):
    source = KafkaSource(
        KafkaSettings("127.0.0.1:1", "t", "g"), {}, threading.Lock(), lambda: None
    )
    stalled = _IdleConsumer()
    source.consumer = stalled
    source._waiting_since = time.monotonic() - 61
    starts = []

    def start():
        starts.append(True)
        source.consumer = _IdleConsumer(assigned=["t-0"])
        source._waiting_since = time.monotonic()

    monkeypatch.setattr(source, "start", start)
    source.poll(0)
    source.poll(0)
    source.poll(0)

    assert stalled.closed
    assert len(starts) == 1
    assert source._waiting_since is None
    assert "joining the group again" in caplog.text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UnsupportedCodecError("zstd"), "compressed with a codec this Python lacks"),
        (InconsistentGroupProtocolError(), "leave out --group-id"),
        (FencedInstanceIdError(), "run one reader per folder"),
        (TopicAuthorizationFailedError(), "Kafka refused access to topic t"),
        (KafkaConnectionError(), None),
        (NotLeaderForPartitionError(), None),
    ],
)
def test_only_errors_retrying_cannot_mend_are_fatal(error, expected):
    settings = KafkaSettings("127.0.0.1:9", "t", "g", instance_id="host-spec")

    reason = fatal_reason(error, settings)

    if expected is None:
        assert reason is None
    else:
        assert expected in reason and "\n" not in reason


def test_failed_polls_are_warned_at_once_then_every_interval(caplog, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    warnings = RetryWarnings(interval=30.0)

    with caplog.at_level(logging.WARNING):
        for _ in range(10):
            warnings.failed(KafkaConnectionError("down"))
            clock[0] += 1.0
        clock[0] += 25.0
        warnings.failed(KafkaConnectionError("down"))

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "polling Kafka failed, retrying: KafkaConnectionError: down",
        "polling Kafka failed, retrying (9 more since the last warning): "
        "KafkaConnectionError: down",
    ]


def test_a_device_or_folder_is_not_a_missing_file(tmp_path):
    for path in (Path(os.devnull), tmp_path):
        with pytest.raises(SourceError, match="is not a regular file"):
            open_file(path)
