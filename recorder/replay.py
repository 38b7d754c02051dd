"""Send a file of recorded exchanges to the topic, secrets redacted.

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

logger = logging.getLogger(__name__)

# a command may wait for the broker longer than a request thread ever would
REPLAY_PRODUCER = {**PRODUCER_DEFAULTS, "max_block_ms": 10_000}
# sends between two flushes, so memory stays flat on big files
FLUSH_EVERY = 5_000


class ReplayError(Exception):
    """A problem the user can fix (missing file, unreachable broker)."""


def read_exchanges(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the exchanges of a file the spec reader's --input takes (JSON
    Lines, HAR or a JSON array, gzip-compressed too; - is standard input);
    count and log the rest once."""
    from spec_from_stream.sources import SourceError, open_file

    try:
        messages = open_file(path)
    except SourceError as error:
        raise ReplayError(str(error)) from None
    skipped = 0
    for message, where in messages:
        try:
            if isinstance(message, BadMessage):
                raise message
            # HAR entries come converted; lines and array items as JSON bytes
            yield message if isinstance(message, dict) else as_exchange(message)
        except BadMessage as error:
            skipped += 1
            if skipped == 1:
                logger.warning(
                    "skipping %s of %s: not an exchange (%s)", where, path, error.kind
                )
    if skipped:
        logger.warning("skipped %d entries of %s that are not exchanges", skipped, path)


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

    if str(path) != "-" and not path.is_file():
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
        description="Send recorded exchanges (JSON Lines, HAR or a JSON array, "
        "gzip-compressed too) to a Kafka topic, redacting secrets as the "
        "recorder does.",
    )
    parser.add_argument(
        "file", type=Path, help="a .jsonl, .har or .json file (- for standard input)"
    )
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
    if delivered + failed == 0:
        print(f"replay: no exchange in {args.file}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
