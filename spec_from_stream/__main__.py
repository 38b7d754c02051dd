"""Command line: keep an OpenAPI document of recorded traffic up to date.

    python -m spec_from_stream --bootstrap-server localhost:9092 \\
        --topic http_recordings --out spec/
    python -m spec_from_stream --input exchanges.jsonl --out spec/
    python -m spec_from_stream --input recordings.jsonl --follow --out spec/
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

import orjson
import yaml

from spec_from_stream.config import (
    DEFAULT_CONNECT_TIMEOUT,
    ConfigError,
    Defaults,
    defaults_from_env,
    topic_problem,
)
from spec_from_stream.follow import follow_file
from spec_from_stream.reader import BuildOptions, KafkaReader, build_from_file
from spec_from_stream.sources import SourceError, quiet_kafka_logging
from spec_from_stream.state import StateError
from spec_from_stream.viewer import DocumentStore, Viewer
from spec_from_stream.writer import OutputError

logger = logging.getLogger("spec_from_stream")

USAGE_ERROR = 2
# the shell's status for a command ended by SIGINT
INTERRUPTED = 130


class UsageError(Exception):
    """A mistake of the user's: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)")


def build_parser(defaults: Defaults) -> argparse.ArgumentParser:
    """Describe every option, with its default and its environment variable."""
    parser = _Parser(
        prog="python -m spec_from_stream",
        description=(
            "Read http-types exchanges (from a Kafka topic, live, or from a "
            "JSON Lines or HAR file) and keep an OpenAPI document of the API "
            "they show: OUT/openapi.yaml and OUT/openapi.json, or "
            "OUT/<host>/openapi.* when the traffic has several hosts."
        ),
        epilog=(
            "Live mode runs until SIGINT or SIGTERM, writes the document at "
            "most once a second while traffic flows, and keeps its progress "
            "in OUT/.state/ so a restart continues exactly where it stopped."
        ),
    )
    source = parser.add_argument_group("source (Kafka unless --input is given)")
    # the Kafka options default to None, so that one given with --input is
    # told from one left alone (see _kafka_defaults)
    parser.set_defaults(kafka_defaults=defaults)
    source.add_argument(
        "--bootstrap-server",
        metavar="HOST:PORT",
        help="Kafka broker(s) to start from, comma-separated "
        f"(env KAFKA_BOOTSTRAP_SERVERS; default {defaults.bootstrap_servers})",
    )
    source.add_argument(
        "--topic",
        type=_topic,
        help=f"topic holding the exchanges (env RECORDING_TOPIC; default "
        f"{defaults.topic})",
    )
    source.add_argument(
        "--group-id",
        help="consumer group used for partition assignment; offsets are kept "
        "in OUT/.state/, not in Kafka (env SPEC_GROUP_ID; default: a group of "
        "its own per --out folder, so every reader gets every partition)",
    )
    source.add_argument(
        "--connect-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="how long to wait for the broker at start before giving up "
        f"(default {DEFAULT_CONNECT_TIMEOUT:g}); later outages are waited out",
    )
    source.add_argument(
        "--single-process",
        action="store_true",
        help="fetch from Kafka in the reader's own process (default: a child "
        "process fetches while this one builds, when there are two CPUs or more)",
    )
    source.add_argument(
        "--input",
        type=_input_path,
        metavar="FILE",
        help="build from a JSON Lines, HAR or JSON array file instead of Kafka, "
        "then exit (the format is told by extension or content; gzip is read "
        "as it is; - reads JSON Lines, gzip too, from standard input)",
    )
    source.add_argument(
        "--follow",
        action="store_true",
        help="with --input: keep reading the JSON Lines file as it grows (as "
        "`tail -F` does, through truncation and rotation) and keep the document "
        "up to date until SIGINT or SIGTERM",
    )
    output = parser.add_argument_group("document")
    output.add_argument(
        "--out",
        type=Path,
        default=defaults.out_dir,
        metavar="DIR",
        help="folder for the document and the state (env SPEC_OUT_DIR; "
        "default %(default)s)",
    )
    output.add_argument(
        "--openapi-version",
        choices=("3.1", "3.0"),
        default=None,
        help="OpenAPI version of the document (default: the initial spec's, else 3.1)",
    )
    output.add_argument(
        "--initial-spec",
        type=Path,
        metavar="FILE",
        help="an OpenAPI document (YAML or JSON) to start from; traffic adds to it",
    )
    output.add_argument(
        "--examples",
        action="store_true",
        help="add examples taken from the traffic (off by default: real values "
        "from traffic can be personal data)",
    )
    viewer = parser.add_argument_group("viewer")
    viewer.add_argument(
        "--serve",
        type=_port,
        default=defaults.serve_port,
        metavar="PORT",
        help="serve the document and a Swagger UI page that follows it on this "
        "port (env SPEC_SERVE_PORT; default: no viewer)",
    )
    viewer.add_argument(
        "--serve-host",
        default=defaults.serve_host,
        metavar="HOST",
        help="address the viewer binds to (env SPEC_SERVE_HOST; default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="logging threshold (default %(default)s)",
    )
    return parser


