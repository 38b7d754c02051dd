"""The live reader on the real broker, run as a subprocess like in production."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
import requests
import yaml
from kafka import KafkaProducer
from openapi_spec_validator import validate

from spec_from_stream.exchange import BadMessage, decode
from tests.conftest import ROOT, SHARED, create_topic, free_port
from tests.reliability import processes
from tests.spec_from_stream.test_state import take_over

TUTORIAL = SHARED / "cases" / "spec" / "10-tutorial-users" / "input.jsonl"
DEADLINE = 300.0


class ReaderProcess(processes.ReaderProcess):
    """The reader in Kafka mode; stop() signals its main process only, as a
    service manager stopping just the reader would."""

    def __init__(self, bootstrap, topic, group, out: Path, *extra: str) -> None:
        log = out.parent / f"{out.name}-{uuid.uuid4().hex[:6]}.log"
        super().__init__(
            log, out, bootstrap=bootstrap, topic=topic, group_id=group, extra_args=extra
        )
        # the reader's own settings come from the command line only
        self.env = {k: v for k, v in self.env.items() if not k.startswith("SPEC_")}

    def start(self) -> "ReaderProcess":
        super().start()
        return self

    def wait_for_read(self, count: int, deadline: float = DEADLINE) -> dict:
        return super().wait_for_read(count, deadline)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def readers():
    started: list[ReaderProcess] = []

    def make(*args, **kwargs) -> ReaderProcess:
        reader = ReaderProcess(*args, **kwargs)
        started.append(reader)
        return reader

    yield make
    for reader in started:
        reader.kill()


def produce(bootstrap: str, topic: str, messages: list, **kwargs) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, **kwargs)
    try:
        for message in messages:
            # a tombstone (no value) needs a key
            producer.send(topic, message, key=b"k" if message is None else None)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def traffic(count: int, seed: int = 0) -> list[bytes]:
    """Varied exchanges: two hosts, several paths, methods, statuses, queries."""
    messages = []
    for number in range(count):
        user = f"{seed:04x}{number:04x}-0000-4000-8000-{number:012d}"
        host = "api.example.test" if number % 5 else "admin.example.test:8443"
        kind = number % 4
        request = {
            "method": ["get", "get", "patch", "delete"][kind],
            "host": host,
            "protocol": "http",
            "pathname": f"/users/{user}" if kind else "/users",
            "query": {"limit": str(number % 50)} if kind == 0 else {},
            "headers": {"accept": "application/json"},
        }
        body = {"id": user, "name": f"user {number}", "age": number % 90}
        response = {
            "statusCode": [200, 200, 200, 204][kind] if number % 7 else 404,
            "headers": {"content-type": "application/json"},
            "body": json.dumps([body] if kind == 0 else body),
        }
        messages.append(orjson.dumps({"request": request, "response": response}))
    return messages


def documents(out: Path) -> dict[str, bytes]:
    """Every document file under OUT (the state excluded), by relative path."""
    return {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted(out.rglob("openapi.*"))
        if ".state" not in path.parts
    }


def test_live_reader_keeps_the_tutorial_document_on_disk(
    kafka_bootstrap, kafka_topic, readers, tmp_path
):
    lines = TUTORIAL.read_bytes().splitlines()
    produce(kafka_bootstrap, kafka_topic, lines)
    port = free_port()
    reader = readers(
        kafka_bootstrap,
        kafka_topic,
        f"g-{kafka_topic}",
        tmp_path / "spec",
        "--serve",
        str(port),
    ).start()

    state = reader.wait_for_read(len(lines))
    # offsets and counts are saved together: every message before them counted
    assert sum(state["offsets"].values()) == len(lines)
    # the viewer gets the document right after both files are written
    deadline = time.monotonic() + DEADLINE
    while True:
        served = requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10)
        if served.status_code == 200:
            break
        assert time.monotonic() < deadline, reader.log_text()
        time.sleep(0.2)
    assert reader.stop() == 0

    document = yaml.safe_load((tmp_path / "spec" / "openapi.yaml").read_text())
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert {"/users", "/users/{userId}"} <= set(document["paths"])
    assert served.json()["paths"].keys() == document["paths"].keys()
    assert "progress: 8 messages read, 0 skipped" in reader.log_text()


@pytest.mark.slow
def test_sigkill_and_restart_end_like_an_uninterrupted_run(
    kafka_bootstrap, readers, tmp_path
):
    # one partition: both runs see the same order, so documents compare bytewise
    topic = create_topic(kafka_bootstrap, f"kill_{uuid.uuid4().hex[:8]}", 1)
    messages = traffic(20_000)
    messages[100:100] = [b"not json", b"[1, 2]", b'{"request": {"method": 5}}']
    produce(kafka_bootstrap, topic, messages[:1000])
    sent = [1000]
    kills_done = threading.Event()

    # traffic keeps arriving until both kills happened, so they land mid-stream
    def produce_while_killing() -> None:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        try:
            while not kills_done.is_set() and sent[0] < len(messages):
                # stay a little ahead of the reader, however slow the machine
                if sent[0] - killed.read_count() > 2000:
                    time.sleep(0.05)
                    continue
                for message in messages[sent[0] : sent[0] + 50]:
                    producer.send(topic, message)
                producer.flush(timeout=60)
                sent[0] = min(sent[0] + 50, len(messages))
                time.sleep(0.05)
        finally:
            producer.close(timeout=10)

    producing = threading.Thread(target=produce_while_killing)
    killed = readers(kafka_bootstrap, topic, f"k-{topic}", tmp_path / "killed").start()
    producing.start()
    try:
        for _ in range(2):
            killed.wait_for_read(killed.read_count() + 1)
            killed.kill_main()
            killed.start()
    finally:
        kills_done.set()
        producing.join()
    assert sent[0] < len(messages), "the producer ran dry before the kills"
    messages = messages[: sent[0]]

    whole = readers(kafka_bootstrap, topic, f"w-{topic}", tmp_path / "whole").start()
    killed_state = killed.wait_for_read(len(messages))
    whole_state = whole.wait_for_read(len(messages))
    assert killed.stop() == 0
    assert whole.stop() == 0

    killed_state, whole_state = killed.state(), whole.state()
    assert killed_state["counts"] == whole_state["counts"]
    assert killed_state["counts"]["read"] == len(messages)
    assert sum(killed_state["counts"]["skipped"].values()) == 3
    assert killed_state["offsets"] == whole_state["offsets"] == {"0": len(messages)}
    assert killed_state["builder"] == whole_state["builder"]
    assert documents(tmp_path / "killed") == documents(tmp_path / "whole")
    assert len(documents(tmp_path / "whole")) == 4  # two hosts, yaml and json


@pytest.mark.slow
def test_killed_reader_on_three_partitions_counts_every_message_once(
    kafka_bootstrap, kafka_topic, readers, tmp_path
):
    messages = traffic(2000, seed=1)
    produce(kafka_bootstrap, kafka_topic, messages[:1000])
    reader = readers(
        kafka_bootstrap, kafka_topic, f"g3-{kafka_topic}", tmp_path / "spec"
    ).start()
    reader.wait_for_read(1)
    children = reader.children()
    assert children, "no fetch process"
    reader.kill_main()
    # the fetch process notices its parent is gone and leaves too
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{child}").exists() for child in children):
        assert time.monotonic() < deadline, "the fetch process outlived the reader"
        time.sleep(0.2)
    produce(kafka_bootstrap, kafka_topic, messages[1000:])
    reader.start()

    state = reader.wait_for_read(len(messages))
    assert reader.stop() == 0

    state = reader.state()
    assert state["counts"] == {"read": len(messages), "skipped": {}}
    assert sum(state["offsets"].values()) == len(messages)
    assert "resuming from" in reader.log_text()


def bad_messages() -> list[bytes | None]:
    """At least ten kinds of bad input, as a hostile or broken producer sends."""
    deep = b'{"request": {"method": "get", "pathname": "/"}, "meta": ' + (
        b'{"a": ' * 50 + b"1" + b"}" * 50 + b"}"
    )
    return [
        b"not json at all",
        b"\xff\xfe\xfa binary \x80\x81",
        b'{"request": {"method": "get", "pathname": "\xc3\x28"}}',
        b'{"request": {"method": "get", "pathname": "/a\x00b"}}',
        b"[1, 2, 3]",
        b'{"hello": "world"}',
        b'{"request": {"method": 5, "pathname": "/x"}}',
        b'{"request": {"method": "get", "pathname": "/x"}, '
        b'"response": {"statusCode": "ok"}}',
        b'{"request": {"method": "brew", "pathname": "/pot"}}',
        b"[" * 5000 + b"]" * 5000,
        deep,
        b'{"request": {"method": "get", "pathname": "/x"}, "junk": "'
        + b"x" * 900_000
        + b'"}',
        bytes(range(256)) * 100,
        None,
    ]


def expected_kind(message: bytes | None) -> str | None:
    """The kind the reader gives a message (None: it is accepted)."""
    if not message:
        # a tombstone says nothing, which is not the decoder's business
        return "empty"
    try:
        decode(message)
    except BadMessage as error:
        return error.kind
    return None


def test_bad_messages_are_skipped_counted_per_kind_and_logged_once(
    kafka_bootstrap, kafka_topic, readers, tmp_path
):
    bad = bad_messages()
    good = traffic(30, seed=2)
    mixed = [m for pair in zip(bad, good, strict=False) for m in pair] + good[
        len(bad) :
    ]
    mixed += bad  # every kind twice
    # JSON behind a Schema Registry header (magic byte, schema id 1) is good
    framed = [b"\x00\x00\x00\x00\x01" + message for message in good[:3]]
    assert not any(expected_kind(message) for message in framed)
    mixed += framed
    produce(kafka_bootstrap, kafka_topic, mixed, max_request_size=2_000_000)
    expected: dict[str, int] = {}
    for message in mixed:
        kind = expected_kind(message)
        if kind is not None:
            expected[kind] = expected.get(kind, 0) + 1
    reader = readers(
        kafka_bootstrap, kafka_topic, f"gbad-{kafka_topic}", tmp_path / "spec"
    ).start()

    reader.wait_for_read(len(mixed))
    assert reader.stop() == 0

    state = reader.state()
    assert state["counts"]["skipped"] == expected
    assert len(expected) >= 8
    log = reader.log_text()
    assert "Traceback" not in log
    for kind in expected:
        warnings = [line for line in log.splitlines() if "WARNING" in line]
        lines = [line for line in warnings if f"({kind}" in line]
        assert len(lines) == 1, (kind, log)
        assert "partition" in lines[0] and "offset" in lines[0]
    assert (tmp_path / "spec").glob("**/openapi.yaml")


def restart_after_zookeeper_forgets(kafka) -> None:
    """Start a SIGKILLed broker again once ZooKeeper lets it register.

    ZooKeeper keeps the dead broker's registration until its session times out
    (zookeeper.session.timeout.ms, 18 s); an earlier start exits with NodeExists.
    """
    time.sleep(19)
    deadline = time.monotonic() + 60
    while True:
        try:
            kafka.start_broker()
            return
        except RuntimeError as error:
            if "NodeExists" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(3)


@pytest.mark.slow
def test_reader_reconnects_after_the_broker_restarts(own_kafka, readers, tmp_path):
    bootstrap = own_kafka.start()
    topic = create_topic(bootstrap, "restart", 3)
    produce(bootstrap, topic, traffic(200, seed=3))
    reader = readers(bootstrap, topic, "grestart", tmp_path / "spec").start()
    reader.wait_for_read(200)

    own_kafka.kill_broker()
    restart_after_zookeeper_forgets(own_kafka)
    produce(bootstrap, topic, traffic(200, seed=4), retries=10)

    reader.wait_for_read(400)
    assert reader.process.poll() is None
    assert reader.stop() == 0
    assert reader.state()["counts"] == {"read": 400, "skipped": {}}
    log = reader.log_text()
    # the outage is said once (not kafka-python's line per retry), then the end
    assert 1 <= log.count("Kafka connection trouble") <= 3
    assert "reading from Kafka again" in log
    assert "Traceback" not in log


@pytest.fixture
def recording_server(kafka_bootstrap, kafka_topic, tmp_path):
    """The demo server as a real process, recording to the test's topic."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "RECORDING_TOPIC": kafka_topic,
        "RECORDER_SINK": "kafka",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "server"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                requests.get(base + "/users", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield base
    finally:
        # SIGTERM lets the recorder flush what it has queued
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def tutorial_traffic(base: str) -> None:
    """The tutorial's requests: every operation of /users and /users/{id}."""
    missing = "00000000-0000-4000-8000-000000000000"
    assert requests.get(f"{base}/users/{missing}", timeout=10).status_code == 404
    ids = []
    for name in ("Ada", "Grace", "Kimmo"):
        created = requests.post(
            f"{base}/users",
            json={"name": name, "email": f"{name.lower()}@example.org"},
            timeout=10,
        )
        assert created.status_code == 201
        ids.append(created.json()["id"])
    for query in ({"limit": 5, "name": "Ada"}, {"limit": 10, "offset": 0}, {}):
        assert requests.get(f"{base}/users", params=query, timeout=10).ok
    for user in ids:
        assert requests.get(f"{base}/users/{user}", timeout=10).status_code == 200
    patched = requests.patch(f"{base}/users/{ids[0]}", json={"name": "A"}, timeout=10)
    assert patched.status_code == 200
    assert requests.delete(f"{base}/users/{ids[1]}", timeout=10).status_code == 204
    assert requests.get(f"{base}/users/{ids[1]}", timeout=10).status_code == 404
    assert requests.patch(f"{base}/users/{missing}", json={}, timeout=10).ok is False
    assert requests.delete(f"{base}/users/{missing}", timeout=10).status_code == 404


@pytest.mark.slow
def test_tutorial_requests_through_the_real_server_become_the_users_api(
    kafka_bootstrap, kafka_topic, recording_server, readers, tmp_path
):
    reader = readers(
        kafka_bootstrap, kafka_topic, f"e2e-{kafka_topic}", tmp_path / "spec"
    ).start()
    tutorial_traffic(recording_server)

    # the document on disk catches up by itself; how fast is the bench's figure
    path = tmp_path / "spec" / "openapi.yaml"
    deadline = time.monotonic() + DEADLINE
    while True:
        assert reader.process.poll() is None, reader.log_text()
        document = yaml.safe_load(path.read_text()) if path.exists() else {}
        paths = document.get("paths", {})
        users, user = paths.get("/users", {}), paths.get("/users/{userId}", {})
        if {"get", "post"} <= set(users) and {"get", "patch", "delete"} <= set(user):
            break
        assert time.monotonic() < deadline, (list(paths), reader.log_text())
        time.sleep(0.5)
    assert reader.stop() == 0

    validate(document)
    query = {p["name"]: p for p in users["get"]["parameters"] if p["in"] == "query"}
    assert query["limit"]["schema"]["type"] == "integer"
    assert query["offset"]["schema"]["type"] == "integer"
    assert query["name"]["schema"]["type"] == "string"
    body = users["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"name", "email"} <= set(body["required"])
    assert body["properties"]["email"]["format"] == "email"
    (parameter,) = [p for p in user["get"]["parameters"] if p["in"] == "path"]
    assert parameter["name"] == "userId"
    assert parameter["schema"]["type"] == "string"
    assert {"200", "404"} <= set(user["get"]["responses"])
    assert "204" in user["delete"]["responses"]
    assert "200" in user["patch"]["responses"]


def recreate_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Delete a topic and create it again under the same name (a new topic id)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while True:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)])
                return
            except TopicAlreadyExistsError:
                # the deletion is still going on
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()


