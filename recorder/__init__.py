"""Record every HTTP exchange of a WSGI app as http-types JSON, into Kafka or a file.

>>> from recorder import RecordingMiddleware
>>> app.wsgi_app = RecordingMiddleware(app.wsgi_app)      # any WSGI app
>>> from recorder.flask import init_app; init_app(app)      # or, for Flask
>>> recorder.stats()
{'recorded': 3, 'delivered': 3, 'dropped': 0, 'failed': 0, 'skipped': 1, ...}
"""

from recorder.config import RecorderOptions
from recorder.middleware import RecordingMiddleware
from recorder.sinks import pending, shutdown
from recorder.stats import COUNTERS


def stats() -> dict[str, int]:
    """This process's counters (recorded, delivered, dropped, failed, skipped)
    and `pending`: exchanges queued or sent but not yet confirmed."""
    return {**COUNTERS.snapshot(), "pending": pending()}


__all__ = ["RecorderOptions", "RecordingMiddleware", "shutdown", "stats"]
