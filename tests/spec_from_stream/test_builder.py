"""Tests for the SpecBuilder interface: add, merge, state, caps, bounded memory."""

import json

import orjson
import pytest

from spec_from_stream.builder import Limits, SpecBuilder
from spec_from_stream.exchange import BadMessage


def _exchange(method, path, status=200, body=None, host="api.test", query=None):
    response = {"statusCode": status, "headers": {}, "body": ""}
    if body is not None:
        response["body"] = json.dumps(body)
        response["headers"] = {"content-type": "application/json"}
    return {
        "request": {
            "method": method,
            "host": host,
            "pathname": path,
            "query": query or {},
        },
        "response": response,
    }


def _traffic(count: int, offset: int = 0):
    for number in range(offset, offset + count):
        yield _exchange("get", f"/items/{number}", body={"id": number, "n": "x"})
        yield _exchange("post", "/items", 201, body={"id": number})
        yield _exchange("get", "/items", body=[{"id": number}], query={"page": "1"})


def test_add_counts_and_renders_operations():
    builder = SpecBuilder()
    for exchange in _traffic(5):
        builder.add(exchange)
    assert builder.exchanges == 15
    assert builder.operation_count() == 3


def test_add_rejects_a_bad_shape_with_its_kind():
    builder = SpecBuilder()
    with pytest.raises(BadMessage) as caught:
        builder.add({"request": {"method": "get"}})
    assert caught.value.kind == "not_exchange"
    assert builder.exchanges == 0


def test_path_and_url_give_the_pathname_and_query():
    builder = SpecBuilder()
    builder.add(
        {
            "request": {"method": "get", "host": "h", "path": "/a/1?x=2"},
            "response": {"statusCode": 200},
        }
    )
    (document,) = builder.render().values()
    operation = document["paths"]["/a/{aId}"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["aId", "x"]


def test_merging_two_builders_equals_one_builder_over_all_traffic():
    whole, first, second = SpecBuilder(), SpecBuilder(), SpecBuilder()
    for exchange in _traffic(10):
        whole.add(exchange)
        first.add(exchange)
    for exchange in _traffic(10, offset=10):
        whole.add(exchange)
        second.add(exchange)
    first.merge(second)
    assert first.exchanges == whole.exchanges
    assert first.render() == whole.render()
    assert first.to_state() == whole.to_state()


def test_state_round_trips_through_json():
    builder = SpecBuilder()
    for exchange in _traffic(20):
        builder.add(exchange)
    state = orjson.loads(orjson.dumps(builder.to_state()))
    restored = SpecBuilder.from_state(state)
    assert restored.exchanges == builder.exchanges
    assert restored.render() == builder.render()
    # a restored builder keeps counting where the first left off
    for exchange in _traffic(1, offset=99):
        restored.add(exchange)
        builder.add(exchange)
    assert restored.to_state() == builder.to_state()


def test_state_of_another_version_is_refused_clearly():
    with pytest.raises(ValueError, match="version"):
        SpecBuilder.from_state({"version": 999, "exchanges": 0, "hosts": {}})


def test_state_does_not_grow_with_traffic_volume():
    small, large = SpecBuilder(), SpecBuilder()
    for exchange in _traffic(50):
        small.add(exchange)
    for exchange in _traffic(2000):
        large.add(exchange)
    size_small = len(orjson.dumps(small.to_state()))
    size_large = len(orjson.dumps(large.to_state()))
    assert size_large < size_small * 1.2


def test_operation_cap_drops_new_operations_and_warns(caplog):
    builder = SpecBuilder(Limits(max_operations_per_host=2))
    for name in ("a", "b", "c", "d"):
        builder.add(_exchange("get", f"/{name}"))
    assert builder.operation_count() == 2
    assert builder.warnings["operations"] == 2
    assert "cap reached" in caplog.text


def test_host_cap_drops_new_hosts():
    builder = SpecBuilder(Limits(max_hosts=1))
    for _ in range(5):
        builder.add(_exchange("get", "/a", host="one"))
    builder.add(_exchange("get", "/a", host="two"))
    assert set(builder.render()) == {"one"}
    assert builder.warnings["hosts"] == 1


def test_overlong_query_parameter_names_are_counted_not_kept():
    builder = SpecBuilder()
    builder.add(_exchange("get", "/a", query={"q" * 300: "1", "limit": "5"}))

    parameters = builder.render()["api.test"]["paths"]["/a"]["get"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["limit"]
    assert builder.warnings["name_length"] == 1


def test_key_parameters_with_look_alike_names_get_schemes_of_their_own():
    builder = SpecBuilder()
    builder.add(_exchange("get", "/a", query={"api_key": "x"}))
    builder.add(_exchange("get", "/b", query={"api-key": "x"}))

    document = builder.render()["api.test"]
    schemes = document["components"]["securitySchemes"]
    for path, parameter in (("/a", "api_key"), ("/b", "api-key")):
        (requirement,) = document["paths"][path]["get"]["security"]
        (name,) = requirement
        assert schemes[name] == {"type": "apiKey", "in": "query", "name": parameter}
    assert len(schemes) == 2


def test_a_query_parameter_without_a_name_is_not_documented():
    builder = SpecBuilder()
    builder.add(_exchange("get", "/a", query={"": "x", "limit": "5"}))

    parameters = builder.render()["api.test"]["paths"]["/a"]["get"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["limit"]


def test_user_information_in_a_host_is_dropped():
    builder = SpecBuilder()
    builder.add(_exchange("get", "/a", host="bob:hunter2@API.test"))
    builder.add(_exchange("get", "/b", host="api.test"))

    documents = builder.render()
    assert set(documents) == {"api.test"}
    assert "hunter2" not in json.dumps(documents)


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["api.test", "API.Test.", "api.test:443", "api.test:80"], {"api.test"}),
        (["api.test:8443", "Api.Test.:8443"], {"api.test:8443"}),
        (["[::1]:80", "[::1]", "[::1]:8080"], {"[::1]", "[::1]:8080"}),
    ],
)
def test_spellings_of_one_host_make_one_document(hosts, expected):
    builder = SpecBuilder()
    for number, host in enumerate(hosts):
        builder.add(_exchange("get", f"/a{number}", host=host))

    assert set(builder.render()) == expected