def read_five_and_stop(bootstrap: str, readers, out: Path, extra) -> tuple:
    """Read a new one-partition topic's five messages, stop; return topic, group."""
    topic = create_topic(bootstrap, f"test_{uuid.uuid4().hex[:12]}", 1)
    group = f"group-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, traffic(5))
    first = readers(bootstrap, topic, group, out, *extra).start()
    first.wait_for_read(5)
    assert first.stop() == 0
    return topic, group


def read_again(
    readers, bootstrap: str, topic: str, group: str, out: Path, extra, count
):
    """Start a reader on a stopped one's folder, wait for count read, stop it.

    Return its state and its log.
    """
    reader = readers(bootstrap, topic, group, out, *extra).start()
    state = reader.wait_for_read(count, deadline=120)
    assert reader.stop() == 0
    return state, reader.log_text()


@pytest.mark.parametrize("extra", [(), ("--single-process",)], ids=["child", "one"])
def test_a_topic_deleted_and_created_again_is_read_from_its_beginning(
    kafka_bootstrap, readers, tmp_path, extra
):
    out = tmp_path / "spec"
    topic, group = read_five_and_stop(kafka_bootstrap, readers, out, extra)

    # as `kafka/local stop` and `start`, or `docker compose down -v`, would
    recreate_topic(kafka_bootstrap, topic, 1)
    produce(kafka_bootstrap, topic, traffic(8, seed=1))
    # the saved offset 5 would skip the new topic's first five messages
    state, log = read_again(readers, kafka_bootstrap, topic, group, out, extra, 5 + 8)

    assert state["counts"]["read"] == 13
    assert "deleted and created again" in log
    saved = json.loads((out / ".state" / "state.json").read_text())
    assert saved["offsets"] == {"0": 8}
    assert saved["topic_id"]


