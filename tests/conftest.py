"""Fixtures shared by every test folder: the real Kafka broker and free ports."""

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
KAFKA_LOCAL = ROOT / "kafka" / "local"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The bootstrap address of the broker the test command started."""
    address = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not address:
        pytest.fail("KAFKA_BOOTSTRAP_SERVERS is not set: run the suite with ./test.sh")
    return address


def run_module(
    module: str, *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run `python -m module args` from the checkout; env replaces os.environ."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> str:
    """Create a topic on the broker and wait until its leaders are known."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


@pytest.fixture
def kafka_topic(kafka_bootstrap: str) -> str:
    """A fresh topic with 3 partitions, so tests never see each other's data."""
    return create_topic(kafka_bootstrap, f"test_{uuid.uuid4().hex[:12]}")


class LocalKafka:
    """A broker of this test's own, started and stopped with kafka/local."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "ZOOKEEPER_PORT": str(free_port()),
            "KAFKA_LOCAL_DIR": str(run_dir),
        }
        self.bootstrap = f"127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start ZooKeeper and the broker; return the bootstrap address."""
        return self._local("start").splitlines()[-1]

    def kill_broker(self) -> None:
        """SIGKILL the broker (ZooKeeper stays up), as a crash would."""
        self._local("kill-broker")

    def start_broker(self) -> None:
        """Start the broker again on the same port and data after a kill."""
        self._local("start-broker")

    def _local(self, command: str) -> str:
        done = subprocess.run(
            [str(KAFKA_LOCAL), command], env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka/local {command} failed: {done.stderr}")
        return done.stdout.strip()

    def stop(self) -> None:
        subprocess.run([str(KAFKA_LOCAL), "stop"], env=self.env, capture_output=True)


@pytest.fixture
def own_kafka(tmp_path: Path):
    """A private broker for tests that kill or stop it."""
    broker = LocalKafka(tmp_path / "kafka-run")
    yield broker
    broker.stop()


def sigterm_log(process: subprocess.Popen) -> str:
    """Stop a process with SIGTERM, check it exits 0 within 60 s, return its stderr."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    return process.stderr.read()
