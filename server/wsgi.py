"""The WSGI entry point for gunicorn: `server.wsgi:app`."""

import logging

from server.app import create_app

# gunicorn configures its own loggers only; let the recorder's INFO lines through
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
# kafka-python narrates every connection at INFO; its warnings are enough here
logging.getLogger("kafka").setLevel(logging.WARNING)

app = create_app()
