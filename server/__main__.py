"""Run the demo API with Flask's development server: `python -m server`."""

import argparse
import logging
import signal
import sys

from server.app import create_app
from server.config import DEFAULTS


def main(argv: list[str] | None = None) -> int:
    """Serve the API on 127.0.0.1:$PORT until interrupted."""
    settings = "\n".join(
        f"  {name} (default {value})" for name, value in DEFAULTS.items()
    )
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Serve the demo users API on 127.0.0.1, recording every\n"
        "exchange (Flask's development server; gunicorn for production).",
        epilog=f"settings, from the environment:\n{settings}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        app = create_app()
    except ValueError as error:
        print(f"server: {error}", file=sys.stderr)
        return 2
    # SIGTERM (kill, systemd, docker stop) ends the process like Ctrl-C does:
    # through the exit handlers, where the recorder delivers what it holds
    # and logs its final counters
    signal.signal(signal.SIGTERM, _exit)
    # threaded like gunicorn's gthread workers; one process keeps one user store
    app.run(host="127.0.0.1", port=app.config["PORT"], threaded=True)
    return 0


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
