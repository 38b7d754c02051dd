"""Run the demo API with Flask's development server: `python -m server`."""

import logging
import sys

from server.app import create_app


def main() -> int:
    """Serve the API on 127.0.0.1:$PORT until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        app = create_app()
    except ValueError as error:
        print(f"server: {error}", file=sys.stderr)
        return 2
    # threaded like gunicorn's gthread workers; one process keeps one user store
    app.run(host="127.0.0.1", port=app.config["PORT"], threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
