"""Accuracy on real APIs: build a spec from each traffic file and score it.

    python -m bench.accuracy [FOLDER] [--keep DIR] [--json PATH]

FOLDER has the layout of ../shared/accuracy: ``traffic/NAME.jsonl`` (http-types
exchanges), ``specs/NAME.yaml`` (the published spec) and ``score.py``. For each
API the builder reads the traffic, the document is written as YAML, score.py
compares it with the published one, and a table per API plus the macro average
is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import yaml

from spec_from_stream.builder import SpecBuilder
from spec_from_stream.exchange import BadMessage, decode

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT.parent / "shared" / "accuracy"
# (report key, sub-key, column title, target of the macro average, floor per API)
METRICS = (
    ("operations", "recall", "ops R", 0.95, 0.85),
    ("operations", "precision", "ops P", 0.95, 0.85),
    ("path_params", "recall", "path-param R", 0.95, 0.85),
    ("required", "accuracy", "required acc", 0.95, 0.85),
    ("response_properties", "recall_all_ops", "resp-props R all", 0.95, 0.85),
    ("types", "accuracy", "types", 0.98, 0.95),
)
EXTRA = (
    ("query_params", "recall", "query R"),
    ("status_codes", "recall", "status R"),
    ("request_properties", "recall", "req-props R"),
)


class UsageError(Exception):
    """A problem with the command line or the folder, shown as one line."""


def build_spec(traffic: Path, out: Path) -> tuple[int, int]:
    """Build the spec of one traffic file into out; return (used, skipped)."""
    builder = SpecBuilder()
    skipped = 0
    with traffic.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                builder.add(decode(line))
            except BadMessage as error:
                skipped += 1
                logger.debug("skipped a line of %s: %s", traffic.name, error.kind)
    documents = builder.render("3.1")
    if len(documents) != 1:
        # the scorer takes one document; the traffic of one API has one host
        raise UsageError(f"{traffic.name}: traffic has {len(documents)} hosts, want 1")
    document = next(iter(documents.values()))
    out.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return builder.exchanges, skipped


def score(folder: Path, name: str, spec: Path, report: Path) -> dict:
    """Run the folder's score.py on one inferred spec and return its report."""
    command = [
        sys.executable,
        str(folder / "score.py"),
        str(folder / "specs" / f"{name}.yaml"),
        str(spec),
        "--traffic",
        str(folder / "traffic" / f"{name}.jsonl"),
        "--json",
        str(report),
        "--name",
        name,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"score.py failed on {name}: {last}")
    return json.loads(report.read_text(encoding="utf-8"))


def _value(report: dict, key: str, sub: str) -> float | None:
    """Return one metric of a report, None when not applicable."""
    return (report.get(key) or {}).get(sub)


def format_table(reports: dict[str, dict]) -> str:
    """Return the table: one row per API, the macro average, targets and floors."""
    columns = [(k, s, title) for k, s, title, _, _ in METRICS] + list(EXTRA)
    names = list(reports)
    width = max([len("macro average"), *map(len, names)]) + 2
    head = "API".ljust(width) + "".join(title.rjust(18) for _, _, title in columns)
    lines = [head, "-" * len(head)]
    for name in names:
        cells = "".join(
            _cell(_value(reports[name], key, sub)) for key, sub, _ in columns
        )
        lines.append(name.ljust(width) + cells)
    lines.append("-" * len(head))
    macro = "".join(_cell(_macro(reports, key, sub)) for key, sub, _ in columns)
    lines.append("macro average".ljust(width) + macro)
    targets = "".join(f"{target:>18.2f}" for *_, target, _ in METRICS)
    floors = "".join(f"{floor:>18.2f}" for *_, floor in METRICS)
    lines.append("target (macro)".ljust(width) + targets)
    lines.append("floor (per API)".ljust(width) + floors)
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    """Format one table cell."""
    return f"{'n/a':>18}" if value is None else f"{value:>18.3f}"


def _macro(reports: dict[str, dict], key: str, sub: str) -> float | None:
    """Return the mean of one metric over the APIs where it applies."""
    values = [_value(r, key, sub) for r in reports.values()]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def shortfalls(reports: dict[str, dict]) -> list[str]:
    """Return one line per target or floor that is not met."""
    missed = []
    for key, sub, title, target, floor in METRICS:
        macro = _macro(reports, key, sub)
        if macro is not None and macro < target:
            missed.append(f"{title}: macro {macro:.3f} < {target}")
        for name, report in reports.items():
            value = _value(report, key, sub)
            if value is not None and value < floor:
                missed.append(f"{title}: {name} {value:.3f} < floor {floor}")
    return missed


def run(folder: Path, keep: Path | None = None) -> dict[str, dict]:
    """Build and score every API of a folder; return the reports by name."""
    traffic = sorted((folder / "traffic").glob("*.jsonl"))
    if not (folder / "score.py").is_file() or not traffic:
        raise UsageError(f"{folder} has no score.py or no traffic/*.jsonl")
    reports = {}
    with tempfile.TemporaryDirectory(prefix="accuracy-") as scratch:
        out = keep or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        for path in traffic:
            name = path.stem
            if not (folder / "specs" / f"{name}.yaml").is_file():
                raise UsageError(f"{folder}/specs/{name}.yaml is missing")
            spec = out / f"{name}.yaml"
            used, skipped = build_spec(path, spec)
            logger.info("%s: %d exchanges used, %d skipped", name, used, skipped)
            reports[name] = score(folder, name, spec, out / f"{name}.report.json")
    return reports


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description="Build a spec from each API's traffic and score it.",
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=DEFAULT_FOLDER,
        help="folder with traffic/, specs/ and score.py (default: %(default)s)",
    )
    parser.add_argument(
        "--keep", type=Path, help="write the inferred specs and reports here"
    )
    parser.add_argument("--json", type=Path, help="also write all reports here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        reports = run(args.folder.resolve(), args.keep)
    except (UsageError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(reports))
    missed = shortfalls(reports)
    print("all targets met" if not missed else "not met: " + "; ".join(missed))
    if args.json:
        summary = {
            name: {k: v for k, v in r.items() if k != "per_operation"}
            for name, r in reports.items()
        }
        args.json.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
