"""HAR entries to http-types exchanges."""

import base64
import json
import logging
import os
from pathlib import Path

import jsonschema
import pytest

from spec_from_stream.exchange import BadMessage
from spec_from_stream.har import HarError, exchange_from_entry, exchanges_from_har
from spec_from_stream.sources import open_file
from tests.conftest import SHARED

SCHEMA = json.loads((SHARED / "http-types" / "http-types-schema.json").read_text())


def entry(**overrides) -> dict:
    base = {
        "startedDateTime": "2026-01-05T10:00:00.000Z",
        "time": 12.5,
        "request": {
            "method": "GET",
            "url": "https://api.example.test:8443/users?limit=10&tag=a&tag=b",
            "httpVersion": "HTTP/2",
            "headers": [
                {"name": ":authority", "value": "api.example.test:8443"},
                {"name": "Accept", "value": "application/json"},
            ],
            "queryString": [
                {"name": "limit", "value": "10"},
                {"name": "tag", "value": "a"},
                {"name": "tag", "value": "b"},
            ],
        },
        "response": {
            "status": 200,
            "headers": [
                {"name": "Content-Type", "value": "application/json"},
                {"name": "Set-Cookie", "value": "a=1"},
                {"name": "Set-Cookie", "value": "b=2"},
            ],
            "content": {"mimeType": "application/json", "text": '[{"id": 1}]'},
        },
    }
    base.update(overrides)
    return base


def test_get_entry_becomes_a_valid_exchange():
    exchange = exchange_from_entry(entry())

    jsonschema.validate(exchange, SCHEMA)
    request, response = exchange["request"], exchange["response"]
    assert request["method"] == "get"
    assert request["protocol"] == "https"
    assert request["host"] == "api.example.test:8443"
    assert request["pathname"] == "/users"
    assert request["query"] == {"limit": "10", "tag": ["a", "b"]}
    assert request["headers"] == {"accept": "application/json"}
    assert request["timestamp"].startswith("2026-01-05T10:00:00")
    assert response["statusCode"] == 200
    assert response["body"] == '[{"id": 1}]'
    assert response["headers"]["set-cookie"] == ["a=1", "b=2"]
    assert response["timestamp"].startswith("2026-01-05T10:00:00.012500")


def test_post_body_and_base64_text_are_kept_and_binary_is_left_out():
    post = entry()
    post["request"] = {
        "method": "POST",
        "url": "http://api.example.test/users",
        "headers": [],
        "postData": {"mimeType": "application/json", "text": '{"name": "K"}'},
    }
    post["response"]["content"] = {
        "mimeType": "application/json",
        "encoding": "base64",
        "text": base64.b64encode(b'{"id": 2}').decode(),
    }
    image = entry()
    image["response"]["content"] = {
        "mimeType": "image/png",
        "encoding": "base64",
        "text": base64.b64encode(b"\x89PNG\r\n\x1a\n\xff\x00").decode(),
    }

    posted = exchange_from_entry(post)
    pictured = exchange_from_entry(image)

    jsonschema.validate(posted, SCHEMA)
    jsonschema.validate(pictured, SCHEMA)
    assert posted["request"]["body"] == '{"name": "K"}'
    assert posted["request"]["query"] == {}
    assert posted["response"]["body"] == '{"id": 2}'
    assert "body" not in pictured["response"]


def test_form_params_without_text_are_encoded_back():
    form = entry()
    form["request"]["method"] = "POST"
    form["request"]["postData"] = {
        "mimeType": "application/x-www-form-urlencoded",
        "params": [{"name": "a", "value": "1 2"}, {"name": "b", "value": "&"}],
    }

    assert exchange_from_entry(form)["request"]["body"] == "a=1+2&b=%26"


@pytest.mark.parametrize("status", [0, "0"])
def test_a_request_the_browser_got_no_answer_for_is_skipped(status):
    aborted = entry()
    aborted["response"] = {"status": status, "headers": [], "content": {}}

    with pytest.raises(BadMessage) as raised:
        exchange_from_entry(aborted)

    assert raised.value.kind == "no_response"


def test_an_entry_without_a_response_keeps_its_request():
    unanswered = entry()
    del unanswered["response"]

    exchange = exchange_from_entry(unanswered)

    jsonschema.validate(exchange, SCHEMA)
    assert "response" not in exchange


