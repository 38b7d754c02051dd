"""A Flask app with one route per recorder case, recorded by the middleware.

gunicorn serves it as `tests.recorder.case_app:app`; RECORDER_SINK and the
other RECORDER_* variables choose the sink. `/counts` (not recorded) tells
the tests how often the app closed iterables and released resources.
"""

import io
import os
import threading
import time
import zlib

from flask import Flask, Response, jsonify, request, send_file, stream_with_context

from recorder.flask import init_app

BIG_CHUNK = b"x" * 65536
# a 1x1 transparent PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000"
    "000049454e44ae426082"
)


class ClosingBody:
    """An iterable whose iterator is a separate object, with a counted close()."""

    def __init__(self, counts: dict[str, int], lock: threading.Lock) -> None:
        self.counts = counts
        self.lock = lock

    def __iter__(self):
        return iter([b"resource body"])

    def close(self) -> None:
        with self.lock:
            self.counts["resource_close"] += 1


def create_case_app(**recorder_options) -> Flask:
    """The case app with the recorder in place (options as for init_app)."""
    app = Flask(__name__)
    # the original exception reaches the WSGI server, as in production setups
    # that let the server log and answer it
    app.config["PROPAGATE_EXCEPTIONS"] = True
    counts = {"resource_close": 0, "stream_acquire": 0, "stream_release": 0}
    lock = threading.Lock()
    released = threading.Event()

    def count(name: str) -> None:
        with lock:
            counts[name] += 1

    @app.post("/echo")
    def echo():
        data = request.get_data()
        return Response(data, content_type="text/plain")

    @app.post("/upload")
    def upload():
        upload = request.files["file"]
        content = upload.read()
        return jsonify(
            {"name": upload.filename, "size": len(content), "text": content.decode()}
        )

    @app.post("/raw")
    def raw():
        stream = request.environ["wsgi.input"]
        length = int(request.environ.get("CONTENT_LENGTH") or 0)
        data = stream.read(length)
        return jsonify({"received": data.decode(), "input": type(stream).__name__})

    @app.post("/raw-read")
    def raw_read():
        data = request.environ["wsgi.input"].read()
        return Response(data, content_type="text/plain")

    @app.post("/webhook")
    def webhook():
        return jsonify(dict(request.form))

    @app.get("/resource")
    def resource():
        return Response(ClosingBody(counts, lock), content_type="text/plain")

    @app.get("/stream")
    def stream():
        # a per-request resource the generator holds and releases when done
        count("stream_acquire")

        @stream_with_context
        def generate():
            try:
                yield b"first chunk\n"
                # the test asks for the second chunk only after it read the first
                released.wait(30)
                released.clear()
                yield b"second chunk\n"
            finally:
                count("stream_release")

        return Response(generate(), content_type="text/plain")

    @app.post("/release")
    def release():
        released.set()
        return "", 204

    @app.get("/large.csv")
    def large_csv():
        def rows():
            yield b"id,name\n"
            for number in range(1, 4):
                yield f"{number},row {number}\n".encode()

        return Response(rows(), content_type="text/csv")

    @app.get("/events")
    def events():
        def generate():
            for number in range(4):
                if number:
                    time.sleep(1)
                yield f"data: event {number}\n\n".encode()

        return Response(generate(), content_type="text/event-stream")

    @app.get("/big")
    def big():
        def generate():
            for _ in range(160):
                yield BIG_CHUNK

        return Response(generate(), content_type="application/octet-stream")

    @app.get("/boom")
    def boom():
        raise CaseError("the view failed on purpose")

    @app.get("/download")
    def download():
        return send_file(
            io.BytesIO(b"d" * (1024 * 1024)),
            mimetype="application/octet-stream",
            download_name="data.bin",
        )

    @app.post("/avatar")
    def avatar():
        upload = request.files["avatar"]
        return jsonify({"size": len(upload.read()), "type": upload.mimetype}), 201

    @app.get("/ping")
    def ping():
        return jsonify({"pong": True})

    @app.get("/export")
    def export():
        rows = [
            {"id": number, "name": f"item {number:07d}"} for number in range(70_000)
        ]
        return jsonify(rows)

    @app.post("/orders")
    def orders():
        return jsonify({"worker": os.getpid(), "order": request.get_json()}), 201

    @app.post("/login")
    def login():
        response = jsonify({"ok": True})
        response.set_cookie("session", "s3cr3t-session", httponly=True)
        response.set_cookie("csrf", "csrf-value-123")
        return response

    @app.get("/search")
    def search():
        return jsonify({"args": request.args.to_dict(flat=False)})

    @app.get("/gzip")
    def gzipped():
        body = zlib.compress(b'{"a": 1}')
        return Response(body, headers={"Content-Encoding": "deflate"})

    @app.get("/counts")
    def get_counts():
        with lock:
            return jsonify({**counts, "pid": os.getpid()})

    init_app(app, **recorder_options)
    return app


class CaseError(Exception):
    """The exception /boom raises."""


app = create_case_app(skip_paths=("/counts", "/raw", "/healthz"))
if os.environ.get("CASE_APP_WARM_UP"):
    # one exchange recorded where the app is loaded: under gunicorn --preload
    # the workers are then forked from a process whose recorder has started
    app.test_client().get("/gzip").close()
