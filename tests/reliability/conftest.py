"""Fixtures running the real server and reader as processes, always stopped."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.processes import ReaderProcess, ServerProcess


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start gunicorn serving an app (the demo API by default); all stopped after."""
    started: list[ServerProcess] = []

    def start(**options) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server-{len(started)}.log", **options)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_reader(tmp_path: Path) -> Iterator[Callable[..., ReaderProcess]]:
    """Start the live reader on a topic; all readers stopped after the test.

    Each call gets its own output folder and consumer group unless given.
    """
    started: list[ReaderProcess] = []

    def start(
        bootstrap: str,
        topic: str,
        *,
        out: Path | None = None,
        group_id: str | None = None,
        log: Path | None = None,
    ) -> ReaderProcess:
        number = len(started)
        reader = ReaderProcess(
            log or tmp_path / f"reader-{number}.log",
            out or tmp_path / f"spec-{number}",
            bootstrap=bootstrap,
            topic=topic,
            group_id=group_id or f"reader-{uuid.uuid4().hex[:8]}",
        )
        started.append(reader)
        reader.start()
        return reader

    yield start
    for reader in started:
        reader.stop()
