"""The naive recorder people write first, for comparison: ``bench.naive:app``.

An ``after_request`` hook that builds the exchange and sends it with
``producer.send(...).get()``, so every request waits for the broker's
acknowledgement. Run with ``RECORDER_SINK=off`` so only this hook records.
"""

from __future__ import annotations

import datetime
import logging
import os

import orjson
from flask import Flask, Response, g, request
from kafka import KafkaProducer

from server.app import create_app

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def create_naive_app() -> Flask:
    """Return the demo API with the naive recording hook attached."""
    app = create_app({"RECORDER_SINK": "off"})
    producer = KafkaProducer(
        bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    )
    topic = os.environ.get("RECORDING_TOPIC", "http_recordings")

    @app.before_request
    def note_start() -> None:
        g.recording_started = _now()

    @app.after_request
    def record(response: Response) -> Response:
        exchange = {
            "request": {
                "method": request.method.lower(),
                "protocol": request.scheme,
                "host": request.host,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "pathname": request.path,
                "query": request.args.to_dict(),
                "body": request.get_data(as_text=True),
                "timestamp": g.recording_started,
            },
            "response": {
                "statusCode": response.status_code,
                "headers": {k.lower(): v for k, v in response.headers.items()},
                "body": response.get_data(as_text=True),
                "timestamp": _now(),
            },
        }
        # the naive part: the request waits until the broker acknowledged
        producer.send(topic, orjson.dumps(exchange)).get(timeout=10)
        return response

    return app


app = create_naive_app()
