"""Recorder overhead: the demo API with the recorder off, on, and done naively.

Every variant of a phase runs at once, each in its own gunicorn, and the
load visits them in turn in short slices: all of them at saturation (closed
loop) for a few cycles, then all of them at a fixed rate of half the
recorder-off maximum (open loop). A ratio is taken between slices of the
same cycle, seconds apart, so a burst from a neighbour on this shared
machine spoils one cycle, not the whole comparison; medians over cycles
make the table. Between slices the bench waits until the server just
measured is idle again, so a recorder still sending its backlog never slows
the next variant down.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.demo_server import DemoServer, request_mix
from bench.kafka_local import OffsetWatcher
from bench.load import LoadResult, fixed_rate, saturate

logger = logging.getLogger(__name__)

OFF = "off"
UP = "on, Kafka up"
DOWN = "on, Kafka down"
NAIVE = "naive after_request"

# below this share of one core a server counts as idle
IDLE_CPU = 0.03
IDLE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Durations:
    """Seconds per warm-up and per slice, and how many cycles of slices."""

    warmup: float
    saturate: float
    fixed: float
    cycles: int
    delivery: float


@dataclass
class PhaseResult:
    """Per variant, the figures of every cycle, and the fixed rate used."""

    rate: float
    throughput: dict[str, list[float]] = field(default_factory=dict)
    p50: dict[str, list[float]] = field(default_factory=dict)
    p99: dict[str, list[float]] = field(default_factory=dict)
    # CPU seconds the server process tree spent per request at saturation:
    # unlike latency, hardly changed by neighbours taking turns on the cores
    cpu_per_request: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    # exchanges delivered into Kafka per second, by the recorder-on variant
    delivered_rate: float | None = None
    delivered: int | None = None
    sent: int | None = None

    def ratios(self, name: str) -> dict[str, list[float]]:
        """Return a variant's figures over recorder-off's, cycle by cycle."""
        return {
            key: [
                mine / theirs
                for mine, theirs in zip(figures[name], figures[OFF], strict=True)
            ]
            for key, figures in (
                ("p50", self.p50),
                ("p99", self.p99),
                ("throughput", self.throughput),
                ("cpu", self.cpu_per_request),
            )
        }


def variant_env(name: str, bootstrap: str, topic: str) -> tuple[str, dict[str, str]]:
    """Return the WSGI app and the environment of a variant."""
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RECORDING_TOPIC": topic}
    # a short flush at shutdown keeps the Kafka-down variant from waiting long
    common = {"RECORDER_FLUSH_TIMEOUT": "2", **kafka}
    if name == OFF:
        return "server.wsgi:app", {**common, "RECORDER_SINK": "off"}
    if name in (UP, DOWN):
        return "server.wsgi:app", {**common, "RECORDER_SINK": "kafka"}
    if name == NAIVE:
        return "bench.naive:app", {**common, "RECORDER_SINK": "off"}
    raise ValueError(f"unknown variant {name!r}")


def _cpu_ticks(root: int) -> int:
    """Return the CPU time (clock ticks) of a process and all its descendants
    (gunicorn's workers and their recorder delivery children) so far."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # the command name may hold spaces: fields start after ')'
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    total = 0
    for pid, ticks_of_pid in ticks.items():
        ancestor = pid
        while ancestor > 1 and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += ticks_of_pid
    return total