def save_offsets(out: Path, offsets: dict[str, int]) -> None:
    """Overwrite the offsets in a stopped reader's saved state."""
    path = out / ".state" / "state.json"
    state = json.loads(path.read_text())
    state["offsets"] = offsets
    path.write_text(json.dumps(state))


@pytest.mark.parametrize("extra", [(), ("--single-process",)], ids=["child", "one"])
def test_saved_offsets_past_the_end_read_what_the_partition_holds(
    kafka_bootstrap, readers, tmp_path, extra
):
    out = tmp_path / "spec"
    topic, group = read_five_and_stop(kafka_bootstrap, readers, out, extra)

    # as after a broker that lost its data folder under the same topic id
    save_offsets(out, {"0": 50})
    produce(kafka_bootstrap, topic, traffic(8, seed=1))
    # without the check, every message below offset 50 would be passed over
    state, log = read_again(readers, kafka_bootstrap, topic, group, out, extra, 5 + 13)

    assert state["counts"]["read"] == 18
    assert "ends at offset 13, before the saved 50" in log
    saved = json.loads((out / ".state" / "state.json").read_text())
    assert saved["offsets"] == {"0": 13}


@pytest.mark.parametrize("extra", [(), ("--single-process",)], ids=["child", "one"])
def test_records_deleted_before_they_were_read_are_reported(
    kafka_bootstrap, readers, tmp_path, extra
):
    from kafka import KafkaAdminClient, TopicPartition

    out = tmp_path / "spec"
    topic, group = read_five_and_stop(kafka_bootstrap, readers, out, extra)

    produce(kafka_bootstrap, topic, traffic(10, seed=1))
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        # as retention would, while the reader was away
        admin.delete_records({TopicPartition(topic, 0): 9})
    finally:
        admin.close()
    state, log = read_again(readers, kafka_bootstrap, topic, group, out, extra, 5 + 6)

    assert state["counts"]["read"] == 11
    assert "4 records (offsets 5 to 8) were deleted before" in log


