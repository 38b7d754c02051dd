"""The demo API plus /__recorder_stats, so a test can read a server's counters.

The stats route sits outside the recorder: reading the counters is neither
recorded nor counted.

Limitation: counters are per process; with several gunicorn workers the
answer comes from whichever worker takes the request, so tests that check
counters run one worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import orjson

import recorder
from server.wsgi import app as demo_app

STATS_PATH = "/__recorder_stats"


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Answer the stats route here, everything else with the demo API."""
    if environ.get("PATH_INFO") != STATS_PATH:
        return demo_app(environ, start_response)
    body = orjson.dumps({**recorder.stats(), "pid": os.getpid()})
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
