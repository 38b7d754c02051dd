"""The application factory: settings, the user store, routes and the recorder."""

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify

from server.config import load_config
from server.errors import register_error_handlers
from server.store import UserStore
from server.users import bp as users_bp

logger = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the demo API; `config` overrides settings read from the environment."""
    app = Flask(__name__)
    app.config.update(load_config())
    if config:
        app.config.update(config)
    # werkzeug answers 413 itself for bodies over this, chunked ones included
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    # keep the JSON bodies as the store returns them (no key sorting)
    app.json.sort_keys = False

    app.extensions["user_store"] = UserStore()
    register_error_handlers(app)
    app.register_blueprint(users_bp)
    app.add_url_rule("/healthz", "healthz", healthz)

    if app.config["RECORDER_SINK"] != "off":
        from recorder.flask import init_app

        init_app(
            app,
            sink=app.config["RECORDER_SINK"],
            bootstrap_servers=app.config["KAFKA_BOOTSTRAP_SERVERS"],
            topic=app.config["RECORDING_TOPIC"],
        )
    return app


def healthz() -> Response:
    """Answer 200 while the process serves requests."""
    return jsonify({"status": "ok"})