def test_a_second_reader_on_the_same_folder_is_refused_in_one_line(
    kafka_bootstrap, readers, tmp_path
):
    topic = create_topic(kafka_bootstrap, f"test_{uuid.uuid4().hex[:12]}", 1)
    out = tmp_path / "spec"
    produce(kafka_bootstrap, topic, traffic(3))
    first = readers(kafka_bootstrap, topic, "group-a", out).start()
    first.wait_for_read(3)

    # both would overwrite one state and one document
    second = subprocess.run(
        [*first.command[:-4], "--out", str(out)],
        env=first.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1
    assert "another reader is using" in second.stderr
    assert first.process.poll() is None
    assert first.stop() == 0

    # the folder is free again once the first reader stopped
    produce(kafka_bootstrap, topic, traffic(2, seed=1))
    third = readers(kafka_bootstrap, topic, "group-a", out).start()
    assert third.wait_for_read(5)["counts"]["read"] == 5
    assert third.stop() == 0


def wait_for_log(reader: ReaderProcess, text: str, deadline: float = 120.0) -> str:
    """Wait until the reader's log holds text; return the log."""
    end = time.monotonic() + deadline
    while text not in (log := reader.log_text()):
        if time.monotonic() > end or not reader.alive():
            raise reader.fail(f"no {text!r} in the log")
        time.sleep(0.2)
    return log


def test_readers_of_two_folders_each_read_every_partition_by_default(
    kafka_bootstrap, kafka_topic, readers, tmp_path
):
    # no --group-id: each reader is alone in a group named after its folder
    first = readers(kafka_bootstrap, kafka_topic, None, tmp_path / "a").start()
    wait_for_log(first, "assigned partitions")
    second = readers(kafka_bootstrap, kafka_topic, None, tmp_path / "b").start()
    wait_for_log(second, "assigned partitions")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        for number, message in enumerate(traffic(90, seed=7)):
            producer.send(kafka_topic, message, partition=number % 3)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)

    # in one shared group, the second reader would take partitions away from
    # the first, and each would read only its share
    groups = set()
    for reader in (first, second):
        state = reader.wait_for_read(90, deadline=120)
        assert sorted(state["offsets"].values()) == [30, 30, 30]
        groups.add(wait_for_log(reader, "as group ").split("as group ")[1].split()[0])
        assert reader.stop() == 0
    assert len(groups) == 2
    assert all(group.startswith("spec_from_stream-") for group in groups)


