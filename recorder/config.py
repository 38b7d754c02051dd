"""The recorder's options, their defaults and the environment variables for them."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from recorder.redact import DEFAULT_FIELD_WORDS, DEFAULT_HEADERS

DEFAULT_SINK = "kafka"
DEFAULT_BOOTSTRAP_SERVERS = "localhost:9092"
DEFAULT_TOPIC = "http_recordings"
DEFAULT_MAX_BODY_BYTES = 64 * 1024

# option name -> environment variable, all listed in recorder/README.md
ENVIRONMENT = {
    "sink": "RECORDER_SINK",
    "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "topic": "RECORDING_TOPIC",
    "max_body_bytes": "RECORDER_MAX_BODY_BYTES",
    "record_bodies": "RECORDER_RECORD_BODIES",
    "sample_rate": "RECORDER_SAMPLE_RATE",
    "skip_paths": "RECORDER_SKIP_PATHS",
    "skip_methods": "RECORDER_SKIP_METHODS",
    "redact_headers": "RECORDER_REDACT_HEADERS",
    "redact_fields": "RECORDER_REDACT_FIELDS",
    "queue_size": "RECORDER_QUEUE_SIZE",
    "queue_bytes": "RECORDER_QUEUE_BYTES",
    "max_in_flight": "RECORDER_MAX_IN_FLIGHT",
    "max_in_flight_bytes": "RECORDER_MAX_IN_FLIGHT_BYTES",
    "flush_timeout": "RECORDER_FLUSH_TIMEOUT",
    "delivery": "RECORDER_DELIVERY",
}


@dataclass(frozen=True)
class RecorderOptions:
    """Everything the recorder can be told; `RecorderOptions.from_env()` reads env.

    >>> RecorderOptions(sink="file:recordings.jsonl", sample_rate=0.5)
    """

    # where exchanges go: "kafka", "file:PATH", "memory" or "off"
    sink: str = DEFAULT_SINK
    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    topic: str = DEFAULT_TOPIC
    # bytes of each body kept; longer bodies are cut and marked truncated
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # False: bodies are neither read nor recorded (the input stream is untouched)
    record_bodies: bool = True
    # share of requests recorded, from 0 to 1
    sample_rate: float = 1.0
    # exact paths, or prefixes ending in "*", never recorded
    skip_paths: tuple[str, ...] = ("/healthz", "/health", "/favicon.ico", "/static/*")
    skip_methods: tuple[str, ...] = ("OPTIONS",)
    # headers whose whole value is replaced (the auth scheme word is kept)
    redact_headers: frozenset[str] = field(default=DEFAULT_HEADERS)
    # words that mark a query, form or JSON field (or header) name as secret
    redact_fields: frozenset[str] = field(default=DEFAULT_FIELD_WORDS)
    # exchanges waiting for the sender thread; more are dropped and counted
    queue_size: int = 10_000
    # and the bytes they may hold (bodies and header values); more are dropped
    queue_bytes: int = 32 * 1024 * 1024
    # messages and bytes sent to Kafka but not yet confirmed; more are dropped
    # and counted (small, so a broker outage cannot pile up work and memory)
    max_in_flight: int = 5000
    max_in_flight_bytes: int = 8 * 1024 * 1024
    # seconds given to deliver what is left when the process stops
    flush_timeout: float = 5.0
    # where the Kafka sink builds, encodes and sends: "thread" (a thread of
    # this process) or "process" (a child process per server process)
    delivery: str = "process"
    # extra settings for kafka-python's KafkaProducer
    producer_config: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> "RecorderOptions":
        """Read options from environment variables; keyword overrides win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable in ENVIRONMENT.items():
            raw = environ.get(variable, "").strip()
            if raw:
                values[name] = _parse(name, variable, raw)
        return cls(**values).with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> "RecorderOptions":
        """Return a copy with some options changed (unknown names are an error)."""
        known = {option.name for option in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown recorder option {unknown[0]!r}")
        converted = {name: _normalise(name, value) for name, value in overrides.items()}
        options = replace(self, **converted)
        options.check()
        return options

    def check(self) -> None:
        """Raise ValueError for option values that cannot work."""
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError("sample_rate must be between 0 and 1")
        if self.max_body_bytes < 0 or self.queue_size <= 0 or self.queue_bytes <= 0:
            raise ValueError(
                "max_body_bytes, queue_size and queue_bytes must be positive"
            )
        if self.max_in_flight <= 0 or self.max_in_flight_bytes <= 0:
            raise ValueError("max_in_flight and max_in_flight_bytes must be positive")
        if self.flush_timeout < 0:
            raise ValueError("flush_timeout must be positive")
        if self.delivery not in ("thread", "process"):
            raise ValueError(f"delivery must be thread or process: {self.delivery!r}")
        sink = self.sink
        if sink not in ("kafka", "memory", "off") and not sink.startswith("file:"):
            raise ValueError(f"sink must be kafka, file:PATH, memory or off: {sink!r}")


def _normalise(name: str, value: Any) -> Any:
    """Turn lists given for set- or tuple-valued options into the right type."""
    if name in ("redact_headers", "redact_fields"):
        return frozenset(str(item).lower() for item in value)
    if name in ("skip_paths", "skip_methods"):
        return tuple(value)
    return value


def _parse(name: str, variable: str, raw: str) -> Any:
    """Parse one environment variable's text into the option's type."""
    try:
        if name in (
            "max_body_bytes",
            "queue_size",
            "queue_bytes",
            "max_in_flight",
            "max_in_flight_bytes",
        ):
            return int(raw)
        if name in ("sample_rate", "flush_timeout"):
            return float(raw)
        if name == "record_bodies":
            return raw.lower() not in ("0", "false", "no", "off")
    except ValueError:
        raise ValueError(f"{variable} must be a number, got {raw!r}") from None
    if name in ("skip_paths", "skip_methods", "redact_headers", "redact_fields"):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        return _normalise(name, items)
    return raw
