"""The WSGI middleware that records every exchange without changing it."""

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from recorder.capture import InputTee, RecordedResponse
from recorder.config import RecorderOptions
from recorder.exchange import Capture, ExchangeEncoder, parse_length
from recorder.rules import SkipRules
from recorder.sinks import Sink, make_sink
from recorder.stats import COUNTERS

logger = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# seconds between two log lines about the recorder's own failures
ERROR_LOG_INTERVAL = 10.0


class RecordingMiddleware:
    """Wraps a WSGI app and hands each exchange to a sink.

    >>> app.wsgi_app = RecordingMiddleware(app.wsgi_app, sink="file:rec.jsonl")

    The request thread only copies what it needs; building, redacting and
    sending happen in the sink's thread. Nothing the recorder does changes
    what the app or the client sees, and its own errors are logged, not raised.
    """

    def __init__(
        self,
        app: WsgiApp,
        options: RecorderOptions | None = None,
        *,
        sink: Sink | str | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(sink, str):
            overrides["sink"] = sink
        base = options if options is not None else RecorderOptions.from_env()
        self.options = base.with_overrides(**overrides)
        self.app = app
        self.encoder = ExchangeEncoder(self.options)
        if isinstance(sink, Sink):
            self.sink: Sink | None = sink
        else:
            self.sink = make_sink(self.options, self.encoder)
        self.rules = SkipRules(self.options)
        self._last_error_log = 0.0

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.sink is None:
            return self.app(environ, start_response)
        try:
            capture, tee = self._begin(environ)
        except Exception:
            self._log_own_error("starting")
            capture, tee = None, None
        if capture is None:
            return self.app(environ, start_response)

        # bytes the app sends through the write() callable, which PEP 3333
        # keeps for old apps; they go out before the returned iterable
        written: list[bytes] = []

        def recording_start_response(status: str, headers: list, *exc_info: Any) -> Any:
            capture.status = status
            capture.response_headers = headers
            write = start_response(status, headers, *exc_info)

            def recording_write(data: bytes) -> Any:
                written.append(data)
                return write(data)

            return recording_write

        try:
            result = self.app(environ, recording_start_response)
        except Exception:
            # the server turns this into its 500 page; the app's exception goes on
            capture.status = None
            capture.error = True
            self._finish(capture, tee, None)
            raise

        try:
            file_wrapper = environ.get("wsgi.file_wrapper")
            if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
                # the server sends the file itself (sendfile): leave it untouched
                capture.file_response = True
                self._finish(capture, tee, None)
                return result
            return RecordedResponse(
                result,
                self.options.max_body_bytes if self.options.record_bodies else 0,
                lambda response: self._finish(capture, tee, response),
                written,
            )
        except Exception:
            self._log_own_error("wrapping the response")
            return result

    def _begin(self, environ: dict[str, Any]) -> tuple[Capture | None, InputTee | None]:
        """Start a capture, or return (None, None) for a skipped request."""
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if self.rules.skip(method, path):
            COUNTERS.add("skipped")
            return None, None
        shed = self.sink.shedding()
        if shed is not None:
            # it would be dropped anyway: not captured at all, so an outage
            # or a full queue costs the request nothing
            self.sink.refuse(shed)
            return None, None

        host = environ.get("HTTP_HOST")
        if not host:
            host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        headers = {key: value for key, value in environ.items() if key[:5] == "HTTP_"}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key] = environ[key]
        capture = Capture(
            method=method,
            raw_uri=environ.get("RAW_URI") or environ.get("REQUEST_URI"),
            script_name=environ.get("SCRIPT_NAME", ""),
            path_info=path,
            query_string=environ.get("QUERY_STRING", ""),
            scheme=environ.get("wsgi.url_scheme", "http"),
            host=host,
            request_headers=headers,
            started=time.time(),
            started_perf=time.perf_counter(),
        )
        if not self.options.record_bodies or "wsgi.input" not in environ:
            return capture, None
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and environ.get("CONTENT_LENGTH", "0") in ("", "0"):
            # HTTP/1.1 sends no body without a length or chunking: nothing to copy
            capture.request_body = b""
            capture.request_length = 0
            return capture, None
        tee = InputTee(environ["wsgi.input"], self.options.max_body_bytes, chunked)
        environ["wsgi.input"] = tee
        return capture, tee

    def _finish(
        self, capture: Capture, tee: InputTee | None, response: RecordedResponse | None
    ) -> None:
        """Complete the capture with the response's end and hand it to the sink."""
        try:
            capture.finished_perf = time.perf_counter()
            length_header = capture.request_headers.get("CONTENT_LENGTH", "")
            content_length = parse_length(length_header)
            if tee is not None:
                body, length, complete = tee.finish(content_length)
                capture.request_body = body
                capture.request_length = length
                capture.request_complete = complete
            elif capture.request_body is None:
                capture.request_length = content_length
            if response is not None:
                capture.error = capture.error or response.error
                capture.aborted = not response.exhausted and not response.error
                if self.options.record_bodies:
                    capture.response_body = response.body()
                    capture.response_length = response.total
                    capture.response_complete = response.exhausted
            elif capture.error and self.options.record_bodies:
                capture.response_body = b""
            self.sink.send(capture)
        except Exception:
            self._log_own_error("finishing")

    def _log_own_error(self, step: str) -> None:
        # the recorder must never break a request: count the exchange as lost,
        # log (rate-limited) and go on
        COUNTERS.add("recorded")
        COUNTERS.add("failed")
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL:
            self._last_error_log = now
            logger.exception("recorder error while %s an exchange", step)