@pytest.mark.parametrize(
    "bad",
    [
        "text",
        {"request": None},
        {"request": {"method": "GET"}},
        {"request": {"method": "BREW", "url": "http://x.test/"}},
        {"request": {"method": "GET", "url": "ftp://x.test/file"}},
        {"request": {"method": "GET", "url": "http://[::1/x"}},
        {"request": {"method": "GET", "url": "http://x.test:99999/x"}},
    ],
)
def test_entries_that_are_not_http_exchanges_raise_bad_message(bad):
    with pytest.raises(BadMessage):
        exchange_from_entry(bad)


def test_file_yields_usable_entries_and_logs_the_skipped(tmp_path, caplog):
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"entries": [entry(), "junk", entry()]}}))

    exchanges = list(exchanges_from_har(path))

    assert len(exchanges) == 2
    assert "skipped 1 HAR entries" in caplog.text


def test_an_entry_with_a_malformed_url_is_skipped_and_the_rest_kept(tmp_path, caplog):
    broken = entry()
    broken["request"]["url"] = "http://[::1/x"
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"entries": [entry(), broken, entry()]}}))

    exchanges = list(exchanges_from_har(path))

    assert len(exchanges) == 2
    assert "skipped 1 HAR entries" in caplog.text


def test_a_byte_order_mark_before_the_document_is_ignored(tmp_path):
    path = tmp_path / "capture.har"
    text = json.dumps({"log": {"entries": [entry()]}})
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())

    assert len(list(exchanges_from_har(path))) == 1


@pytest.mark.parametrize("content", ["not json", '{"log": {}}', "[]"])
def test_a_file_that_is_not_har_raises_har_error(tmp_path, content):
    path = tmp_path / "capture.har"
    path.write_text(content)

    with pytest.raises(HarError, match="not a HAR file"):
        list(exchanges_from_har(path))


def test_logging_does_not_leak_values(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    secret = entry()
    secret["request"]["headers"].append({"name": "Authorization", "value": "s3cr3t"})
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"entries": [secret, 5]}}))

    list(exchanges_from_har(path))

    assert "s3cr3t" not in caplog.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"time": 1e20},
        {"time": float("inf")},
        {"startedDateTime": "9999-12-31T23:59:59.999999+00:00", "time": 10},
    ],
)
def test_a_response_time_past_the_calendar_is_left_out(overrides):
    exchange = exchange_from_entry(entry(**overrides))

    jsonschema.validate(exchange, SCHEMA)
    assert exchange["response"]["statusCode"] == 200
    assert "timestamp" not in exchange["response"]


def test_mime_types_label_bodies_whose_headers_have_no_content_type():
    post = entry()
    post["request"]["method"] = "POST"
    post["request"]["postData"] = {"mimeType": "application/json", "text": "{}"}
    post["response"]["headers"] = []
    labelled = entry()
    labelled["response"]["content"]["mimeType"] = "text/plain"

    exchange = exchange_from_entry(post)

    assert exchange["request"]["headers"]["content-type"] == "application/json"
    assert exchange["response"]["headers"]["content-type"] == "application/json"
    # a Content-Type header says it first
    headers = exchange_from_entry(labelled)["response"]["headers"]
    assert headers["content-type"] == "application/json"


def test_a_mime_type_without_a_body_adds_no_header():
    empty = entry()
    empty["response"]["headers"] = []
    empty["response"]["content"] = {"mimeType": "application/json", "size": 0}
    assert "content-type" not in exchange_from_entry(empty)["response"]["headers"]


@pytest.mark.parametrize(
    "text",
    [
        base64.encodebytes(b'{"id": 2, "name": "' + b"a" * 80 + b'"}').decode(),
        base64.b64encode(b'{"id": 2}').decode().rstrip("="),
    ],
    ids=["wrapped", "unpadded"],
)
def test_wrapped_or_unpadded_base64_content_is_decoded(text):
    wrapped = entry()
    wrapped["response"]["content"] = {
        "mimeType": "application/json",
        "encoding": "base64",
        "text": text,
    }
    body = exchange_from_entry(wrapped)["response"]["body"]
    assert json.loads(body)["id"] == 2


