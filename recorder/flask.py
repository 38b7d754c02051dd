"""The one-line Flask hook-up: `init_app(app)`."""

from typing import Any

from recorder.middleware import RecordingMiddleware


def init_app(app: Any, **options: Any) -> RecordingMiddleware:
    """Wrap `app.wsgi_app` with the recorder; options as for `RecorderOptions`.

    Wrapping the WSGI app (not `after_request`) sees streamed bodies, files
    and failing requests too.
    """
    middleware = RecordingMiddleware(app.wsgi_app, **options)
    app.wsgi_app = middleware
    app.extensions["recorder"] = middleware
    return middleware