def test_made_up_hosts_give_their_places_to_a_real_host():
    builder = SpecBuilder(Limits(max_hosts=5))
    for number in range(20):
        builder.add(_exchange("get", "/x", host=f"bogus{number}.test"))
    for exchange in _traffic(4):
        builder.add(exchange)
    # more made-up hosts come and go; the real one has shown it is real
    for number in range(20, 40):
        builder.add(_exchange("get", "/x", host=f"bogus{number}.test"))
    documents = builder.render()
    assert len(documents) == 5
    assert set(documents["api.test"]["paths"]) == {"/items", "/items/{itemId}"}
    # every message of a host that gave its place is counted
    assert builder.warnings["hosts"] == 40 - 4
    # cached lookups of a removed host do not count into its lost tree
    builder.add(_exchange("get", "/x", host="bogus39.test"))
    builder.add(_exchange("get", "/x", host="bogus10.test"))
    assert "bogus10.test" in builder.render()


def test_initial_spec_alone_renders_under_its_server_host():
    initial = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "http://api.example.test:8000/v1"}],
        "paths": {},
    }
    assert set(SpecBuilder(initial_spec=initial).render()) == {"api.example.test:8000"}


def test_traffic_uses_the_initial_specs_spelling_of_a_template():
    initial = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/items/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}
        },
    }
    builder = SpecBuilder(initial_spec=initial)
    for number in range(3):
        builder.add(_exchange("delete", f"/items/{number}", 204))

    paths = builder.render()["api.test"]["paths"]
    assert set(paths) == {"/items/{id}"}
    (parameter,) = paths["/items/{id}"]["delete"]["parameters"]
    assert parameter["name"] == "id" and parameter["in"] == "path"
    assert "get" in paths["/items/{id}"]


def test_add_raw_decodes_once_and_equals_add():
    raw, parsed = SpecBuilder(), SpecBuilder()
    for exchange in _traffic(5):
        raw.add_raw(orjson.dumps(exchange))
        parsed.add(exchange)
    assert raw.to_state() == parsed.to_state()
    with pytest.raises(BadMessage) as caught:
        raw.add_raw(b"{oops")
    assert caught.value.kind == "not_json"


