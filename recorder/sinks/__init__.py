"""Where exchanges go: Kafka, a JSON Lines file, or memory (for tests)."""

import atexit
import logging
import weakref
from collections.abc import Callable
from typing import Any

from recorder.sinks.base import Sink

logger = logging.getLogger(__name__)

_SINKS: "weakref.WeakSet[Sink]" = weakref.WeakSet()


def make_sink(options: Any, encode: Callable[[Any], bytes]) -> Sink | None:
    """Build the sink named by `options.sink`, or None when recording is off."""
    spec = options.sink
    if spec == "off":
        return None
    if spec == "kafka" and options.delivery == "process":
        from recorder.sinks.process import ProcessKafkaSink

        sink: Sink = ProcessKafkaSink(options)
    elif spec == "kafka":
        from recorder.sinks.kafka import KafkaSink

        sink = KafkaSink(
            options.bootstrap_servers,
            options.topic,
            encode=encode,
            queue_size=options.queue_size,
            queue_bytes=options.queue_bytes,
            max_in_flight_bytes=options.max_in_flight_bytes,
            max_in_flight=options.max_in_flight,
            flush_timeout=options.flush_timeout,
            producer_config=options.producer_config,
        )
    elif spec == "memory":
        from recorder.sinks.memory import MemorySink

        sink = MemorySink(
            encode=encode,
            queue_size=options.queue_size,
            queue_bytes=options.queue_bytes,
        )
    elif spec.startswith("file:") and spec[5:]:
        from recorder.sinks.file import FileSink

        sink = FileSink(
            spec[5:],
            encode=encode,
            queue_size=options.queue_size,
            queue_bytes=options.queue_bytes,
        )
    else:
        raise ValueError(f"unknown recorder sink {spec!r}")
    register(sink)
    return sink


def register(sink: Sink) -> None:
    """Remember a sink so `shutdown()` and exit flush it."""
    _SINKS.add(sink)


def pending() -> int:
    """Exchanges this process's sinks still hold (queued or unconfirmed)."""
    return sum(sink.pending() for sink in list(_SINKS))


def shutdown(timeout: float = 5.0) -> None:
    """Deliver what every sink of this process still holds, within `timeout`."""
    for sink in list(_SINKS):
        try:
            sink.close(timeout)
        except Exception:
            logger.exception("recorder: closing %r failed", sink)


atexit.register(shutdown)

__all__ = ["Sink", "make_sink", "pending", "register", "shutdown"]