def test_batches_compressed_with_every_kafka_codec_are_read(
    kafka_bootstrap, kafka_topic, readers, tmp_path
):
    # other producers (or the topic's compression.type) compress batches; the
    # recorder does not, so only the reader's own codecs are tested here
    messages = traffic(40, seed=3)
    for number, codec in enumerate(("gzip", "lz4", "snappy", "zstd")):
        produce(
            kafka_bootstrap,
            kafka_topic,
            messages[number * 10 : number * 10 + 10],
            compression_type=codec,
        )
    reader = readers(kafka_bootstrap, kafka_topic, None, tmp_path / "spec").start()

    state = reader.wait_for_read(40, deadline=120)

    assert state["counts"]["skipped"] == {}
    assert reader.stop() == 0


@pytest.mark.parametrize("mode", [(), ("--single-process",)], ids=["child", "one"])
def test_a_group_of_another_assignment_strategy_stops_the_reader_in_one_line(
    kafka_bootstrap, kafka_topic, readers, tmp_path, mode
):
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.sticky.sticky_assignor import (
        StickyPartitionAssignor,
    )

    group = f"app-{kafka_topic}"
    produce(kafka_bootstrap, kafka_topic, traffic(3))
    app = KafkaConsumer(
        kafka_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        partition_assignment_strategy=[StickyPartitionAssignor],
    )
    try:
        deadline = time.monotonic() + 120
        while not app.assignment():
            assert time.monotonic() < deadline
            app.poll(timeout_ms=500)
        # the reader cannot join this group: kafka-python would retry for ever
        reader = readers(kafka_bootstrap, kafka_topic, group, tmp_path / "spec", *mode)
        reader.start()
        assert reader.process.wait(timeout=120) == 2
    finally:
        app.close()

    log = reader.log_text()
    assert log.count("spec_from_stream: error:") == 1
    assert "another partition assignment strategy; leave out --group-id" in log
    assert "keeps retrying" not in log
    assert "Traceback" not in log


