"""The real Apache Kafka broker that kafka/local runs for the test command."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from tests.conftest import KAFKA_LOCAL, ROOT


def test_broker_is_apache_kafka_3_9_2():
    run_dir = Path(os.environ.get("KAFKA_LOCAL_DIR", ROOT / "kafka" / ".run"))
    log = (run_dir / "kafka.log").read_text()
    assert "Kafka version: 3.9.2" in log
    assert "started (kafka.server.KafkaServer)" in log


def test_recording_topic_has_three_partitions(kafka_bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        (topic,) = admin.describe_topics(["http_recordings"])
    finally:
        admin.close()
    assert topic["error_code"] == 0
    assert len(topic["partitions"]) == 3


def test_produce_consume_and_commit_group_offset(kafka_bootstrap, kafka_topic):
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    values = [f"message {n}".encode() for n in range(10)]
    for value in values:
        producer.send(kafka_topic, value, partition=0)
    producer.flush(timeout=30)
    producer.close()

    group = f"group-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(
        kafka_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    received = []
    for message in consumer:
        received.append(message.value)
        if len(received) == len(values):
            break
    consumer.commit()
    committed = consumer.committed(TopicPartition(kafka_topic, 0))
    consumer.close()

    assert received == values
    assert committed == len(values)


def test_own_broker_starts_and_stops_without_leftover_java(own_kafka):
    address = own_kafka.start()
    assert address == own_kafka.bootstrap
    pids = [
        int((own_kafka.run_dir / f"{name}.pid").read_text())
        for name in ("kafka", "zookeeper")
    ]
    own_kafka.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_missing_jars_without_network_fail_with_one_clear_line(tmp_path):
    copy = tmp_path / "kafka"
    copy.mkdir()
    for name in ("local", "pom.xml", "server.properties", "zookeeper.properties"):
        shutil.copy2(KAFKA_LOCAL.parent / name, copy / name)
    env = {
        **os.environ,
        "KAFKA_LOCAL_DIR": str(tmp_path / "run"),
        # offline with an empty local repository: what a machine without network sees
        "KAFKA_MVN_FLAGS": f"-o -Dmaven.repo.local={tmp_path / 'm2'}",
    }
    done = subprocess.run(
        [str(copy / "local"), "start"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "kafka_2.13-3.9.2.jar" in lines[0]
    assert "Exception" not in done.stderr


def test_fetch_reuses_downloaded_jars_without_maven(tmp_path):
    # an mvn first on PATH that leaves a mark shows whether fetch downloads again
    mark = tmp_path / "mvn-was-called"
    fake = tmp_path / "bin" / "mvn"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {mark}\nexit 1\n")
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "KAFKA_LOCAL_DIR": str(tmp_path / "run"),
    }
    done = subprocess.run(
        [str(KAFKA_LOCAL), "fetch"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not mark.exists()


def test_unknown_command_prints_usage_line():
    done = subprocess.run([str(KAFKA_LOCAL), "bogus"], capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().startswith("kafka/local: usage:")


def test_consume_prints_the_first_messages_of_the_topic(kafka_bootstrap, kafka_topic):
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for number in range(3):
        producer.send(kafka_topic, f'{{"n": {number}}}'.encode(), partition=0)
    producer.flush(timeout=30)
    producer.close()
    env = {
        **os.environ,
        "KAFKA_PORT": kafka_bootstrap.rpartition(":")[2],
        "RECORDING_TOPIC": kafka_topic,
    }
    done = subprocess.run(
        [str(KAFKA_LOCAL), "consume", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ['{"n": 0}', '{"n": 1}']


def test_topics_describes_the_recording_topic(kafka_bootstrap):
    env = {**os.environ, "KAFKA_PORT": kafka_bootstrap.rpartition(":")[2]}
    done = subprocess.run(
        [str(KAFKA_LOCAL), "topics", "--describe", "--topic", "http_recordings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "PartitionCount: 3" in done.stdout


@pytest.mark.slow
def test_broker_starts_again_right_after_a_kill(own_kafka):
    own_kafka.start()
    own_kafka.kill_broker()
    # at once: ZooKeeper still holds the killed broker's registration
    own_kafka.start_broker()
    producer = KafkaProducer(bootstrap_servers=own_kafka.bootstrap)
    producer.send("http_recordings", b"after restart").get(timeout=30)
    producer.close()