def test_a_path_with_too_many_segments_is_a_bad_message():
    builder = SpecBuilder(Limits(max_path_segments=10))
    with pytest.raises(BadMessage) as caught:
        builder.add(_exchange("get", "/a" * 11))
    assert caught.value.kind == "too_deep"
    builder.add(_exchange("get", "/a" * 10))
    assert builder.exchanges == 1


@pytest.mark.parametrize("url", ["http://[::1/a", "http://[abc]/a"])
def test_a_url_that_cannot_be_split_is_a_bad_message(url):
    builder = SpecBuilder()
    with pytest.raises(BadMessage) as caught:
        builder.add({"request": {"method": "get", "url": url}})
    assert caught.value.kind == "not_exchange"
    assert builder.render() == {} and builder.exchanges == 0


@pytest.mark.parametrize("content_type", [";", " ", "; charset=utf-8"])
def test_a_content_type_without_a_type_is_sniffed(content_type):
    builder = SpecBuilder()
    request = {"method": "post", "path": "/a", "body": '{"a": 1}'}
    request["headers"] = {"content-type": content_type}
    builder.add({"request": request, "response": {"statusCode": 201}})
    body = builder.render()["unknown"]["paths"]["/a"]["post"]["requestBody"]
    assert list(body["content"]) == ["application/json"]


def test_a_path_in_use_stays_cached_while_new_ids_pass_through(monkeypatch):
    monkeypatch.setattr("spec_from_stream.builder.PATH_CACHE_SIZE", 4)
    builder = SpecBuilder()
    located = []
    locate = builder._locate

    def counting_locate(host, pathname, failed):
        located.append(pathname)
        return locate(host, pathname, failed)

    monkeypatch.setattr(builder, "_locate", counting_locate)
    for number in range(40):
        for path in ("/users", f"/orders/{number}"):
            request = {"method": "get", "pathname": path, "host": "api.test"}
            builder.add({"request": request, "response": {"statusCode": 200}})
    # every new id is located once; /users only the first time, although
    # the cache turned over many times
    assert located.count("/users") == 1
    assert len(located) == 41
    assert builder.exchanges == 80


def _paths_text(builder: SpecBuilder) -> str:
    """Return every document of a builder as one JSON text."""
    return json.dumps(builder.render())


def test_path_parameters_after_a_semicolon_never_reach_the_document():
    builder = SpecBuilder()
    session = "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D"
    for number in (17, 18):
        builder.add(_exchange("get", f"/orders/{number};jsessionid={session}"))
    builder.add(_exchange("get", "/orders;v=2/19"))
    builder.add(_exchange("get", f"/cart;jsessionid={session}"))
    (document,) = builder.render().values()
    assert sorted(document["paths"]) == ["/cart", "/orders/{orderId}"]
    assert session not in _paths_text(builder)
    assert "v=2" not in _paths_text(builder)
    assert builder.normalised == {"path_parameters": 4}


def test_a_path_with_parameters_templates_like_the_path_without():
    with_session = SpecBuilder()
    plain = SpecBuilder()
    for number in range(3):
        with_session.add(_exchange("get", f"/orders/{number};jsessionid=S{number}"))
        plain.add(_exchange("get", f"/orders/{number}"))
    assert with_session.render() == plain.render()


@pytest.mark.parametrize(
    ("pathname", "value"),
    [("/v1/search%3Fq%3Dshoes", "shoes"), ("/v1/items%3Bjsessionid%3DS3", "S3")],
)
def test_an_encoded_semicolon_or_question_mark_is_data_not_a_literal(pathname, value):
    builder = SpecBuilder()
    builder.add(_exchange("get", pathname))
    assert value not in _paths_text(builder)


@pytest.mark.parametrize(
    ("pathname", "host", "template", "names"),
    [
        ("/v1/search?email=joe@corp.example&token=S3", "h", "/v1/search", {"email"}),
        ("/v1/items?page=2#top", "h", "/v1/items", {"page"}),
        ("https://h/v1/full?x=1", None, "/v1/full", {"x"}),
        ("https://user:pw@h/v1/full", None, "/v1/full", set()),
        ("jobs:batchGet?ids=1", "h", "/jobs:batchGet", {"ids"}),
    ],
)
def test_a_whole_request_target_in_pathname_is_split(pathname, host, template, names):
    builder = SpecBuilder()
    request = {"method": "get", "pathname": pathname}
    if host:
        request["host"] = host
    builder.add({"request": request, "response": {"statusCode": 200}})
    documents = builder.render()
    assert list(documents) == ["h"]
    operation = documents["h"]["paths"][template]["get"]
    query = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
    assert query >= names
    text = _paths_text(builder)
    for secret in ("joe@corp.example", "S3", "pw", "?", "%3F", "#top"):
        assert secret not in text
    assert builder.normalised == {"target_in_pathname": 1}


