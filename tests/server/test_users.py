"""The demo API's answers, good and bad input alike (always JSON, never a 500)."""

import io
import threading

import pytest
from flask.testing import FlaskClient
from gunicorn.http.errors import InvalidChunkSize

from server import create_app
from server.config import load_config


@pytest.fixture
def client() -> FlaskClient:
    app = create_app({"RECORDER_SINK": "off", "TESTING": True})
    return app.test_client()


def create(client: FlaskClient, name: str = "Ada", email: str = "ada@example.org"):
    return client.post("/users", json={"name": name, "email": email})


def test_create_returns_201_location_and_the_user(client: FlaskClient) -> None:
    response = create(client)
    assert response.status_code == 201
    user = response.get_json()
    assert set(user) == {"id", "name", "email"}
    assert response.headers["Location"] == f"/users/{user['id']}"
    assert client.get(response.headers["Location"]).get_json() == user


def test_get_patch_delete_lifecycle(client: FlaskClient) -> None:
    user = create(client).get_json()
    path = f"/users/{user['id']}"

    patched = client.patch(path, json={"name": "Ada Lovelace"})
    assert patched.status_code == 200
    assert patched.get_json() == {**user, "name": "Ada Lovelace"}

    deleted = client.delete(path)
    assert deleted.status_code == 204
    assert deleted.data == b"" and "Content-Type" not in deleted.headers
    assert client.get(path).status_code == 404
    assert client.delete(path).status_code == 404
    assert client.patch(path, json={"name": "x"}).status_code == 404


def test_list_pages_and_filters(client: FlaskClient) -> None:
    for name in ("Ada", "Grace", "Adele"):
        create(client, name, f"{name.lower()}@example.org")
    body = client.get("/users?limit=1&offset=1&name=ad").get_json()
    assert body["total"] == 2
    assert body["limit"] == 1 and body["offset"] == 1
    assert [user["name"] for user in body["items"]] == ["Adele"]
    assert client.get("/users").get_json()["limit"] == 20


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "offset=1.5",
        "limit=",
        "limit=1&limit=2",
    ],
)
def test_bad_list_parameters_are_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/users?{query}")
    assert response.status_code == 400
    assert response.get_json()["field"] == query.split("=")[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.io"}, "name"),
        ({"name": "Ada"}, "email"),
        ({"name": "", "email": "a@b.io"}, "name"),
        ({"name": 3, "email": "a@b.io"}, "name"),
        ({"name": ["Ada"], "email": "a@b.io"}, "name"),
        ({"name": "Ada", "email": "not an email"}, "email"),
        ({"name": "Ada", "email": None}, "email"),
        ({"name": "Ada", "email": "a@b.io", "admin": True}, "admin"),
        ({"name": "x" * 201, "email": "a@b.io"}, "name"),
        ({"name": "Ada\x00", "email": "a@b.io"}, "name"),
        ({"name": "Ada\x1b[31m", "email": "a@b.io"}, "name"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(
    client: FlaskClient, body: dict, field: str
) -> None:
    response = client.post("/users", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b'["a", "b"]', "application/json", 400),
        (b'"text"', "application/json", 400),
        (b"", "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b'{"name": NaN}', "application/json", 400),
        (b'{"name": "Ada", "email": "a@b.io"}', "text/plain", 415),
        (b"name=Ada", "application/x-www-form-urlencoded", 415),
        (b'{"name": "Ada", "email": "a@b.io"}', None, 415),
        (
            b'{"name": "Ad\xe9", "email": "a@b.io"}',
            "application/json; charset=latin-1",
            415,
        ),
    ],
)
def test_bad_bodies_get_json_4xx(
    client: FlaskClient, data: bytes, content_type: str | None, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for method in ("POST", "PATCH"):
        path = "/users" if method == "POST" else f"/users/{create(client).json['id']}"
        response = client.open(path, method=method, data=data, headers=headers)
        assert response.status_code == status, (method, data)
        assert response.is_json and response.get_json()["status"] == status


def test_body_over_the_limit_is_413() -> None:
    app = create_app({"RECORDER_SINK": "off", "MAX_BODY_BYTES": 100})
    client = app.test_client()
    response = client.post(
        "/users",
        data=b'{"name": "' + b"x" * 200 + b'"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def test_vendor_json_media_type_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/users",
        data=b'{"name": "Ada", "email": "a@b.io"}',
        content_type="application/vnd.api+json; charset=utf-8",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/users", 405),
        ("DELETE", "/users", 405),
        ("POST", "/users/abc", 405),
        ("BREW", "/users", 405),
        ("GET", "/nowhere", 404),
        ("GET", "/users/", 404),
    ],
)
def test_unknown_routes_and_methods_answer_json(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.get_json()["status"] == status
    if status == 405:
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_store_is_thread_safe(client: FlaskClient) -> None:
    def add(number: int) -> None:
        for index in range(20):
            create(client, f"user {number}-{index}", f"u{number}-{index}@example.org")

    threads = [threading.Thread(target=add, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    body = client.get("/users?limit=100&offset=100").get_json()
    assert body["total"] == 160
    assert len(body["items"]) == 60


def test_config_reads_the_environment_with_defaults() -> None:
    config = load_config({"PORT": "8000", "RECORDER_SINK": "file:x.jsonl"})
    assert config["PORT"] == 8000
    assert config["RECORDER_SINK"] == "file:x.jsonl"
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == "localhost:9092"
    assert config["RECORDING_TOPIC"] == "http_recordings"
    assert config["MAX_BODY_BYTES"] == 1024 * 1024
    with pytest.raises(ValueError, match="MAX_BODY_BYTES"):
        load_config({"MAX_BODY_BYTES": "lots"})


@pytest.mark.parametrize(
    ("padding", "status"), [(200, 413), (58, 413), (57, 201), (0, 201)]
)
def test_body_without_length_is_measured(padding: int, status: int) -> None:
    app = create_app({"RECORDER_SINK": "off", "MAX_BODY_BYTES": 100})
    client = app.test_client()
    body = b'{"name": "Ada", "email": "ada@example.org"}' + b" " * padding
    # no Content-Length, a stream the server ends itself: a chunked upload
    response = client.post(
        "/users",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == status
    assert client.get("/users").get_json()["total"] == (1 if status == 201 else 0)


class BrokenInput:
    """A request body stream that fails the way a server's input does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, *args: object) -> bytes:
        raise self.error

    readline = read


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OSError("Invalid chunk header"), 400),
        (InvalidChunkSize(b"zz"), 400),
        (TimeoutError("timed out"), 408),
    ],
)
def test_unreadable_bodies_are_json_4xx(
    client: FlaskClient, error: Exception, status: int
) -> None:
    response = client.post(
        "/users",
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={
            "wsgi.input": BrokenInput(error),
            "wsgi.input_terminated": True,
        },
    )
    assert response.status_code == status
    body = response.get_json()
    assert body["status"] == status
    assert body["error"].startswith("the request body")


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_port_out_of_range_is_refused(port: str) -> None:
    with pytest.raises(ValueError, match="PORT"):
        load_config({"PORT": port})
