"""The demo server's settings: environment variables and their defaults."""

import os
from collections.abc import Mapping
from typing import Any

from recorder.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_SINK, DEFAULT_TOPIC

# every setting the server reads, with its default; server/README.md lists them
DEFAULTS: dict[str, Any] = {
    "KAFKA_BOOTSTRAP_SERVERS": DEFAULT_BOOTSTRAP_SERVERS,
    "RECORDING_TOPIC": DEFAULT_TOPIC,
    "RECORDER_SINK": DEFAULT_SINK,
    "MAX_BODY_BYTES": 1024 * 1024,
    "BODY_TIMEOUT": 10,
    "PORT": 5000,
}
# TCP ports are 16-bit; a larger number would silently wrap around
MAX_PORT = 65535


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings from the environment, defaults filled in."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            config[name] = default
        elif isinstance(default, int):
            config[name] = _positive_int(name, raw)
            if name == "PORT" and config[name] > MAX_PORT:
                raise ValueError(f"PORT must be from 1 to {MAX_PORT}, got {raw!r}")
        else:
            config[name] = raw.strip()
    return config


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value
