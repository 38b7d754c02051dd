"""Tests for naming the security schemes a request authenticates with."""

import pytest

from spec_from_stream.security import is_secret_value, schemes_in_request


def test_the_same_header_names_with_other_values_give_their_own_schemes():
    bearer = {"host": "a", "authorization": "Bearer abc"}
    basic = {"host": "a", "authorization": "Basic eDp5"}
    assert schemes_in_request(bearer, None) == ("http:bearer",)
    assert schemes_in_request(basic, None) == ("http:basic",)
    assert schemes_in_request(bearer, None) == ("http:bearer",)


def test_schemes_follow_the_order_of_the_headers():
    first = {"X-Api-Key": "k", "Authorization": "Bearer t"}
    second = {"Authorization": "Bearer t", "X-Api-Key": "k"}
    assert schemes_in_request(first, None) == (
        "apiKey:header:x-api-key",
        "http:bearer",
    )
    assert schemes_in_request(second, None) == (
        "http:bearer",
        "apiKey:header:x-api-key",
    )


def test_headers_that_are_not_credentials_give_no_scheme():
    assert schemes_in_request({"Idempotency-Key": "k", "accept": "*/*"}, None) == ()


def test_a_query_key_is_a_scheme():
    assert schemes_in_request(None, {"api_key": "k", "page": "2"}) == (
        "apiKey:query:api_key",
    )


def test_requests_with_many_or_long_header_names_are_not_remembered():
    from spec_from_stream import security

    many = {f"x-h{number}": "v" for number in range(500)}
    long_name = {"x-" + "a" * 5000 + "-token": "t"}
    assert schemes_in_request(many, None) == ()
    assert schemes_in_request(long_name, None) == (
        "apiKey:header:" + "x-" + "a" * 5000 + "-token",
    )
    assert tuple(many) not in security._ROLES_BY_NAMES
    assert tuple(long_name) not in security._ROLES_BY_NAMES
    assert next(iter(long_name)) not in security._HEADER_ROLES


def test_secret_values_by_their_look():
    assert is_secret_value("GB82 WEST 1234 5698 7654 32")
    assert is_secret_value("5555555555554444")
    # a failed check sum, a plain sentence, a date, an ordinary URL
    assert not is_secret_value("GB82 WEST 1234 5698 7654 33")
    assert not is_secret_value("5555555555554445")
    assert not is_secret_value("Basic understanding of tokens")
    assert not is_secret_value("2024-01-01T00:00:00Z")
    assert not is_secret_value("https://api.test/items?page=2&sort=name")
    assert not is_secret_value(True)


@pytest.mark.parametrize(
    "value",
    [
        "Basic YWRhOnBh",
        "bearer 0a1b2c3d4e5f6a7b8c9d",
        "4111 1111 1111 1111 12/28",
        "4111111111111111 123",
        "4111.1111.1111.1111",
        4111111111111111.0,
        "DE89 3704 0044 0532 0130 00 EUR",
        "de89370400440532013000",
        "https://app.test/cb#access_token=opaqueAT12345",
        "https://a.test/?next=https%3A%2F%2Fx.test%2Fcb%3Ftoken%3Dopaque12345",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "ya29.a0AfH6SMBabcdefghijklmnop",
        "-----BEGIN PRIVATE KEY-----\nMIIEv",
    ],
)
def test_secret_values_however_written(value):
    assert is_secret_value(value)


@pytest.mark.parametrize(
    "value",
    [
        1733412811007,
        1865432109876543218,
        "ssh://git@github.test/org/repo.git",
        "https://x.test/?keyword=shoes",
        "https://x.test/?passengers=2",
        "https://x.test/?businessName=Acme",
        "https://x.test/?author=ada",
        "Token refresh-interval-in-seconds",
    ],
)
def test_ordinary_values_that_look_a_little_like_secrets(value):
    assert not is_secret_value(value)
