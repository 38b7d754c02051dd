"""Tests for per-operation summaries: media types of bodies and responses."""

from spec_from_stream.operations import Operation, media_of
from spec_from_stream.schema import SchemaCaps


def test_media_type_drops_parameters_and_case():
    assert media_of({"content-type": "Application/JSON; charset=utf-8"}, "{}") == (
        "application/json"
    )
    # asked again, the remembered answer is the same
    assert media_of({"content-type": "Application/JSON; charset=utf-8"}, "") == (
        "application/json"
    )


def test_unlabelled_bodies_are_sniffed():
    assert media_of({}, ' {"a": 1}') == "application/json"
    assert media_of({}, "plain") == "text/plain"
    assert media_of({}, "") is None
    # a Content-Type with no type in it says nothing either
    assert media_of({"Content-Type": ";"}, "{}") == "application/json"
    assert media_of({"Content-Type": " "}, "") is None
    # nor does one that is not a media type at all
    assert media_of({"Content-Type": "text/html\x00"}, "{}") == "application/json"
    assert media_of({"Content-Type": "application/json\nx: y"}, "a") == "text/plain"
    assert media_of({"Content-Type": "json"}, "a") == "text/plain"


def test_bodies_are_counted_per_media_type():
    caps = SchemaCaps(12, 200, False)
    operation = Operation()
    for content_type, body in [
        ("application/json", '{"a": 1}'),
        ("application/json; charset=utf-8", '{"a": 2, "b": true}'),
        ("text/plain", "hello"),
    ]:
        request = {"headers": {"content-type": content_type}, "body": body}
        operation.add("post", request, None, {"statusCode": 201}, None, caps)
    operation.flush(caps)
    assert operation.with_body == 3
    assert set(operation.requests) == {"application/json", "text/plain"}
    schema = operation.requests["application/json"].schema
    assert schema.props["a"].types == {"integer": 2}
    assert schema.props["b"].types == {"boolean": 1}
    assert operation.responses[201].empty == 3


def test_a_long_content_type_is_read_but_not_remembered():
    from spec_from_stream import operations

    content_type = "application/json; " + "x" * 1000
    assert media_of({"content-type": content_type}, "{}") == "application/json"
    assert content_type not in operations._MEDIA_TYPES


def test_documented_response_headers_are_counted_without_their_values():
    caps = SchemaCaps(12, 200, False)
    operation = Operation()
    # twice: the second time, each list of names is sorted out from memory
    for headers in 2 * (
        {"Location": "/orders/1", "Date": "today"},
        {"location": "/orders/2", "retry-after": "30"},
        {"set-cookie": "session=SECRET"},
    ):
        response = {"statusCode": 201, "headers": headers}
        operation.add("post", {"headers": {}}, None, response, None, caps)
    result = operation.responses[201]
    assert result.headers == {"location": [4, 0], "retry-after": [2, 2]}

    restored = Operation.from_state(operation.to_state(caps))
    assert restored.responses[201].headers == result.headers
    merged = Operation()
    merged.merge(operation, caps)
    merged.merge(restored, caps)
    assert merged.responses[201].headers["location"] == [8, 0]
    assert "SECRET" not in str(operation.to_state(caps))


def test_saved_response_counters_without_headers_still_load():
    state = {"c": 1, "q": {}, "b": 0, "rq": {}, "rs": {"200": [1, 1, {}]}, "s": {}}
    operation = Operation.from_state(state)
    assert operation.responses[200].headers == {}


def _response_schema(operation: Operation, caps: SchemaCaps, media: str) -> dict:
    operation.flush(caps)
    return operation.responses[200].media[media].render("3.1", False)


def test_a_byte_order_mark_before_a_json_body_is_ignored():
    caps = SchemaCaps(12, 200, False)
    operation = Operation()
    labelled = {"content-type": "application/json; charset=utf-8"}
    for headers in (labelled, {}):
        response = {"statusCode": 200, "headers": headers, "body": '\ufeff{"id": 1}'}
        operation.add("get", {}, None, response, None, caps)
    schema = _response_schema(operation, caps, "application/json")
    assert schema["properties"] == {"id": {"type": "integer"}}
    assert operation.responses[200].media["application/json"].count == 2


def test_a_byte_order_mark_before_a_form_body_is_ignored():
    caps = SchemaCaps(12, 200, False)
    operation = Operation()
    request = {
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": "\ufeffname=x&age=3",
    }
    operation.add("post", request, None, None, None, caps)
    operation.flush(caps)
    schema = operation.requests["application/x-www-form-urlencoded"].render(
        "3.1", False
    )
    assert sorted(schema["properties"]) == ["age", "name"]


def test_unlabelled_json_after_a_byte_order_mark_is_sniffed_as_json():
    assert media_of({}, '\ufeff {"a": 1}') == "application/json"


def test_query_names_that_are_values_are_not_even_counted():
    from spec_from_stream.operations import Operation
    from spec_from_stream.schema import SchemaCaps

    operation = Operation()
    caps = SchemaCaps(12, 200, False)
    operation._add_query(
        {"joe.private@corp.example": "1", "+14155550100": "", "page": "2"}, caps
    )

    assert list(operation.query) == ["page"]
