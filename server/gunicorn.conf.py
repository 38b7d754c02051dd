"""gunicorn settings for the demo API (docker-compose.yml passes --bind)."""

import os
import sys


def _number(name: str, default: str, kind: type = int, least: float = 1) -> float:
    """A number of at least `least` from the environment; one line and exit 2
    if not (gunicorn prints a traceback for an error raised here)."""
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value >= least:
        message = f"{name} must be a number of at least {least:g}, got {raw!r}"
        print(message, file=sys.stderr)
        sys.exit(2)
    return value


# one worker process because the demo keeps its users in memory (a second
# worker would have its own users); threads give concurrency inside it
workers = _number("WEB_CONCURRENCY", "1")
worker_class = "gthread"
threads = _number("GUNICORN_THREADS", "8")
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '5000')}")
# how long a stopping worker gives the recorder to deliver what it still holds
recorder_flush_timeout = _number("RECORDER_FLUSH_TIMEOUT", "5", float, least=0)
graceful_timeout = int(recorder_flush_timeout) + 5
# gunicorn has no setting that bounds how long a gthread worker's thread
# waits for a slow request body; the app sets a socket timeout while it
# reads one (BODY_TIMEOUT, see server/README.md), and a buffering reverse
# proxy in front is the full remedy
# no control socket (gunicornc): the demo does not use it, the image's user
# has no home folder to put it in, and two servers on one machine would
# share its default path
control_socket_disable = True


def worker_exit(server, worker) -> None:
    """Deliver the exchanges this worker still holds before it exits."""
    import recorder

    recorder.shutdown(timeout=recorder_flush_timeout)


class _RequestTextWithheld:
    """A log filter: gunicorn's own lines about bad or failed requests quote
    the request line, whose query may hold secrets; they keep the reason only."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        if message.startswith("Invalid request from ip="):
            # "...: Invalid HTTP request line: 'GET /?token=...'": cut the quote
            record.msg = message.split("'", 1)[0].split('"', 1)[0].rstrip(": ")
            record.msg += " (request text withheld)"
            record.args = ()
        elif message.startswith("Error handling request ") and "?" in message:
            record.msg = message.split("?", 1)[0] + " (query withheld)"
            record.args = ()
        return True


def post_worker_init(worker) -> None:
    """Keep request text out of this worker's error log."""
    worker.log.error_log.addFilter(_RequestTextWithheld())
