"""Tests for decoding and validating exchanges before the builder sees them."""

import orjson
import pytest

from spec_from_stream.exchange import BadMessage, decode, validate


def _exchange(**request) -> dict:
    base = {"method": "get", "pathname": "/users", "host": "api.test"}
    return {"request": {**base, **request}, "response": {"statusCode": 200}}


def test_a_valid_exchange_decodes_to_a_dict():
    raw = orjson.dumps(_exchange())
    assert decode(raw)["request"]["pathname"] == "/users"


def test_method_in_upper_case_is_lowered():
    assert decode(orjson.dumps(_exchange(method="PATCH")))["request"]["method"] == (
        "patch"
    )


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"a": "\x00"}', "null_bytes"),
        (b"[1, 2]", "not_object"),
        (b'{"response": {"statusCode": 200}}', "not_exchange"),
        (b'{"request": {"method": 5, "pathname": "/"}}', "wrong_types"),
        (b'{"request": {"method": "brew", "pathname": "/"}}', "unsupported_method"),
        (b'{"request": {"method": "get"}}', "not_exchange"),
        (
            b'{"request": {"method": "get", "pathname": "/"}, '
            b'"response": {"statusCode": 999}}',
            "wrong_types",
        ),
        (
            b'{"request": {"method": "get", "pathname": "/", "headers": {"a": 1}}}',
            "wrong_types",
        ),
        (b"[" * 2000 + b"]" * 2000, "too_deep"),
    ],
)
def test_bad_messages_raise_with_their_kind(raw, kind):
    with pytest.raises(BadMessage) as caught:
        decode(raw)
    assert caught.value.kind == kind


def test_huge_message_is_refused_before_parsing():
    with pytest.raises(BadMessage) as caught:
        decode(b" " * 100, max_bytes=10)
    assert caught.value.kind == "too_large"


def test_deep_meta_keeps_the_exchange_without_its_deep_entries():
    exchange = _exchange()
    meta: dict = {"truncated": {"response": True}, "source": "proxy"}
    exchange["meta"] = meta
    for _ in range(20):
        meta["x"] = {}
        meta = meta["x"]
    assert validate(exchange)["meta"] == {
        "truncated": {"response": True},
        "source": "proxy",
    }


def test_a_message_with_deep_meta_decodes_without_it():
    exchange = _exchange()
    exchange["meta"] = {"bodyOmitted": ["request"], "trace": _nested(50, 1)}
    decoded = decode(orjson.dumps(exchange))
    assert decoded["request"]["pathname"] == "/users"
    assert decoded["meta"] == {"bodyOmitted": ["request"]}


def _nested(levels: int, leaf: object, in_list: bool = False) -> dict | list:
    """Return a value nested to exactly ``levels`` containers around leaf."""
    value = leaf
    for level in range(levels):
        value = [value] if in_list and level % 2 else {"x": value}
    return value


@pytest.mark.parametrize("in_list", [False, True])
def test_meta_at_the_depth_limit_is_kept_and_one_deeper_is_dropped(in_list):
    # meta itself is depth 1; eight levels of containers hold a value at depth 9
    fits = _exchange()
    fits["meta"] = {"a": 1, "deep": _nested(6, 1, in_list)}
    assert validate(fits) is fits
    assert fits["meta"]["deep"] == _nested(6, 1, in_list)
    too_deep = _exchange()
    too_deep["meta"] = {"a": 1, "deep": _nested(7, 1, in_list)}
    assert validate(too_deep)["meta"] == {"a": 1}


def test_an_empty_container_past_the_meta_limit_is_dropped():
    exchange = _exchange()
    exchange["meta"] = {"deep": _nested(6, [])}
    assert validate(exchange)["meta"] == {"deep": _nested(6, [])}
    exchange["meta"] = {"deep": _nested(7, [])}
    assert validate(exchange)["meta"] == {}


def test_nesting_beyond_the_parser_is_still_too_deep():
    raw = orjson.dumps(_exchange())[:-1] + b', "meta": {"x": ' + b"[" * 5000
    raw += b"]" * 5000 + b"}}"
    with pytest.raises(BadMessage) as caught:
        decode(raw)
    assert caught.value.kind == "too_deep"


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        ({}, "not_exchange"),
        ({"statusCode": True}, "wrong_types"),
        ({"statusCode": "200"}, "wrong_types"),
        ({"statusCode": 99}, "wrong_types"),
        ({"statusCode": 200.5}, "wrong_types"),
    ],
)
def test_odd_status_codes_are_refused(response, kind):
    exchange = _exchange()
    exchange["response"] = response
    with pytest.raises(BadMessage) as caught:
        validate(exchange)
    assert caught.value.kind == kind


def test_a_whole_float_status_code_passes():
    exchange = _exchange()
    exchange["response"] = {"statusCode": 201.0}
    assert validate(exchange) is exchange


@pytest.mark.parametrize("field", ["pathname", "host", "body", "protocol"])
def test_a_request_field_that_is_not_text_is_refused(field):
    with pytest.raises(BadMessage) as caught:
        validate(_exchange(**{field: 7}))
    assert caught.value.kind == "wrong_types"
    assert field in str(caught.value)


