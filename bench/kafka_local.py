"""A private Apache Kafka broker for the benchmarks, run with kafka/local."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
KAFKA_LOCAL = ROOT / "kafka" / "local"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KafkaError(RuntimeError):
    """kafka/local failed; the message says which command and why."""


class LocalBroker:
    """ZooKeeper and one broker on free ports of 127.0.0.1, in a temporary folder.

    Usage::

        with LocalBroker() as broker:
            produce_to(broker.bootstrap)
            broker.kill()   # as a crash would
            broker.revive()
    """

    def __init__(self) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="bench-kafka."))
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "ZOOKEEPER_PORT": str(free_port()),
            "KAFKA_LOCAL_DIR": str(self.run_dir),
        }
        self.running = False

    def start(self) -> str:
        """Start ZooKeeper and the broker; return the bootstrap address."""
        self.running = True
        self._local("start")
        logger.info("Kafka started at %s", self.bootstrap)
        return self.bootstrap

    def kill(self) -> None:
        """SIGKILL the broker (ZooKeeper stays up)."""
        self._local("kill-broker")

    def revive(self) -> None:
        """Start the broker again on the same port and data after kill()."""
        self._local("start-broker")

    def stop(self) -> None:
        """Stop both processes and remove every file of this instance."""
        if self.running:
            subprocess.run(
                [str(KAFKA_LOCAL), "stop"], env=self.env, capture_output=True
            )
            self.running = False
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _local(self, command: str) -> str:
        done = subprocess.run(
            [str(KAFKA_LOCAL), command],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise KafkaError(f"kafka/local {command} failed: {last}")
        return done.stdout.strip()


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> str:
    """Create a topic and return its name."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def end_offsets_total(bootstrap: str, topic: str) -> int:
    """Return how many messages a topic holds (the sum of its end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        offsets = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(offsets.values())
    finally:
        consumer.close()


class OffsetWatcher:
    """Reads how many messages a topic holds, again and again, on one client."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        partitions = self.consumer.partitions_for_topic(topic) or set()
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not self.partitions:
            self.close()
            raise KafkaError(f"topic {topic} has no partitions")

    def total(self) -> int:
        """Return the sum of the topic's end offsets now."""
        return sum(self.consumer.end_offsets(self.partitions).values())

    def settle(self, quiet: float = 1.0, timeout: float = 60.0) -> tuple[int, float]:
        """Wait until the total stops growing for quiet seconds.

        Return the total and the time.monotonic() when it last grew.
        """
        total = self.total()
        changed = time.monotonic()
        deadline = changed + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now_total = self.total()
            if now_total != total:
                total, changed = now_total, time.monotonic()
            elif time.monotonic() - changed >= quiet:
                break
        return total, changed

    def close(self) -> None:
        """Close the client."""
        self.consumer.close()
