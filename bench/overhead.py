"""Recorder overhead: the demo API with the recorder off, on, and done naively.

One round measures each variant on a fresh gunicorn: a short warm-up, the
maximum throughput (closed loop), then p50/p99 latency at a fixed rate of
half the recorder-off maximum of the same round (open loop). Ratios are
taken within a round, so a noisy neighbour slows both sides of a pair.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.demo_server import DemoServer, request_mix
from bench.kafka_local import OffsetWatcher
from bench.load import fixed_rate, saturate

logger = logging.getLogger(__name__)

OFF = "off"
UP = "on, Kafka up"
DOWN = "on, Kafka down"
NAIVE = "naive after_request"


@dataclass(frozen=True)
class Durations:
    """How long each part of one variant's measurement runs, in seconds."""

    warmup: float
    saturate: float
    fixed: float


@dataclass
class VariantResult:
    """The figures of one variant in one round."""

    name: str
    max_throughput: float
    p50: float
    p99: float
    rate: float
    errors: int
    statuses: dict[int, int] = field(default_factory=dict)
    # exchanges per second delivered into Kafka during saturation, when measured
    delivered_rate: float | None = None
    delivered: int | None = None
    served: int | None = None


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


def measure_variant(
    name: str,
    bootstrap: str,
    topic: str,
    durations: Durations,
    rate: float | None,
    log_dir: Path,
    *,
    watch_delivery: bool = False,
    before_measuring: Callable[[], None] | None = None,
) -> VariantResult:
    """Start the variant's server, load it, stop it; return its figures.

    rate is the fixed rate for the latency run; None means half this
    variant's own maximum (the recorder-off variant sets the round's rate).
    before_measuring runs after the warm-up (the Kafka-down variant kills the
    broker there, so the recorder loses a broker it was connected to).
    """
    app, env = variant_env(name, bootstrap, topic)
    log_path = log_dir / f"gunicorn-{name.replace(' ', '_').replace(',', '')}.log"
    with DemoServer(app, env, log_path) as server:
        requests = request_mix(server)
        saturate(server.address, requests, durations.warmup)
        if before_measuring is not None:
            before_measuring()

        watcher = OffsetWatcher(bootstrap, topic) if watch_delivery else None
        try:
            if watcher is not None:
                before, _ = watcher.settle()
                started = time.monotonic()
            most = saturate(server.address, requests, durations.saturate)
            delivered_rate = delivered = None
            if watcher is not None:
                after, last_growth = watcher.settle()
                delivered = after - before
                delivered_rate = delivered / max(last_growth - started, 1e-9)
        finally:
            if watcher is not None:
                watcher.close()

        fixed_at = rate if rate is not None else most.throughput / 2
        steady = fixed_rate(server.address, requests, fixed_at, durations.fixed)
    result = VariantResult(
        name=name,
        max_throughput=most.throughput,
        p50=steady.percentile(0.50),
        p99=steady.percentile(0.99),
        rate=fixed_at,
        errors=most.errors + steady.errors,
        statuses=dict(most.statuses + steady.statuses),
        delivered_rate=delivered_rate,
        delivered=delivered,
        served=most.completed if watch_delivery else None,
    )
    logger.info(
        "%s: %.0f req/s max, p50 %.2f ms, p99 %.2f ms at %.0f req/s",
        name,
        result.max_throughput,
        result.p50 * 1000,
        result.p99 * 1000,
        fixed_at,
    )
    return result


def ratios(result: VariantResult, baseline: VariantResult) -> dict[str, float]:
    """Return a variant's figures over the recorder-off figures of its round."""
    return {
        "p50": result.p50 / baseline.p50,
        "p99": result.p99 / baseline.p99,
        "throughput": result.max_throughput / baseline.max_throughput,
    }