@pytest.mark.parametrize("encoded", [False, True])
def test_a_byte_order_mark_before_har_content_leaves_its_schema_whole(encoded):
    from spec_from_stream.builder import SpecBuilder

    text = '\ufeff{"id": 42, "active": true}'
    marked = entry()
    marked["response"]["content"] = {"mimeType": "application/json", "text": text}
    if encoded:
        marked["response"]["content"]["encoding"] = "base64"
        marked["response"]["content"]["text"] = base64.b64encode(text.encode()).decode()
    builder = SpecBuilder()
    builder.add(exchange_from_entry(marked))
    (document,) = builder.render().values()
    response = document["paths"]["/users"]["get"]["responses"]["200"]
    schema = response["content"]["application/json"]["schema"]
    assert sorted(schema["properties"]) == ["active", "id"]


def test_session_ids_and_fragments_in_har_urls_never_reach_the_document():
    from spec_from_stream.builder import SpecBuilder

    builder = SpecBuilder()
    for number in range(3):
        visit = entry()
        visit["request"]["url"] = (
            f"https://shop.example.test/orders/{number};jsessionid=SECRET{number}"
            "?page=1#SECRETFRAGMENT"
        )
        visit["request"]["queryString"] = []
        builder.add(exchange_from_entry(visit))
    (document,) = builder.render().values()
    assert list(document["paths"]) == ["/orders/{orderId}"]
    assert "SECRET" not in json.dumps(document)


@pytest.mark.parametrize(
    ("extra", "content", "asset"),
    [
        ({"_resourceType": "document"}, {"mimeType": "text/html"}, "document"),
        ({"_resourceType": "Script"}, {"mimeType": "text/javascript"}, "Script"),
        ({"_resourceType": "image"}, {"mimeType": "image/png"}, "image"),
        ({"_resourceType": "preflight"}, {}, "preflight"),
        ({}, {"mimeType": "text/css; charset=utf-8"}, "text/css"),
        ({}, {"mimeType": "font/woff2"}, "font/woff2"),
    ],
)
def test_a_browsers_page_files_are_skipped_as_page_assets(extra, content, asset):
    page = entry(**extra)
    page["response"]["content"] = content

    with pytest.raises(BadMessage) as raised:
        exchange_from_entry(page)

    assert (raised.value.kind, raised.value.detail) == ("page_asset", asset)


@pytest.mark.parametrize(
    ("extra", "media"),
    [
        ({"_resourceType": "xhr"}, "application/json"),
        ({"_resourceType": "fetch"}, "text/plain"),
        # no resource type: an API may well serve pictures and pages
        ({}, "image/png"),
        ({}, "text/html"),
    ],
)
def test_api_calls_of_a_browser_capture_are_kept(extra, media):
    call = entry(**extra)
    call["response"]["content"]["mimeType"] = media

    assert exchange_from_entry(call)["request"]["pathname"] == "/users"


def test_a_status_written_as_text_keeps_the_response():
    captured = entry()
    captured["response"]["status"] = "201"

    assert exchange_from_entry(captured)["response"]["statusCode"] == 201


def attached(tmp_path, response_file: str, post_file: str | None = None) -> Path:
    """A HAR as Playwright writes it with content "attach": bodies beside it."""
    posted = entry()
    posted["request"]["method"] = "POST"
    posted["request"]["postData"] = {"mimeType": "application/json"}
    if post_file is not None:
        posted["request"]["postData"]["_file"] = post_file
    posted["response"]["content"] = {
        "mimeType": "application/json",
        "_file": response_file,
    }
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"entries": [posted]}}))
    return path


@pytest.mark.parametrize("read", ["exchanges_from_har", "open_file"])
def test_bodies_saved_beside_the_har_are_read(tmp_path, read):
    (tmp_path / "3f2a.json").write_text('{"id": 7, "name": "Ada"}')
    (tmp_path / "b01c.json").write_text('{"name": "Ada"}')
    path = attached(tmp_path, "3f2a.json", "b01c.json")

    if read == "open_file":
        [(exchange, _)] = list(open_file(path))
    else:
        [exchange] = list(exchanges_from_har(path))

    jsonschema.validate(exchange, SCHEMA)
    assert exchange["request"]["body"] == '{"name": "Ada"}'
    assert exchange["response"]["body"] == '{"id": 7, "name": "Ada"}'


