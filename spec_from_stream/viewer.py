"""The viewer: the current document over HTTP and a Swagger UI page for it.

Swagger UI comes from the `swagger-ui-bundle` package, so the page needs no
CDN. The page polls `specs.json` and redraws when the document changes.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from swagger_ui_bundle import swagger_ui_path

from spec_from_stream.writer import document_paths

logger = logging.getLogger(__name__)

# the Swagger UI files the page uses; nothing else of the package is served
_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Swagger UI sets inline styles; scripts come only from this server
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>OpenAPI from the stream</title>
  <link rel="stylesheet" href="swagger-ui/swagger-ui.css">
  <link rel="icon" type="image/png" href="swagger-ui/favicon-32x32.png">
</head>
<body>
  <p id="status" style="font-family: sans-serif; margin: 1em">Loading...</p>
  <div id="swagger-ui"></div>
  <script src="swagger-ui/swagger-ui-bundle.js"></script>
  <script src="swagger-ui/swagger-ui-standalone-preset.js"></script>
  <script src="viewer.js"></script>
</body>
</html>
"""

SCRIPT = """"use strict";
// redraw Swagger UI whenever the reader writes a new version of the document
let shownVersion = null;
let shownUrls = "";

function draw(index) {
  const status = document.getElementById("status");
  if (index.documents.length === 0) {
    status.textContent = "No exchange read yet: the document appears here "
      + "as soon as traffic arrives.";
    return;
  }
  status.textContent = "";
  const urls = index.documents.map((d) => ({ name: d.name, url: d.url }));
  if (window.ui && JSON.stringify(urls) === shownUrls && urls.length === 1) {
    // same document, new content: update in place, keeping what is expanded
    fetch(urls[0].url, { cache: "no-store" })
      .then((response) => response.text())
      .then((text) => window.ui.specActions.updateSpec(text));
    return;
  }
  shownUrls = JSON.stringify(urls);
  const config = {
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    deepLinking: false,
  };
  if (urls.length === 1) {
    config.url = urls[0].url;
  } else {
    config.urls = urls;
  }
  window.ui = SwaggerUIBundle(config);
}

async function check() {
  try {
    const response = await fetch("specs.json", { cache: "no-store" });
    const index = await response.json();
    if (index.version !== shownVersion) {
      shownVersion = index.version;
      draw(index);
    }
  } catch (error) {
    // the reader is restarting: the next check will find it again
  }
}

check();
setInterval(check, 2000);
"""


class DocumentStore:
    """The latest documents as JSON bytes, with a version that moves on change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._documents: dict[str, bytes] = {}
        self._urls: dict[str, str] = {}
        # URLs of an earlier layout (openapi.json before a second host came),
        # still answered: a page that read the old index fetches them next
        self._former: dict[str, str] = {}
        self.version = 0

    def update(self, documents: dict[str, bytes]) -> None:
        """Replace the documents (the writer's listener); bump the version."""
        with self._lock:
            if documents == self._documents:
                return
            paths = document_paths(list(documents))
            self._documents = dict(documents)
            for host, url in self._urls.items():
                self._former[url] = host
            # same layout as on disk: openapi.json or <host>/openapi.json
            self._urls = {
                host: path.with_suffix(".json").as_posix()
                for host, path in paths.items()
            }
            self.version += 1

    def index(self) -> dict:
        """Describe the documents for the page: names, URLs and the version."""
        with self._lock:
            return {
                "version": self.version,
                "documents": [
                    {"name": host, "url": url} for host, url in self._urls.items()
                ],
            }

    def document(self, url: str) -> bytes | None:
        """Return the JSON of the document served at url, if any."""
        with self._lock:
            for host, known in self._urls.items():
                if known == url:
                    return self._documents[host]
            host = self._former.get(url)
            return None if host is None else self._documents.get(host)


class Viewer:
    """A small threaded HTTP server for the page and the documents."""

    def __init__(self, host: str, port: int, store: DocumentStore) -> None:
        self.store = store
        handler = type("Handler", (_Handler,), {"store": store})
        # binding happens here, so a busy port is reported before reading starts
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound."""
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="viewer",
            daemon=True,
        )
        self._thread.start()
        host, port = self.address
        logger.info("viewer on http://%s:%d/", host, port)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    """Routes: the page, its script, the index, the documents, Swagger UI files."""

    store: DocumentStore
    server_version = "spec_from_stream"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def _respond(self, head: bool) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
        if path in ("", "index.html"):
            self._send(200, PAGE.encode(), "text/html; charset=utf-8", head)
        elif path == "viewer.js":
            self._send(200, SCRIPT.encode(), "text/javascript; charset=utf-8", head)
        elif path == "specs.json":
            body = orjson.dumps(self.store.index())
            self._send(200, body, "application/json", head)
        elif path.startswith("swagger-ui/") and path[11:] in _ASSETS:
            name = path[11:]
            data = Path(swagger_ui_path, name).read_bytes()
            self._send(200, data, _ASSETS[name], head, cache=True)
        else:
            document = self.store.document(path)
            if document is None:
                body = orjson.dumps({"error": "not found"})
                self._send(404, body, "application/json", head)
            else:
                self._send(200, document, "application/json", head)

    def _send(
        self, status: int, body: bytes, content_type: str, head: bool, cache=False
    ) -> None:
        self.send_response(HTTPStatus(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # one line per request would drown the progress lines
        logger.debug("viewer: " + format, *args)