def parse_args(argv: list[str] | None, defaults: Defaults) -> argparse.Namespace:
    """Parse the command line, every default filled in.

    :raise UsageError: options that do not go together.
    """
    args = build_parser(defaults).parse_args(argv)
    _kafka_defaults(args)
    return args


# options that only mean something when reading Kafka
KAFKA_OPTIONS = (
    ("bootstrap_server", "--bootstrap-server"),
    ("topic", "--topic"),
    ("group_id", "--group-id"),
    ("connect_timeout", "--connect-timeout"),
    ("single_process", "--single-process"),
)


def _kafka_defaults(args: argparse.Namespace) -> None:
    """Refuse Kafka options given with --input, then fill in their defaults.

    Defaults from the environment are no mistake (compose sets them for every
    mode), so only options on the command line are refused.

    :raise UsageError: a Kafka option was given together with --input.
    """
    if args.input is not None:
        given = [
            flag
            for name, flag in KAFKA_OPTIONS
            if getattr(args, name) not in (None, False)
        ]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise UsageError(
                f"{', '.join(given)} {verb} only to reading Kafka, not to --input"
            )
    defaults = args.kafka_defaults
    if args.bootstrap_server is None:
        args.bootstrap_server = defaults.bootstrap_servers
    if args.topic is None:
        problem = topic_problem(defaults.topic)
        if problem is not None and args.input is None:
            raise UsageError(f"RECORDING_TOPIC: {problem}")
        args.topic = defaults.topic
    if args.group_id is None:
        args.group_id = defaults.group_id
    if args.connect_timeout is None:
        args.connect_timeout = DEFAULT_CONNECT_TIMEOUT


def _input_path(text: str) -> Path:
    """The --input path; only a bare `-` means standard input.

    Path("./-") is Path("-"), so a file named `-` is kept as an absolute path.
    """
    if not text:
        raise argparse.ArgumentTypeError("no file name given")
    path = Path(text)
    if text != "-" and str(path) == "-":
        return path.absolute()
    return path