def test_a_query_object_wins_over_the_query_written_in_pathname():
    builder = SpecBuilder()
    builder.add(
        {
            "request": {
                "method": "get",
                "host": "h",
                "pathname": "/v1/items?page=2",
                "query": {"limit": "5"},
            },
            "response": {"statusCode": 200},
        }
    )
    (document,) = builder.render().values()
    parameters = document["paths"]["/v1/items"]["get"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["limit"]


def test_mended_path_counts_survive_state_and_merge():
    builder = SpecBuilder()
    builder.add(_exchange("get", "/a;x=1"))
    restored = SpecBuilder.from_state(orjson.loads(orjson.dumps(builder.to_state())))
    assert restored.normalised == {"path_parameters": 1}
    restored.merge(builder)
    assert restored.normalised == {"path_parameters": 2}
    older = builder.to_state()
    del older["normalised"]
    assert SpecBuilder.from_state(older).normalised == {}


def test_each_hosts_document_counts_that_hosts_exchanges():
    builder = SpecBuilder()
    for number in range(3):
        builder.add(_exchange("get", f"/a/{number}", host="one.test"))
    builder.add(_exchange("get", "/b", host="two.test"))
    documents = builder.render()
    assert builder.exchanges == 4
    description = {host: doc["info"]["description"] for host, doc in documents.items()}
    assert description == {
        "one.test": "Inferred from 3 recorded HTTP exchanges.",
        "two.test": "Inferred from 1 recorded HTTP exchange.",
    }


@pytest.mark.parametrize(
    "host",
    ["API.test/v1?token=S3", "api.test#S3", "user:S3@api.test", "api.test?a=S3@x"],
)
def test_a_path_query_or_user_written_into_the_host_never_reaches_the_document(
    host,
):
    builder = SpecBuilder()
    builder.add(_exchange("get", "/a", host=host))
    documents = builder.render()
    assert "S3" not in json.dumps(documents).upper()
    assert all("/" not in name and "?" not in name for name in documents)


@pytest.mark.parametrize("pathname", ["v1/users", ""])
def test_a_pathname_without_its_slash_is_a_path_not_a_target(pathname):
    builder = SpecBuilder()
    builder.add(_exchange("get", pathname))
    (document,) = builder.render().values()
    assert list(document["paths"]) == ["/" + pathname]
    assert builder.normalised == {}


def test_a_target_in_pathname_is_split_on_every_exchange_not_only_the_first():
    builder = SpecBuilder()
    for pathname in ["/v1/items?page=2", "/v1/items?page=2", "/v1/items?limit=3"]:
        request = {"method": "get", "host": "h", "pathname": pathname}
        builder.add({"request": request, "response": {"statusCode": 200}})
    (document,) = builder.render().values()
    parameters = document["paths"]["/v1/items"]["get"]["parameters"]
    assert sorted(parameter["name"] for parameter in parameters) == ["limit", "page"]
    assert builder.normalised == {"target_in_pathname": 3}


def test_a_segment_the_recorder_redacted_is_a_parameter():
    builder = SpecBuilder()
    for path in ("/reset/[REDACTED]", "/reset/%5BREDACTED%5D/x", "/reset/new"):
        builder.add(_exchange("get", path))
    paths = builder.render()["api.test"]["paths"]
    assert sorted(paths) == ["/reset/new", "/reset/{resetId}", "/reset/{resetId}/x"]


def test_a_query_name_the_recorder_redacted_is_not_documented():
    builder = SpecBuilder()
    builder.add(_exchange("get", "/magic", query={"[REDACTED]": "[REDACTED]"}))
    operation = builder.render()["api.test"]["paths"]["/magic"]["get"]
    assert "parameters" not in operation
