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


def test_deep_meta_is_refused():
    exchange = _exchange()
    meta: dict = {}
    exchange["meta"] = meta
    for _ in range(20):
        meta["x"] = {}
        meta = meta["x"]
    with pytest.raises(BadMessage) as caught:
        validate(exchange)
    assert caught.value.kind == "too_deep"
