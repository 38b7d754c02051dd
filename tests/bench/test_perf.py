"""Smoke test of the benchmark command: it runs and fills its table."""

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# every measurement leaves at least one row with a figure in it
EXPECTED_ROWS = [
    "off: max throughput (req/s)",
    "on, Kafka up: p50 / p99 vs off",
    "on, Kafka up: max throughput vs off",
    "on, Kafka up: CPU per request vs off",
    "naive after_request: max throughput vs off",
    "on, Kafka down: p50 / p99 vs off",
    "on, Kafka down: max throughput vs off",
    "delivered into Kafka (exchanges/s)",
    "from JSON Lines, 20,000 exchanges (exchanges/s)",
    "bare kafka-python consumer (messages/s)",
    "from Kafka (exchanges/s)",
    "from Kafka vs bare consumer",
    "ours vs meeshkan",
    "RSS after 10,000 / 50,000 exchanges",
]


def numbers_in(text: str) -> list[float]:
    """Return the numbers written in a table cell (thousands separators allowed)."""
    numbers = []
    for word in text.replace("/", " ").replace("(", " ").split():
        word = word.rstrip("x)").replace(",", "")
        try:
            numbers.append(float(word))
        except ValueError:
            continue
    return numbers


@pytest.mark.slow
def test_small_run_prints_every_row_with_positive_figures(tmp_path):
    report = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.perf", "--size", "small", "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stdout
    rows = {row["label"]: row for row in json.loads(report.read_text())["rows"]}
    failed = [row for row in rows.values() if row["section"] == "failed"]
    assert not failed, f"measurements failed: {failed}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, done.stderr[-3000:]

    freshness = [label for label in rows if label.startswith("p50 / p99 over")]
    assert freshness, "no freshness row"
    for label in [*EXPECTED_ROWS, *freshness]:
        assert label in rows, f"missing row {label!r}"
        figures = numbers_in(rows[label]["measured"])
        assert figures, f"no figure in {label!r}: {rows[label]['measured']!r}"
        assert all(f > 0 and math.isfinite(f) for f in figures), rows[label]
        assert label in done.stdout, "the table on stdout lacks a row"


def test_help_describes_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "bench.perf", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "--size" in done.stdout and "small" in done.stdout


def test_unknown_size_is_one_readable_line():
    done = subprocess.run(
        [sys.executable, "-m", "bench.perf", "--size", "huge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "huge" in done.stderr
