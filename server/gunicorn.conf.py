"""gunicorn settings for the demo API (docker-compose.yml passes --bind)."""

import os

# one worker process because the demo keeps its users in memory (a second
# worker would have its own users); threads give concurrency inside it
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '5000')}")
# how long a stopping worker gives the recorder to deliver what it still holds
recorder_flush_timeout = float(os.environ.get("RECORDER_FLUSH_TIMEOUT", "5"))
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
