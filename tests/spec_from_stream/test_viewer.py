"""The viewer: real HTTP requests to a viewer on 127.0.0.1."""

import json

import pytest
import requests

from spec_from_stream.viewer import DocumentStore, Viewer
from spec_from_stream.writer import to_json


def doc(title: str) -> dict:
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"}, "paths": {}}


@pytest.fixture
def viewer():
    store = DocumentStore()
    server = Viewer("127.0.0.1", 0, store)
    server.start()
    host, port = server.address
    try:
        yield store, f"http://{host}:{port}"
    finally:
        server.stop()


def test_page_loads_swagger_ui_from_this_server_only(viewer):
    _, base = viewer

    page = requests.get(base + "/", timeout=10)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "https://" not in page.text and "http://" not in page.text
    for asset in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css"):
        assert asset in page.text
        served = requests.get(f"{base}/{asset}", timeout=10)
        assert served.status_code == 200
        assert len(served.content) > 1000
    script = requests.get(base + "/viewer.js", timeout=10)
    assert "specs.json" in script.text


def test_document_and_version_follow_the_writer(viewer):
    store, base = viewer
    assert requests.get(base + "/specs.json", timeout=10).json() == {
        "version": 0,
        "documents": [],
    }

    store.update({"a.test": to_json(doc("one"))})
    first = requests.get(base + "/specs.json", timeout=10).json()
    store.update({"a.test": to_json(doc("one"))})
    same = requests.get(base + "/specs.json", timeout=10).json()
    store.update({"a.test": to_json(doc("two"))})
    second = requests.get(base + "/specs.json", timeout=10).json()

    assert first == same
    assert first["documents"] == [{"name": "a.test", "url": "openapi.json"}]
    assert second["version"] > first["version"]
    served = requests.get(base + "/openapi.json", timeout=10)
    assert served.headers["Cache-Control"] == "no-store"
    assert served.json() == doc("two")


def test_several_hosts_are_served_like_their_folders_on_disk(viewer):
    store, base = viewer
    store.update({"a.test": to_json(doc("a")), "b.test:8080": to_json(doc("b"))})

    index = requests.get(base + "/specs.json", timeout=10).json()

    urls = {d["name"]: d["url"] for d in index["documents"]}
    assert urls == {
        "a.test": "a.test/openapi.json",
        "b.test:8080": "b.test_8080/openapi.json",
    }
    assert requests.get(f"{base}/{urls['b.test:8080']}", timeout=10).json() == doc("b")


def test_the_url_of_the_first_layout_still_answers_after_a_second_host(viewer):
    # a page that read the index just before the switch fetches the old URL
    store, base = viewer
    store.update({"a.test": to_json(doc("a"))})
    store.update({"a.test": to_json(doc("a2")), "b.test": to_json(doc("b"))})

    index = requests.get(base + "/specs.json", timeout=10).json()
    old = requests.get(base + "/openapi.json", timeout=10)

    assert [d["url"] for d in index["documents"]] == [
        "a.test/openapi.json",
        "b.test/openapi.json",
    ]
    assert old.status_code == 200
    assert old.json() == doc("a2")


@pytest.mark.parametrize(
    "path",
    ["/nothing", "/../../etc/passwd", "/swagger-ui/../../setup.py", "/swagger-ui/"],
)
def test_anything_else_is_a_json_404(viewer, path):
    _, base = viewer

    response = requests.get(base + path, timeout=10)

    assert response.status_code == 404
    assert json.loads(response.content) == {"error": "not found"}


def test_head_answers_without_a_body(viewer):
    _, base = viewer

    response = requests.head(base + "/", timeout=10)

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 0
    assert response.content == b""


def test_busy_port_raises_os_error(viewer):
    _, base = viewer
    port = int(base.rsplit(":", 1)[1])

    with pytest.raises(OSError):
        Viewer("127.0.0.1", port, DocumentStore())
