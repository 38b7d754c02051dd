"""The live reader under faults: a broker restart, SIGKILL, hostile messages."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter

import orjson
import pytest

from spec_from_stream import Limits
from tests.conftest import ROOT
from tests.reliability.broker import BrokerCrash
from tests.reliability.exchanges import (
    bad_messages,
    deep_body_exchange,
    deep_meta_exchange,
    distinct_operation_exchanges,
    distinct_path_exchanges,
    encode,
    good_exchange,
    near_limit_exchange,
)
from tests.reliability.figures import write_figures
from tests.reliability.processes import process_exists
from tests.reliability.topic import produce

pytestmark = pytest.mark.slow


def operations(document: dict) -> list[tuple[str, str]]:
    """(method, path) of every operation in an OpenAPI document."""
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return [
        (method, path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in methods
    ]


def schema_depth(value: object) -> int:
    """How many schemas nest inside each other at most (properties, items...)."""
    if isinstance(value, dict):
        inner = [schema_depth(child) for child in value.values()]
        own = 1 if "type" in value or "properties" in value else 0
        return own + max(inner, default=0)
    if isinstance(value, list):
        return max((schema_depth(child) for child in value), default=0)
    return 0


def test_reader_reconnects_after_broker_restart(own_kafka, start_reader):
    bootstrap = own_kafka.start()
    topic = "http_recordings"
    before = [encode(good_exchange(n, "users")) for n in range(200)]
    produce(bootstrap, topic, before)
    reader = start_reader(bootstrap, topic)
    reader.wait_for_read(len(before))

    crash = BrokerCrash(own_kafka)
    crash.kill()
    downtime = crash.restart()
    after = [encode(good_exchange(n, "orders")) for n in range(200)]
    produce(bootstrap, topic, after)
    reader.wait_for_read(len(before) + len(after), deadline=180)
    assert reader.alive()
    # the final state, saved on a clean stop: nothing read twice, nothing lost
    assert reader.stop() == 0
    state = reader.state()

    assert state["counts"]["read"] == len(before) + len(after)
    assert sum(state["counts"]["skipped"].values()) == 0
    paths = {path for _, path in operations(reader.document())}
    assert any(path.startswith("/orders") for path in paths), paths
    write_figures(
        "reader_broker_restart",
        {
            "messages_before_kill": len(before),
            "messages_after_restart": len(after),
            "messages_read": state["counts"]["read"],
            "broker_down_seconds": round(downtime, 1),
            "reader_crashed": False,
        },
    )


def _stream(count: int, offset: int = 0) -> list[bytes]:
    """Good exchanges over two resources with a bad message every 50th."""
    messages = []
    for number in range(offset, offset + count):
        if number % 50 == 49:
            messages.append(b"not json at all")
        else:
            resource = "users" if number % 2 else "orders"
            messages.append(encode(good_exchange(number, resource)))
    return messages


def _produce_paced(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    """Send messages in small batches a moment apart, like live traffic."""
    for start in range(0, len(messages), 50):
        produce(bootstrap, topic, messages[start : start + 50])
        time.sleep(0.1)


def test_reader_killed_and_restarted_ends_as_an_uninterrupted_run(
    kafka_bootstrap, kafka_topic, start_reader, tmp_path
):
    first, second = _stream(1000), _stream(2000, offset=1000)
    total = len(first) + len(second)
    produce(kafka_bootstrap, kafka_topic, first)
    out = tmp_path / "killed"
    group = "killed-reader"
    reader = start_reader(kafka_bootstrap, kafka_topic, out=out, group_id=group)

    # traffic keeps arriving while the reader works; it dies in the middle of
    # it, with messages read since its last save (it saves once a second)
    producing = threading.Thread(
        target=_produce_paced, args=(kafka_bootstrap, kafka_topic, second)
    )
    producing.start()
    reader.wait_for_read(len(first) + 300)
    helpers = reader.children()
    # kill -9 of the reader's process; a helper process it runs must notice
    # and go, or it would keep the partitions from the restarted reader
    reader.kill_main()
    read_at_kill = reader.read_count()
    still_producing = producing.is_alive()
    end = time.monotonic() + 60
    while any(process_exists(pid) for pid in helpers) and time.monotonic() < end:
        time.sleep(0.5)
    orphans = [pid for pid in helpers if process_exists(pid)]
    assert orphans == [], "processes of the killed reader still run"
    producing.join(180)
    assert not producing.is_alive()

    restarted = start_reader(kafka_bootstrap, kafka_topic, out=out, group_id=group)
    killed_state = restarted.wait_for_read(total, deadline=180)
    restarted.stop()
    killed_state = restarted.state()

    uninterrupted = start_reader(kafka_bootstrap, kafka_topic)
    uninterrupted.wait_for_read(total, deadline=180)
    uninterrupted.stop()
    reference = uninterrupted.state()

    assert killed_state["counts"] == reference["counts"]
    assert killed_state["counts"]["read"] == total
    assert restarted.document() == uninterrupted.document()
    write_figures(
        "reader_sigkill_restart",
        {
            "messages": total,
            "read_when_killed": read_at_kill,
            "traffic_still_arriving_at_kill": still_producing,
            "helper_processes_left_after_kill": len(orphans),
            "read_after_restart": killed_state["counts"]["read"],
            "skipped_after_restart": killed_state["counts"]["skipped"],
            "reference_counts": reference["counts"],
            "same_document": True,
        },
    )


def test_reader_reads_a_hostile_topic_to_the_end(
    kafka_bootstrap, kafka_topic, start_reader
):
    bad = bad_messages()
    good = [encode(good_exchange(n)) for n in range(300)]
    hostile_but_valid = [
        near_limit_exchange(),
        deep_body_exchange(),
        deep_meta_exchange(),
        *distinct_path_exchanges(3000),
        *distinct_operation_exchanges(40, 40),
    ]
    # one bad message after every 15 good ones, on one partition so order holds
    messages: list[bytes | None] = list(good)
    for number, (_, _, raw) in reversed(list(enumerate(bad))):
        messages.insert(15 * (number + 1), raw)
    messages.extend(hostile_but_valid)
    produce(kafka_bootstrap, kafka_topic, messages, partition=0)

    reader = start_reader(kafka_bootstrap, kafka_topic)
    state = reader.wait_for_read(len(messages), deadline=180)
    assert reader.alive(), "the reader must not crash on input"
    reader.stop()
    log = reader.log_text()

    expected = Counter(kind for _, kind, _ in bad)
    skipped = Counter(state["counts"]["skipped"])
    assert state["counts"]["read"] == len(messages)
    assert skipped == expected
    # each kind is logged once with where it was found
    for kind in expected:
        lines = [
            line for line in log.splitlines() if kind in line and "WARNING" in line
        ]
        assert len(lines) == 1, (kind, lines)
        assert "partition 0 offset" in lines[0]
    assert "Traceback" not in log

    document = reader.document()
    limits = Limits()
    ops = operations(document)
    assert ("post", "/users") in ops
    # 1600 paths that each behave differently: only the cap bounds them
    assert len(ops) == limits.max_operations_per_host
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert any("cap" in line and "operations" in line for line in warnings)
    depth = schema_depth(document)
    assert depth <= 2 * limits.max_schema_depth + 10
    assert any("cap" in line and "depth" in line for line in warnings)
    size = len((reader.out / "openapi.json").read_bytes())
    assert size < 2 * 1024 * 1024
    write_figures(
        "reader_bad_messages",
        {
            "messages": len(messages),
            "bad_messages": len(bad),
            "bad_kinds_planted": len(expected),
            "bad_kinds_counted": len(skipped),
            "skipped_by_kind": dict(sorted(skipped.items())),
            "hostile_valid_messages": len(hostile_but_valid),
            "operations": len(ops),
            "schema_depth": depth,
            "document_bytes": size,
            "reader_crashed": False,
            "first_line_of_each_kind": {
                kind: next(
                    (
                        line.split(": ", 1)[-1]
                        for line in log.splitlines()
                        if kind in line and "WARNING" in line
                    ),
                    "",
                )
                for kind in expected
            },
        },
    )
    assert orjson.dumps(document)


def _state_file(builder: object) -> bytes:
    """A saved reader state around a given builder section."""
    state = {
        "format": 1,
        "source": {"kind": "kafka", "topic": "TOPIC"},
        "offsets": {"0": 5},
        "counts": {"read": 5, "skipped": {}},
        "builder": builder,
    }
    return orjson.dumps(state)


@pytest.mark.parametrize(
    "saved",
    [
        pytest.param(b"{garbage", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(_state_file({"version": 1, "hosts": {}}), id="old-version"),
        pytest.param(_state_file({"version": 999, "hosts": {}}), id="newer-version"),
        pytest.param(_state_file({"surprise": True}), id="wrong-shape"),
        pytest.param(_state_file([1, 2, 3]), id="not-an-object"),
    ],
)
def test_unusable_saved_state_is_one_clear_line(
    kafka_bootstrap, kafka_topic, tmp_path, saved
):
    # a state left by another version of the reader, or damaged on disk: the
    # reader must say so in one line, not crash with a stack trace
    state_dir = tmp_path / "spec" / ".state"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_bytes(
        saved.replace(b"TOPIC", kafka_topic.encode())
    )
    command = [
        sys.executable,
        "-m",
        "spec_from_stream",
        "--bootstrap-server",
        kafka_bootstrap,
        "--topic",
        kafka_topic,
        "--out",
        str(tmp_path / "spec"),
        "--connect-timeout",
        "10",
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    lines = done.stderr.strip().splitlines()

    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith("spec_from_stream: error:")
    assert "state" in lines[-1]
