"""Tests for naming the security schemes a request authenticates with."""

from spec_from_stream.security import schemes_in_request


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
    from spec_from_stream.security import is_secret_value

    assert is_secret_value("GB82 WEST 1234 5698 7654 32")
    assert is_secret_value("5555555555554444")
    # a failed check sum, a plain sentence, a date, an ordinary URL
    assert not is_secret_value("GB82 WEST 1234 5698 7654 33")
    assert not is_secret_value("5555555555554445")
    assert not is_secret_value("Basic understanding of tokens")
    assert not is_secret_value("2024-01-01T00:00:00Z")
    assert not is_secret_value("https://api.test/items?page=2&sort=name")
    assert not is_secret_value(True)
