"""Send a JSON Lines or HAR file of exchanges to the topic, secrets redacted.

python -m recorder.replay recordings.jsonl
python -m recorder.replay capture.har --bootstrap-server localhost:9092 --topic t
"""

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from recorder.config import RecorderOptions
from recorder.redact import Redactor
from recorder.sinks.kafka import PRODUCER_DEFAULTS
from spec_from_stream.config import topic_problem
from spec_from_stream.exchange import BadMessage, validate
from spec_from_stream.har import strip_bom

logger = logging.getLogger(__name__)

# a command may wait for the broker longer than a request thread ever would
REPLAY_PRODUCER = {**PRODUCER_DEFAULTS, "max_block_ms": 10_000}
# sends between two flushes, so memory stays flat on big files
FLUSH_EVERY = 5_000


class ReplayError(Exception):
    """A problem the user can fix (missing file, unreachable broker)."""


def read_exchanges(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the exchanges of a JSON Lines or HAR file (HAR by name or content)."""
    if is_har(path):
        from spec_from_stream.har import exchanges_from_har

        try:
            yield from exchanges_from_har(path)
        except ValueError as error:
            raise ReplayError(str(error)) from None
        return
    yield from read_json_lines(path)


def is_har(path: Path) -> bool:
    """True for a .har file, or a file whose content is one JSON document."""
    if path.suffix.lower() == ".har":
        return True
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return False
    with path.open("rb") as file:
        first_line = strip_bom(file.readline(1 << 20)).strip()
    try:
        first = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        # a pretty-printed JSON document starts with a lone "{"
        return first_line.startswith(b"{")
    return isinstance(first, dict) and "log" in first


def read_json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each line that is an exchange; count and log the others once."""
    skipped = 0
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if number == 1:
                line = strip_bom(line)
            if not line.strip():
                continue
            try:
                exchange = as_exchange(line)
            except BadMessage as error:
                skipped += 1
                if skipped == 1:
                    logger.warning(
                        "skipping line %d of %s: not an exchange (%s)",
                        number,
                        path,
                        error.kind,
                    )
                continue
            yield exchange
    if skipped:
        logger.warning("skipped %d lines of %s that are not exchanges", skipped, path)


def as_exchange(line: bytes) -> dict[str, Any]:
    """Parse one line and check it the way the reader does; raise BadMessage."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise BadMessage("not_json") from None
    # the redactor walks query, headers and bodies: they must have their types
    return validate(value)


def replay(path: Path, bootstrap_servers: str, topic: str) -> tuple[int, int]:
    """Send every exchange of the file; return (delivered, failed)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    if not path.is_file():
        raise ReplayError(f"no such file: {path}")
    options = RecorderOptions.from_env()
    redactor = Redactor(options.redact_headers, options.redact_fields)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers.split(","), **REPLAY_PRODUCER
    )
    outcome = {"delivered": 0, "failed": 0}

    def delivered(_metadata: Any) -> None:
        outcome["delivered"] += 1

    def failed(error: Exception) -> None:
        outcome["failed"] += 1
        if outcome["failed"] == 1:
            logger.warning("a send failed: %s", error)

    try:
        for count, exchange in enumerate(read_exchanges(path), start=1):
            value = orjson.dumps(redactor.exchange(exchange))
            try:
                future = producer.send(topic, value=value)
            except KafkaError as error:
                raise ReplayError(
                    f"cannot send to Kafka at {bootstrap_servers}: {error}"
                ) from None
            future.add_callback(delivered)
            future.add_errback(failed)
            if count % FLUSH_EVERY == 0:
                producer.flush(timeout=60)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return outcome["delivered"], outcome["failed"]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and replay the file."""
    defaults = RecorderOptions.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m recorder.replay",
        description="Send recorded exchanges (JSON Lines or HAR) to a Kafka topic, "
        "redacting secrets as the recorder does.",
    )
    parser.add_argument("file", type=Path, help="a .jsonl or .har file")
    parser.add_argument(
        "--bootstrap-server",
        default=defaults.bootstrap_servers,
        help="Kafka address (default: $KAFKA_BOOTSTRAP_SERVERS or %(default)s)",
    )
    parser.add_argument(
        "--topic",
        default=defaults.topic,
        help="topic to send to (default: $RECORDING_TOPIC or %(default)s)",
    )
    args = parser.parse_args(argv)
    problem = topic_problem(args.topic)
    if problem is not None:
        print(f"replay: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="replay: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        delivered, failed = replay(args.file, args.bootstrap_server, args.topic)
    except (ReplayError, OSError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    print(f"replay: sent {delivered} exchanges to {args.topic}, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
