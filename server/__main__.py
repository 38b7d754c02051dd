"""Run the demo API with Flask's development server: `python -m server`."""

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from server.app import create_app
from server.config import DEFAULTS

logger = logging.getLogger(__name__)

# seconds a stop (Ctrl-C, SIGTERM) waits for the requests being served, so
# their exchanges are recorded (docker stop allows 10 s in all)
DRAIN_TIMEOUT = 5.0
# request methods logged by name; any other is logged as "other"
HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
)


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
    # threaded like gunicorn's gthread workers; one process keeps one user store
    server = DrainingServer("127.0.0.1", app.config["PORT"], app)
    # SIGTERM (kill, systemd, docker stop) ends serving like Ctrl-C does
    signal.signal(signal.SIGTERM, _exit)
    server.log_startup()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        # the request threads are daemons the interpreter would not wait for:
        # wait for the requests they serve, then the exit handlers deliver
        # what the recorder holds and log its final counters
        left = server.wait_idle(DRAIN_TIMEOUT)
        if left:
            # a connection counts from its accept, before its request came
            logger.warning(
                "stopped after %gs with %d connections still open (requests "
                "being served, or not yet sent)",
                DRAIN_TIMEOUT,
                left,
            )
    return 0


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


class WithheldRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, logging each request by its method and
    status only: a path or a query can hold personal data or secrets, and
    so can the text of a malformed request, which is left out too."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log one answered request without its target (a method HTTP does not
        define is text of the client's too)."""
        code = getattr(code, "value", code)
        method = self.command if self.command in HTTP_METHODS else "other"
        self.log("info", "%s %s (path withheld)", method, code)

    def log_error(self, format: str, *args: Any) -> None:
        """Log a refused request; the standard message would quote its text."""
        self.log("error", "refused a malformed request (request text withheld)")

    def log(self, type: str, message: str, *args: Any) -> None:
        """Log a line without the client's address."""
        logging.getLogger("werkzeug").log(
            logging.ERROR if type == "error" else logging.INFO, message, *args
        )


class DrainingServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, counting the connections it serves.

    It answers every request with `Connection: close`, so a connection is
    one request: counted from its accept to the end of its handling, after
    the response's close() that finishes its record.
    """

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__(host, port, app, handler=WithheldRequestHandler)
        self._count = 0
        self._idle = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count the connection, then serve it in a thread of its own."""
        with self._idle:
            self._count += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._served()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection (in its thread), then count it as served."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._served()

    def _served(self) -> None:
        with self._idle:
            self._count -= 1
            if not self._count:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> int:
        """Wait until no connection is being served; return how many still are."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._count and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            return self._count


if __name__ == "__main__":
    sys.exit(main())