def _kept(exchange: dict) -> dict:
    """The fields of an exchange the builder reads, as decode returns them."""
    fields = {
        "request": ("method", "pathname", "path", "url", "host", "protocol", "body",
                    "headers", "query"),
        "response": ("statusCode", "body", "headers"),
    }  # fmt: skip
    kept = {}
    for part in ("request", "response", "meta"):
        if part not in exchange:
            continue
        value = exchange[part]
        if part in fields and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in fields[part]}
        kept[part] = value
    return kept


# values put in place of one field of a good exchange
MUTATIONS = [None, True, 5, 200.0, 1e3, "", "GET", "x", [], ["a", 1], {},
             {"a": 1}, {"a": ["b", "c"]}, {"a": None}, "/p?q=1", 99, 600, -1,
             _nested(12, 1)]  # fmt: skip
PLACES = [("request",), ("request", "method"), ("request", "pathname"),
          ("request", "path"), ("request", "url"), ("request", "host"),
          ("request", "body"), ("request", "headers"), ("request", "query"),
          ("request", "headers", "accept"), ("response",),
          ("response", "statusCode"), ("response", "body"), ("response", "headers"),
          ("meta",), ("meta", "truncated"), ("timestamp",)]  # fmt: skip


@pytest.mark.parametrize("place", PLACES, ids="/".join)
def test_the_fast_path_agrees_with_plain_parsing_and_checking(place):
    """decode parses typed and falls back; either way the result is the one of
    orjson.loads plus validate: the same exchange, or the same kind of fault
    (for messages whose fields the builder does not read are good JSON too)."""
    for value in [*MUTATIONS, "missing"]:
        exchange = _exchange(query={"a": "1"}, headers={"accept": "x"}, body="{}")
        exchange["meta"] = {"truncated": {"response": True}}
        parent = exchange
        for key in place[:-1]:
            parent = parent[key]
        if value == "missing":
            parent.pop(place[-1], None)
        else:
            parent[place[-1]] = value
        raw = orjson.dumps(exchange)
        try:
            expected = _kept(validate(orjson.loads(raw)))
        except BadMessage as error:
            with pytest.raises(BadMessage) as caught:
                decode(raw)
            assert caught.value.kind == error.kind, (place, value)
        else:
            assert decode(raw) == expected, (place, value)


def test_fields_the_builder_does_not_read_are_not_checked():
    raw = (
        b'{"request": {"method": "get", "path": "/a", "timestamp": "\xff"}, "x": 1e999}'
    )
    assert decode(raw) == {"request": {"method": "get", "path": "/a"}}


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "str"])
def test_null_bytes_are_named_whatever_holds_the_message(kind):
    raw = b'{"request": {"method": "get", "path": "/a"}}\x00'
    message = raw.decode() if kind == "str" else kind(raw)
    with pytest.raises(BadMessage) as caught:
        decode(message)
    assert caught.value.kind == "null_bytes"


@pytest.mark.parametrize("as_text", [False, True])
def test_a_message_after_a_byte_order_mark_decodes_like_one_without(as_text):
    raw = orjson.dumps(_exchange(method="GET"))
    marked = b"\xef\xbb\xbf" + raw
    if as_text:
        raw, marked = raw.decode(), marked.decode()
    assert decode(marked) == decode(raw)


def test_only_one_byte_order_mark_is_dropped_from_a_message():
    with pytest.raises(BadMessage) as caught:
        decode(b"\xef\xbb\xbf" * 2 + orjson.dumps(_exchange()))
    assert caught.value.kind == "not_utf8"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_json_behind_a_schema_registry_header_decodes_like_plain_json(kind):
    raw = orjson.dumps(_exchange(method="GET"))
    # the magic byte, then schema id 7 as four big-endian bytes
    framed = kind(b"\x00" + (7).to_bytes(4, "big") + raw)
    assert decode(framed) == decode(raw)


@pytest.mark.parametrize("between", [b" ", b"\n", b"\r\n  "])
def test_json_behind_a_schema_registry_header_may_start_with_spaces(between):
    raw = orjson.dumps(_exchange())
    assert decode(b"\x00\x00\x00\x00\x07" + between + raw) == decode(raw)


def test_avro_behind_a_schema_registry_header_is_named_as_such():
    with pytest.raises(BadMessage) as caught:
        decode(b"\x00\x00\x00\x00\x07\x06get\x0c/users")
    assert caught.value.kind == "null_bytes"
    assert "Schema Registry" in caught.value.detail


def test_a_zero_byte_before_json_without_a_schema_id_stays_bad():
    with pytest.raises(BadMessage) as caught:
        decode(b"\x00" + orjson.dumps(_exchange()))
    assert caught.value.kind == "null_bytes"


def test_avro_starting_with_a_brace_behind_a_schema_registry_header_is_named():
    # Avro writes a string's length first: 61 characters make the byte "{"
    avro = b"{" + b"/users/" + b"a" * 54 + b"\x06get"
    with pytest.raises(BadMessage) as caught:
        decode(b"\x00\x00\x00\x00\x07" + avro)
    assert caught.value.kind == "null_bytes"
    assert "Schema Registry" in caught.value.detail


def test_json_not_an_exchange_behind_a_schema_registry_header_says_so():
    with pytest.raises(BadMessage) as caught:
        decode(b"\x00\x00\x00\x00\x07" + b'{"order": 1}')
    assert caught.value.kind == "not_exchange"