def wait_idle(server: DemoServer) -> None:
    """Wait until the server uses almost no CPU (its recorder has caught up)."""
    assert server.process is not None
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + IDLE_TIMEOUT
    before = _cpu_ticks(server.process.pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        after = _cpu_ticks(server.process.pid)
        if (after - before) / ticks_per_second / 0.2 < IDLE_CPU:
            return
        before = after
    logger.warning("%s still busy after %ss", server.app, IDLE_TIMEOUT)


def _slices(
    servers: dict[str, DemoServer],
    cycle: int,
    run: Callable[[str, DemoServer], LoadResult],
) -> dict[str, LoadResult]:
    """Load each server once, the order turning by one every cycle."""
    names = list(servers)
    shift = cycle % len(names)
    results = {}
    for name in names[shift:] + names[:shift]:
        server = servers[name]
        assert server.process is not None
        before = _cpu_ticks(server.process.pid)
        result = run(name, server)
        wait_idle(server)
        # the recorder's backlog, sent while waiting for idle, counts too
        ticks = _cpu_ticks(server.process.pid) - before
        result.cpu_seconds = ticks / os.sysconf("SC_CLK_TCK")
        results[name] = result
    return results


def measure_phase(
    names: list[str],
    bootstrap: str,
    topic: str,
    durations: Durations,
    log_dir: Path,
    *,
    after_warmup: Callable[[], None] | None = None,
) -> PhaseResult:
    """Measure recorder-off and the variants in names, interleaved.

    after_warmup runs once every server is warm (the Kafka-down phase kills
    the broker there, so the recorder loses a broker it was connected to).
    """
    with contextlib.ExitStack() as stack:
        servers: dict[str, DemoServer] = {}
        for name in [OFF, *names]:
            app, env = variant_env(name, bootstrap, topic)
            log = log_dir / f"gunicorn-{name.replace(' ', '_').replace(',', '')}.log"
            servers[name] = stack.enter_context(DemoServer(app, env, log))
        mixes = {name: request_mix(server) for name, server in servers.items()}
        for name, server in servers.items():
            saturate(server.address, mixes[name], durations.warmup)
            wait_idle(server)
        if after_warmup is not None:
            after_warmup()

        saturated = [
            _slices(
                servers,
                cycle,
                lambda name, s: saturate(s.address, mixes[name], durations.saturate),
            )
            for cycle in range(durations.cycles)
        ]
        rate = statistics.median(c[OFF].throughput for c in saturated) / 2
        steady = [
            _slices(
                servers,
                cycle,
                lambda name, s: fixed_rate(
                    s.address, mixes[name], rate, durations.fixed
                ),
            )
            for cycle in range(durations.cycles)
        ]
        result = PhaseResult(rate=rate)
        for name in servers:
            result.throughput[name] = [c[name].throughput for c in saturated]
            result.cpu_per_request[name] = [
                c[name].cpu_seconds / max(c[name].completed, 1) for c in saturated
            ]
            result.p50[name] = [c[name].percentile(0.50) for c in steady]
            result.p99[name] = [c[name].percentile(0.99) for c in steady]
            result.errors[name] = sum(c[name].errors for c in saturated + steady)
            kinds: collections.Counter = collections.Counter()
            for cycle in saturated + steady:
                kinds.update(cycle[name].error_kinds)
            result.error_kinds[name] = dict(kinds)
            logger.info(
                "%s: %.0f req/s max, p50 %.2f ms, p99 %.2f ms at %.0f req/s",
                name,
                statistics.median(result.throughput[name]),
                statistics.median(result.p50[name]) * 1000,
                statistics.median(result.p99[name]) * 1000,
                rate,
            )
        if UP in servers:
            _measure_delivery(
                result, servers[UP], mixes[UP], bootstrap, topic, durations
            )
    return result


def _measure_delivery(
    result: PhaseResult,
    server: DemoServer,
    requests: list[bytes],
    bootstrap: str,
    topic: str,
    durations: Durations,
) -> None:
    """Saturate the recorder-on server alone; count what reaches the topic.

    The rate runs from the first request to the last exchange the topic
    received, so exchanges still queued when the load stops count only once
    they are delivered.
    """
    watcher = OffsetWatcher(bootstrap, topic)
    try:
        before, _ = watcher.settle()
        started = time.monotonic()
        load = saturate(server.address, requests, durations.delivery)
        after, last_growth = watcher.settle()
    finally:
        watcher.close()
    result.delivered = after - before
    result.sent = load.sent
    result.delivered_rate = result.delivered / max(last_growth - started, 1e-9)