def _positive_float(text: str) -> float:
    """Parse a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _topic(text: str) -> str:
    """Check a topic name against Kafka's rules."""
    problem = topic_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _port(text: str) -> int:
    """Parse a TCP port number."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


# the fields an OpenAPI document may have at its top level, besides x- ones
TOP_LEVEL_FIELDS = {
    "3.1": (
        "openapi",
        "info",
        "jsonSchemaDialect",
        "servers",
        "paths",
        "webhooks",
        "components",
        "security",
        "tags",
        "externalDocs",
    ),
    "3.0": (
        "openapi",
        "info",
        "servers",
        "paths",
        "components",
        "security",
        "tags",
        "externalDocs",
    ),
}
# the fields of a path item that hold an operation
OPERATION_FIELDS = frozenset(
    ("get", "put", "post", "delete", "options", "head", "patch", "trace")
)
# YAML aliases let a small file stand for billions of values ("billion
# laughs"); an initial spec with more values than this, aliases expanded, is
# refused rather than copied into every document written
MAX_INITIAL_SPEC_VALUES = 1_000_000
# the parts the builder extends, with the type they must have
_CONTAINERS = (
    ("info", dict, "mapping"),
    ("servers", list, "list"),
    ("components", dict, "mapping"),
)


def load_initial_spec(path: Path, version: str | None = None) -> tuple[dict, str]:
    """Read an OpenAPI document (YAML or JSON) to start from; return it and
    the OpenAPI version to write, its own (`version` may only repeat it).

    Only the top-level fields OpenAPI defines (and x- extensions) are kept, so
    what is written stays a valid document.

    :raise UsageError: the file is missing, not YAML, not an OpenAPI document,
        or of another version than the one asked for.
    """
    try:
        with path.open("rb") as stream:
            document = yaml.safe_load(stream)
    except FileNotFoundError:
        raise UsageError(f"initial spec not found: {path}") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError:
        raise UsageError(f"initial spec {path} is not YAML or JSON") from None
    except RecursionError:
        raise UsageError(f"initial spec {path} is nested too deeply") from None
    if not isinstance(document, dict) or "openapi" not in document:
        raise UsageError(f"initial spec {path} is not an OpenAPI document")
    version = _initial_version(document["openapi"], version, path)
    if _too_many_values(document, MAX_INITIAL_SPEC_VALUES):
        raise UsageError(
            f"initial spec {path} holds more than {MAX_INITIAL_SPEC_VALUES} "
            "values once its YAML aliases are expanded"
        )
    try:
        # YAML dates and number keys become the strings the JSON document holds,
        # so the YAML and the JSON written from it say the same
        document = orjson.loads(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS))
    except orjson.JSONEncodeError as error:
        raise UsageError(
            f"initial spec {path} cannot be written as JSON ({error})"
        ) from None
    allowed = TOP_LEVEL_FIELDS[version]
    unknown = [
        str(key)
        for key in document
        if key not in allowed and not (isinstance(key, str) and key.startswith("x-"))
    ]
    if unknown:
        logger.warning(
            "initial spec %s: left out top-level fields OpenAPI %s does not define: %s",
            path,
            version,
            ", ".join(unknown),
        )
    document = {
        key: value
        for key, value in document.items()
        if key in allowed or (isinstance(key, str) and key.startswith("x-"))
    }
    for field, kind, name in _CONTAINERS:
        if field in document and not isinstance(document[field], kind):
            raise UsageError(f"initial spec {path}: {field} is not a {name}")
    components = document.get("components") or {}
    if not isinstance(components.get("securitySchemes", {}), dict):
        raise UsageError(
            f"initial spec {path}: components.securitySchemes is not a mapping"
        )
    document["paths"] = _checked_paths(document.get("paths"), path)
    _check_openapi(document, path)
    return document, version


def _initial_version(declared: object, asked: str | None, path: Path) -> str:
    """The version of an initial spec, as the document is written in it.

    Schemas differ between 3.0 and 3.1 (nullable against a "null" type, among
    others), so a spec is continued in its own version, not converted.
    """
    text = str(declared)
    own = ".".join(text.split(".")[:2])
    if own not in TOP_LEVEL_FIELDS:
        raise UsageError(
            f"initial spec {path} is OpenAPI {text}; the reader writes 3.0 or 3.1"
        )
    if asked is not None and asked != own:
        raise UsageError(
            f"initial spec {path} is OpenAPI {text}, not {asked}: leave out "
            "--openapi-version, or convert the spec first"
        )
    return own


def _check_openapi(document: dict, path: Path) -> None:
    """Refuse an initial spec OpenAPI does not allow: what is written from it
    would not be valid either, and its odd values could break rendering."""
    from openapi_spec_validator import validate

    try:
        validate(document)
    except Exception as error:
        where = getattr(error, "json_path", "")
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        at = f" at {where}" if where and where != "$" else ""
        raise UsageError(
            f"initial spec {path} is not a valid OpenAPI document: {message}{at}"
        ) from None


def _checked_paths(paths: object, path: Path) -> dict:
    """The paths object of an initial spec; null or absent is no paths yet."""
    if paths is None:
        return {}
    if not isinstance(paths, dict):
        raise UsageError(f"initial spec {path}: paths is not a mapping")
    for template, item in paths.items():
        if not isinstance(template, str) or not template.startswith("/"):
            raise UsageError(
                f"initial spec {path}: path {template!r} does not start with /"
            )
        if not isinstance(item, dict):
            raise UsageError(f"initial spec {path}: path {template} is not a mapping")
        for method, operation in item.items():
            if method in OPERATION_FIELDS and not isinstance(operation, dict):
                raise UsageError(
                    f"initial spec {path}: {method} {template} is not a mapping"
                )
    return paths


def _too_many_values(document: object, limit: int) -> bool:
    """Tell whether a loaded document holds more than limit values in all.

    A value reached through several aliases is counted each time, as it would
    be written; the count stops at the limit, so a huge one costs no more.
    """
    count = 0
    pending = [document]
    while pending:
        value = pending.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _stop_on_signals(stop: threading.Event) -> None:
    """Turn SIGINT and SIGTERM into a request to stop cleanly."""

    def handle(signum: int, frame: object) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def run(args: argparse.Namespace) -> int:
    """Run the mode the options ask for; return the exit status."""
    stop = threading.Event()
    _stop_on_signals(stop)
    version, initial = args.openapi_version, None
    if args.initial_spec:
        initial, version = load_initial_spec(args.initial_spec, version)
    options = BuildOptions(
        openapi_version=version or "3.1", initial_spec=initial, examples=args.examples
    )
    store = DocumentStore()
    viewer = None
    if args.serve is not None:
        try:
            viewer = Viewer(args.serve_host, args.serve, store)
        except OSError as error:
            raise UsageError(
                f"cannot serve on {args.serve_host}:{args.serve}: {error.strerror}"
            ) from None
        viewer.start()
    try:
        if args.follow:
            if args.input is None or str(args.input) == "-":
                raise UsageError("--follow needs --input FILE (a JSON Lines file)")
            return (
                0
                if follow_file(args.input, args.out, options, stop, store.update)
                else 1
            )
        if args.input is not None:
            reader = build_from_file(args.input, args.out, options, store.update, stop)
            if stop.is_set():
                return INTERRUPTED
            if reader.builder.exchanges == 0:
                logger.warning("no usable exchange in %s: nothing written", args.input)
                return 1
            if not reader.written:
                # rendering failed (logged with its trace): not a success
                return 1
            if viewer is not None:
                logger.info("serving until interrupted (Ctrl-C)")
                stop.wait()
            return 0
        live = KafkaReader(
            args.bootstrap_server,
            args.topic,
            args.group_id,
            args.out,
            options,
            connect_timeout=args.connect_timeout,
            listener=store.update,
            fetch_process=False if args.single_process else None,
        )
        return 0 if live.run(stop) else 1
    finally:
        if viewer is not None:
            viewer.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run; user errors print one line and return 2."""
    try:
        args = parse_args(argv, defaults_from_env())
        logging.basicConfig(
            level=args.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        quiet_kafka_logging()
        return run(args)
    except (UsageError, ConfigError, SourceError, StateError, OutputError) as error:
        print(f"spec_from_stream: error: {error}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