def topic_names(bootstrap: str) -> set[str]:
    """The topics the broker holds."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


@pytest.mark.parametrize("mode", [(), ("--single-process",)], ids=["child", "one"])
def test_a_missing_topic_is_waited_for_not_created(
    kafka_bootstrap, readers, tmp_path, mode
):
    topic = f"test_missing_{uuid.uuid4().hex[:12]}"
    reader = readers(kafka_bootstrap, topic, None, tmp_path / "spec", *mode).start()

    log = wait_for_log(reader, f"topic {topic} does not exist on the broker")
    assert "(is --topic right?)" in log
    # a mistyped --topic leaves the broker as it was
    time.sleep(2)
    assert topic not in topic_names(kafka_bootstrap)
    assert reader.alive()

    # created later (here by a producer, as the recorder's first send does)
    produce(kafka_bootstrap, topic, traffic(12, seed=4))
    state = reader.wait_for_read(12, deadline=120)
    assert state["counts"]["skipped"] == {}
    assert reader.stop() == 0
    assert "Kafka connection trouble" not in reader.log_text()


def test_a_reader_taking_over_a_deleted_folder_stops_the_first(
    kafka_bootstrap, kafka_topic, readers, tmp_path
):
    lines = TUTORIAL.read_bytes().splitlines()
    produce(kafka_bootstrap, kafka_topic, lines[:4])
    out = tmp_path / "spec"
    reader = readers(kafka_bootstrap, kafka_topic, f"g-{kafka_topic}", out).start()
    reader.wait_for_read(4)
    (out / "openapi.yaml").unlink()
    (out / ".state" / "state.json").unlink()
    newcomer = take_over(out)
    produce(kafka_bootstrap, kafka_topic, lines[4:])

    assert reader.process.wait(timeout=DEADLINE) == 2
    last = reader.log_text().strip().splitlines()[-1]
    assert last.startswith("spec_from_stream: error: ")
    assert "another reader took" in last
    # it wrote nothing more into the folder the newcomer holds
    assert not (out / "openapi.yaml").exists()
    assert not (out / ".state" / "state.json").exists()
    os.close(newcomer)