@pytest.mark.parametrize(
    "name", ["../outside.json", "/etc/hostname", "sub/inner.json", "missing.json"]
)
def test_a_saved_body_is_read_only_from_the_hars_own_folder(tmp_path, name):
    capture = tmp_path / "capture"
    (capture / "sub").mkdir(parents=True)
    (tmp_path / "outside.json").write_text('{"secret": 1}')
    (capture / "sub" / "inner.json").write_text('{"secret": 1}')

    [exchange] = list(exchanges_from_har(attached(capture, name)))

    assert "body" not in exchange["response"]
    assert exchange["response"]["statusCode"] == 200


def test_a_binary_saved_body_is_left_out(tmp_path):
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")

    [exchange] = list(exchanges_from_har(attached(tmp_path, "pic.png")))

    assert "body" not in exchange["response"]


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=----XyZ", "multipart/form-data"],
    ids=["with-boundary", "without"],
)
def test_multipart_params_without_text_keep_their_fields(content_type):
    from spec_from_stream.builder import SpecBuilder

    upload = entry()
    upload["request"]["method"] = "POST"
    upload["request"]["url"] = "https://api.example.test/photos"
    upload["request"]["postData"] = {
        "mimeType": content_type,
        "params": [
            {"name": "title", "value": "Summer"},
            {"name": "picture", "fileName": "a.png", "contentType": "image/png"},
        ],
    }
    builder = SpecBuilder()

    builder.add(exchange_from_entry(upload))

    [document] = builder.render().values()
    body = document["paths"]["/photos"]["post"]["requestBody"]["content"]
    schema = body["multipart/form-data"]["schema"]
    assert schema["properties"]["title"] == {"type": "string"}
    assert schema["properties"]["picture"] == {"type": "string", "format": "binary"}


def test_a_saved_body_behind_a_link_or_in_a_pipe_is_not_read(tmp_path):
    capture = tmp_path / "capture"
    capture.mkdir()
    (tmp_path / "outside.json").write_text('{"secret": 1}')
    (capture / "link.json").symlink_to(tmp_path / "outside.json")
    # a pipe nobody writes to: opening it to read would wait for ever
    os.mkfifo(capture / "pipe.json")

    for name in ("link.json", "pipe.json"):
        [exchange] = list(exchanges_from_har(attached(capture, name)))
        assert "body" not in exchange["response"], name


def test_a_quote_in_a_multipart_field_name_keeps_the_whole_name():
    from spec_from_stream.builder import SpecBuilder

    upload = entry()
    upload["request"]["method"] = "POST"
    upload["request"]["url"] = "https://api.example.test/notes"
    upload["request"]["postData"] = {
        "mimeType": "multipart/form-data; boundary=b",
        "params": [{"name": 'odd"name', "value": "1"}],
    }
    builder = SpecBuilder()

    builder.add(exchange_from_entry(upload))

    [document] = builder.render().values()
    body = document["paths"]["/notes"]["post"]["requestBody"]["content"]
    assert list(body["multipart/form-data"]["schema"]["properties"]) == ["odd%22name"]


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=XyZ", "multipart/form-data"],
    ids=["given-boundary", "made-up-boundary"],
)
def test_a_multipart_value_holding_the_boundary_stays_one_field(content_type):
    from spec_from_stream.builder import SpecBuilder
    from spec_from_stream.har import MULTIPART_BOUNDARY

    upload = entry()
    upload["request"]["method"] = "POST"
    upload["request"]["url"] = "https://api.example.test/notes"
    # a note quoting a multipart body, with both boundaries on lines of their own
    quoted = f"--XyZ\r\nx\r\n--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data"
    upload["request"]["postData"] = {
        "mimeType": content_type,
        "params": [
            {"name": "note", "value": quoted + '; name="injected"\r\n\r\n1\r\n'},
            {"name": "title", "value": "t"},
        ],
    }
    builder = SpecBuilder()

    builder.add(exchange_from_entry(upload))

    [document] = builder.render().values()
    body = document["paths"]["/notes"]["post"]["requestBody"]["content"]
    properties = body["multipart/form-data"]["schema"]["properties"]
    assert sorted(properties) == ["note", "title"]
