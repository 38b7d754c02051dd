"""The baseline: meeshkan 0.2.21's spec builder, in a virtual environment of its own.

meeshkan pins old libraries that must not mix with this project's, so the
bench installs it into ``bench/.cache/meeshkan-venv`` and runs this file
there as a script (``--run``). Its command line does not start on Python
3.11, but its builder module imports, and that is what is measured:
``HttpExchangeReader.from_json`` then ``update_openapi`` per exchange, the
loop its own ``build_schema_online`` runs.

This module imports only the standard library at the top, so it runs in
that environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
import venv
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE = "meeshkan==0.2.21"


class BaselineError(RuntimeError):
    """The baseline could not be installed or run; the message says why."""


def ensure_venv(cache: Path) -> Path:
    """Install meeshkan into its own environment once; return its python."""
    home = cache / "meeshkan-venv"
    python = home / "bin" / "python"
    stamp = home / ".installed"
    if stamp.exists():
        return python
    logger.info("installing %s into %s (once)", PACKAGE, home)
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        + [PACKAGE],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BaselineError(f"cannot install {PACKAGE}: {last}")
    stamp.touch()
    return python


def measure(
    python: Path, corpus: Path, limit: int, budget: float, timeout: float = 900
) -> dict:
    """Run the baseline on the first limit lines of corpus; return its figures.

    The first pass keeps the exchanges meeshkan processes without raising
    (for at most budget seconds); the second, timed pass feeds it only those.
    The result holds ``accepted`` (line numbers), ``rate`` (exchanges per
    second of wall time; ``cpu_rate`` per second of CPU time), ``rejected`` and
    ``errors`` (exception names and counts).
    """
    done = subprocess.run(
        [str(python), __file__, "--run", str(corpus), str(limit), str(budget)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BaselineError(f"the meeshkan run failed: {last}")
    return json.loads(done.stdout)


def _run(corpus: Path, limit: int, budget: float) -> dict:
    """Inside meeshkan's environment: filter, then time, its builder."""
    from http_types import HttpExchangeReader
    from meeshkan.build.builder import BASE_SCHEMA, update_openapi
    from meeshkan.build.update_mode import UpdateMode

    # meeshkan logs every failure with a traceback; the counts are enough here
    logging.disable(logging.CRITICAL)
    with corpus.open("rb") as lines:
        raw = [line for _, line in zip(range(limit), lines, strict=False)]

    accepted: list[int] = []
    errors: dict[str, int] = {}
    schema = BASE_SCHEMA
    deadline = time.monotonic() + budget
    for number, line in enumerate(raw):
        if time.monotonic() > deadline:
            break
        try:
            exchange = HttpExchangeReader.from_json(line)
            schema = update_openapi(schema, exchange, UpdateMode.GEN)
        except Exception as error:  # noqa: BLE001 - any crash excludes the input
            name = type(error).__name__
            errors[name] = errors.get(name, 0) + 1
            continue
        accepted.append(number)
    tried = number + 1 if raw else 0

    schema = BASE_SCHEMA
    failed = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    for number in accepted:
        try:
            exchange = HttpExchangeReader.from_json(raw[number])
            schema = update_openapi(schema, exchange, UpdateMode.GEN)
        except Exception:  # noqa: BLE001 - counted; order effects are possible
            failed += 1
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    processed = len(accepted) - failed
    return {
        "tried": tried,
        "accepted": accepted,
        "rejected": tried - len(accepted),
        "errors": errors,
        "failed_second_pass": failed,
        "seconds": seconds,
        "rate": processed / seconds if seconds else 0.0,
        "cpu_seconds": cpu_seconds,
        "cpu_rate": processed / cpu_seconds if cpu_seconds else 0.0,
        "paths": len(schema.paths),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="run meeshkan's builder (bench)")
    parser.add_argument("--run", nargs=3, metavar=("CORPUS", "LIMIT", "BUDGET"))
    arguments = parser.parse_args()
    corpus_path, count, seconds = arguments.run
    print(json.dumps(_run(Path(corpus_path), int(count), float(seconds))))
    sys.exit(0)
