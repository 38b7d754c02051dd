"""The reader's settings: defaults and the environment variables that set them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BOOTSTRAP = "localhost:9092"
DEFAULT_TOPIC = "http_recordings"
DEFAULT_OUT_DIR = "spec"
DEFAULT_SERVE_HOST = "127.0.0.1"
DEFAULT_CONNECT_TIMEOUT = 30.0
# the document on disk is refreshed at most this often while traffic flows,
# and this often while the reader is behind the topic, catching up (saving
# the state and rendering cost the same whatever the backlog)
WRITE_INTERVAL = 1.0
BEHIND_WRITE_INTERVAL = 5.0
# seconds between two INFO progress lines while counts change
PROGRESS_INTERVAL = 5.0
# Kafka's own rule for topic names (the broker refuses any other name)
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True)
class Defaults:
    """Option defaults, taken from the environment where it sets them."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    topic: str = DEFAULT_TOPIC
    out_dir: Path = Path(DEFAULT_OUT_DIR)
    # None: a group of the reader's own, named after its --out folder
    group_id: str | None = None
    serve_port: int | None = None
    serve_host: str = DEFAULT_SERVE_HOST


class ConfigError(ValueError):
    """An environment variable holds a value the reader cannot use."""


def topic_problem(name: str) -> str | None:
    """Say why Kafka would refuse a topic name, or return None if it is valid."""
    if not name:
        return "a topic name cannot be empty"
    if name in (".", ".."):
        return f"{name!r} cannot be a topic name"
    if not _TOPIC_NAME.fullmatch(name):
        return (
            f"invalid topic name {name!r}: at most 249 characters of "
            "ASCII letters, digits, '.', '_' and '-'"
        )
    return None


def defaults_from_env(environ: Mapping[str, str] | None = None) -> Defaults:
    """Read the compose-style environment variables into option defaults."""
    env = os.environ if environ is None else environ
    port_text = env.get("SPEC_SERVE_PORT", "").strip()
    serve_port = None
    if port_text:
        try:
            serve_port = int(port_text)
        except ValueError:
            raise ConfigError(
                f"SPEC_SERVE_PORT is not a port number: {port_text!r}"
            ) from None
        if not 0 < serve_port < 65536:
            raise ConfigError(f"SPEC_SERVE_PORT is out of range: {serve_port}")
    return Defaults(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP,
        topic=env.get("RECORDING_TOPIC") or DEFAULT_TOPIC,
        out_dir=Path(env.get("SPEC_OUT_DIR") or DEFAULT_OUT_DIR),
        group_id=env.get("SPEC_GROUP_ID") or None,
        serve_port=serve_port,
        serve_host=env.get("SPEC_SERVE_HOST") or DEFAULT_SERVE_HOST,
    )
