"""Crashing and restarting a private broker (the own_kafka fixture's)."""

from __future__ import annotations

import time

from tests.conftest import LocalKafka

# Limitation: ZooKeeper keeps a SIGKILLed broker's registration until its session times
# out (zookeeper.session.timeout.ms, 18 s by default); a broker started before
# then exits with NodeExists, so a restart waits that long after the kill
ZOOKEEPER_SESSION_SECONDS = 18.0
RESTART_ATTEMPTS = 4


class BrokerCrash:
    """SIGKILL a broker, then start it again once ZooKeeper lets it register."""

    def __init__(self, kafka: LocalKafka) -> None:
        self.kafka = kafka
        self.killed_at: float | None = None

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would."""
        self.kafka.kill_broker()
        self.killed_at = time.monotonic()

    def restart(self, down_for: float = 0.0) -> float:
        """Start the broker again, down at least down_for seconds; return downtime."""
        assert self.killed_at is not None, "kill() first"
        ready = self.killed_at + max(down_for, ZOOKEEPER_SESSION_SECONDS + 1)
        time.sleep(max(0.0, ready - time.monotonic()))
        for attempt in range(RESTART_ATTEMPTS):
            try:
                self.kafka.start_broker()
                break
            except RuntimeError as error:
                if "NodeExists" not in str(error) or attempt == RESTART_ATTEMPTS - 1:
                    raise
                time.sleep(5)
        return time.monotonic() - self.killed_at
