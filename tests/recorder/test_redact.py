"""Secrets out of exchanges: headers, JWTs, query, form, JSON and multipart fields."""

import json

import pytest

from recorder.redact import REDACTED, Redactor

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("authorization", "Bearer abc.def", "Bearer [REDACTED]"),
        ("authorization", "Basic dXNlcjpwYXNz", "Basic [REDACTED]"),
        ("authorization", "rawtoken", REDACTED),
        ("proxy-authorization", "Digest username=x", "Digest [REDACTED]"),
        ("cookie", "session=abc; theme=dark", "session=[REDACTED]; theme=[REDACTED]"),
        ("set-cookie", "sid=abc; Path=/; HttpOnly", "sid=[REDACTED]; Path=/; HttpOnly"),
        ("x-api-key", "k-123", REDACTED),
        ("x-auth-token", "t-123", REDACTED),
        ("x-hub-signature", "sha1=abc", REDACTED),
        ("x-trace", f"trace {JWT} end", "trace [REDACTED] end"),
        ("accept", "application/json", "application/json"),
        ("www-authenticate", 'Bearer realm="api"', 'Bearer realm="api"'),
    ],
)
def test_headers(redactor: Redactor, name: str, value: str, expected: str) -> None:
    assert redactor.header(name, value) == expected


def test_referer_url_token_is_redacted(redactor: Redactor) -> None:
    value = "https://app.test/cb?code=1&access_token=tok123#id_token=tok456&state=s"
    redacted = redactor.header("referer", value)
    assert "tok123" not in redacted and "tok456" not in redacted
    assert redacted.startswith("https://app.test/cb?code=1&access_token=[REDACTED]")
    assert redacted.endswith("&state=s")


def test_header_lists_are_redacted_item_by_item(redactor: Redactor) -> None:
    headers = {"set-cookie": ["a=1; Path=/", "b=2"], "x-id": "7"}
    redactor.headers_in(headers)
    assert headers == {
        "set-cookie": ["a=[REDACTED]; Path=/", "b=[REDACTED]"],
        "x-id": "7",
    }


def test_query_parameters(redactor: Redactor) -> None:
    query = {"api_key": "k", "token": ["a", "b"], "q": "shoes", "jwt_in": JWT}
    redactor.query_in(query)
    assert query == {
        "api_key": REDACTED,
        "token": [REDACTED, REDACTED],
        "q": "shoes",
        "jwt_in": REDACTED,
    }


def test_nested_json_fields_keep_their_shape(redactor: Redactor) -> None:
    body = json.dumps(
        {
            "user": {"name": "Ada", "profile": {"password": "hunter2", "age": 36}},
            "items": [{"clientSecret": "s1"}, {"pin": 1234, "ok": True}],
            "credentials": {"user": "u", "tries": 3, "active": True},
            "monkey": "not a key",
        }
    )
    redacted = json.loads(redactor.body(body, "application/json", complete=True))
    assert redacted == {
        "user": {"name": "Ada", "profile": {"password": REDACTED, "age": 36}},
        "items": [{"clientSecret": REDACTED}, {"pin": 0, "ok": True}],
        "credentials": {"user": REDACTED, "tries": 0, "active": True},
        "monkey": "not a key",
    }


def test_cut_json_is_redacted_without_parsing(redactor: Redactor) -> None:
    body = '{"name": "Ada", "password": "hunter2", "token": "abcdef'
    redacted = redactor.body(body, "application/json", complete=False)
    assert "hunter2" not in redacted and "abcdef" not in redacted
    assert redacted.startswith('{"name": "Ada", "password": "[REDACTED]"')


def test_form_fields_keep_the_raw_text(redactor: Redactor) -> None:
    body = "user=ada&password=hunter2&remember=on&csrf_token=zz"
    redacted = redactor.body(body, "application/x-www-form-urlencoded", complete=True)
    assert redacted == "user=ada&password=[REDACTED]&remember=on&csrf_token=[REDACTED]"


def test_multipart_fields(redactor: Redactor) -> None:
    body = (
        '--b\r\nContent-Disposition: form-data; name="user"\r\n\r\nada\r\n'
        '--b\r\nContent-Disposition: form-data; name="password"\r\n\r\nhunter2\r\n'
        "--b--\r\n"
    )
    redacted = redactor.body(body, "multipart/form-data; boundary=b", complete=True)
    assert "hunter2" not in redacted
    assert "ada" in redacted and redacted.count("--b") == 3


def test_plain_text_bodies_lose_jwts(redactor: Redactor) -> None:
    assert redactor.body(f"token: {JWT}", "text/plain", True) == "token: [REDACTED]"


def test_lists_are_configurable() -> None:
    redactor = Redactor(
        headers=frozenset({"x-internal"}), field_words=frozenset({"ssn"})
    )
    assert redactor.header("x-internal", "v") == REDACTED
    assert redactor.header("authorization", "Bearer a") == "Bearer a"
    query = {"ssn": "123", "password": "p"}
    redactor.query_in(query)
    assert query == {"ssn": REDACTED, "password": "p"}


def test_whole_exchange_for_replay(redactor: Redactor) -> None:
    exchange = {
        "request": {
            "method": "post",
            "path": "/login?token=abc",
            "headers": {
                "Authorization": "Bearer abc",
                "Content-Type": "application/json",
            },
            "query": {"token": "abc"},
            "body": '{"password": "hunter2"}',
        },
        "response": {
            "statusCode": 200,
            "headers": {"Set-Cookie": "s=abc"},
            "body": "{}",
        },
    }
    redacted = json.dumps(redactor.exchange(exchange))
    assert "abc" not in redacted and "hunter2" not in redacted
    assert "Bearer [REDACTED]" in redacted


def test_the_quick_test_finds_every_word_even_those_inside_others() -> None:
    redactor = Redactor(field_words=frozenset({"pass", "password", "apikey", "key"}))
    for word in ("PASSWORD", "apiKey", "pass", "monkey"):
        assert redactor.might_hold_secrets(f'{{"{word}": 1}}')
    assert not redactor.might_hold_secrets('{"name": "bob"}')
