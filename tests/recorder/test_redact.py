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
    assert redacted.startswith(
        "https://app.test/cb?code=[REDACTED]&access_token=[REDACTED]"
    )
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


@pytest.mark.parametrize(
    "name",
    [
        "authorization",
        "Authorization",
        "X-Forwarded-Authorization",
        "authorizationCode",
        "pw",
        "passcode",
        "cvv2",
        "CVV2",
        "totp",
        "mfaCode",
        "mfa_code",
        "cardNumber",
        "card_number",
        "creditCard",
        "credit_card_number",
        "code_verifier",
        # plurals
        "tokens",
        "apiKeys",
        "refresh_tokens",
        "passwords",
        "secrets",
        "cookies",
        "accessTokens",
        # compound words apart
        "Card Number",
        "card.number",
    ],
)
def test_more_secret_names(redactor: Redactor, name: str) -> None:
    assert redactor.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "code",
        "statusCode",
        "zipCode",
        "state",
        "cardType",
        "postal_code",
        "status",
        "address",
        "items",
        "monkeys",
        "business",
    ],
)
def test_common_names_are_not_secret_in_json(redactor: Redactor, name: str) -> None:
    assert not redactor.is_secret_name(name)


def test_forwarded_authorization_keeps_its_scheme(redactor: Redactor) -> None:
    value = redactor.header("x-forwarded-authorization", "Bearer abc")
    assert value == "Bearer [REDACTED]"


def test_cookie2_headers(redactor: Redactor) -> None:
    assert redactor.header("cookie2", "sid=abc") == "sid=[REDACTED]"
    assert redactor.header("set-cookie2", "sid=abc; Path=/") == "sid=[REDACTED]; Path=/"


@pytest.mark.parametrize("name", ["referer", "location", "x-custom-link"])
def test_url_credentials_in_headers(redactor: Redactor, name: str) -> None:
    value = redactor.header(name, "http://alice:hunter2@a.test/b?q=1")
    assert value == "http://[REDACTED]@a.test/b?q=1"


def test_oauth_code_in_location_and_query(redactor: Redactor) -> None:
    location = redactor.header("location", "https://app.test/cb?code=abc123&state=s")
    assert location == "https://app.test/cb?code=[REDACTED]&state=s"
    query = {"code": "abc123", "authorization": "Bearer xyz", "state": "s"}
    redactor.query_in(query)
    assert query == {"code": REDACTED, "authorization": REDACTED, "state": "s"}


def test_urls_in_query_values(redactor: Redactor) -> None:
    query = {
        "redirect": "http://bob:hunter2@x.test/",
        "next": "/after?access_token=abc123",
        "email": "ada@example.org",
    }
    redactor.query_in(query)
    assert query == {
        "redirect": "http://[REDACTED]@x.test/",
        "next": "/after?access_token=[REDACTED]",
        "email": "ada@example.org",
    }


def test_encoded_urls_in_form_bodies(redactor: Redactor) -> None:
    body = (
        "redirect=http%3A%2F%2Fbob%3Ahunter2%40x.test%2F"
        "&next=%2Fa%3Ftoken%3Dabc123&code=xyz&email=ada%40example.org"
    )
    redacted = redactor.body(body, "application/x-www-form-urlencoded", True)
    assert "hunter2" not in redacted and "abc123" not in redacted
    assert "xyz" not in redacted and "ada%40example.org" in redacted


def test_json_bodies_lose_authorization_cards_codes_and_url_secrets(
    redactor: Redactor,
) -> None:
    body = json.dumps(
        {
            "headers": {"Authorization": "Bearer abc123", "Cookie2": "sid=s1"},
            "pw": "p1",
            "passcode": "p2",
            "cvv2": 123,
            "totp": "654321",
            "mfaCode": "111222",
            "cardNumber": "4111111111111111",
            "creditCard": {"number": "4111111111111111", "brand": "visa"},
            "href": "/p?access_token=t1&page=2",
            "callback": "https://app.test/cb?code=c1",
            "mirror": "https://user:pw1@git.test/repo.git",
            "code": "not_found",
            "email": "ada@example.org",
        }
    )
    redacted = json.loads(redactor.body(body, "application/json", complete=True))
    assert redacted == {
        "headers": {"Authorization": REDACTED, "Cookie2": REDACTED},
        "pw": REDACTED,
        "passcode": REDACTED,
        "cvv2": 0,
        "totp": REDACTED,
        "mfaCode": REDACTED,
        "cardNumber": REDACTED,
        "creditCard": {"number": REDACTED, "brand": REDACTED},
        "href": "/p?access_token=[REDACTED]&page=2",
        "callback": "https://app.test/cb?code=[REDACTED]",
        "mirror": "https://[REDACTED]@git.test/repo.git",
        "code": "not_found",
        "email": "ada@example.org",
    }


def test_url_credentials_in_bodies_without_secret_words(redactor: Redactor) -> None:
    body = '{"mirror": "https:\\/\\/user:pw1@git.test\\/r"}'
    redacted = redactor.body(body, "application/json", complete=False)
    assert "pw1" not in redacted and "user" not in redacted
    text = redactor.body("see ftp://u:pw2@files.test/x", "text/plain", True)
    assert text == "see ftp://[REDACTED]@files.test/x"


def test_replayed_exchange_loses_url_credentials(redactor: Redactor) -> None:
    exchange = {
        "request": {
            "method": "get",
            "path": "/cb?code=c1&redirect=http://bob:pw1@x.test/",
            "headers": {"Referer": "http://alice:pw2@a.test/"},
            "query": {"code": "c1", "redirect": "http://bob:pw1@x.test/"},
        },
        "response": {"statusCode": 302, "headers": {"Location": "/x?code=c3"}},
    }
    redacted = json.dumps(redactor.exchange(exchange))
    for secret in ("c1", "pw1", "pw2", "c3", "alice", "bob"):
        assert secret not in redacted


@pytest.mark.parametrize(
    ("body", "media_type", "complete"),
    [
        # JSON escapes spelling a secret name
        ('{"name": "a", "p\\u0061ssword": "hunter2"}', "application/json", True),
        ('{"a": 1, "p\\u0061ssword": "hunter2", "pad": "aa', "application/json", False),
        # compound names split by a space or a dot
        ('{"Card Number": "hunter2"}', "application/json", True),
        ('{"card.number": "hunter2"}', "application/json", True),
        # plurals, also holding lists and objects
        (
            '{"apiKeys": ["hunter2"], "passwords": {"old": "hunter2"}}',
            "application/json",
            True,
        ),
        # cut short inside or after a secret-named object or array
        (
            '{"credentials": {"user": "bob", "value": "hunter2"}, "pad": "aa',
            "application/json",
            False,
        ),
        ('{"token": ["hunter2", "hunter2"], "pad": "aa', "application/json", False),
        (
            '{"ok": 1, "credentials": {"deep": {"value": "hunter2',
            "application/json",
            False,
        ),
        # percent-encoded and plus-separated names in forms
        ("user=a&p%61ssword=hunter2", "application/x-www-form-urlencoded", True),
        ("card+number=hunter2", "application/x-www-form-urlencoded", True),
    ],
)
def test_disguised_secret_names_are_found(
    redactor: Redactor, body: str, media_type: str, complete: bool
) -> None:
    redacted = redactor.body(body, media_type, complete)
    assert "hunter2" not in redacted
    assert REDACTED in redacted


def test_cut_json_keeps_what_follows_a_closed_secret_value(redactor: Redactor) -> None:
    body = '{"token": {"a": "x}", "b": [1, {"c": "]"}]}, "name": "bob", "pad": "aa'
    redacted = redactor.body(body, "application/json", False)
    assert redacted == f'{{"token": "{REDACTED}", "name": "bob", "pad": "aa'


def test_percent_encoded_name_in_a_referer(redactor: Redactor) -> None:
    value = redactor.header("referer", "https://h.test/?p%61ssword=hunter2&page=2")
    assert "hunter2" not in value and value.endswith("&page=2")


def test_semicolon_separated_parameters_lose_their_secrets(redactor: Redactor) -> None:
    query = {"limit": "5;token=hunter2", "q": ["a;b", "x=1;password=hunter2"]}
    redactor.query_in(query)

    assert query == {
        "limit": f"5;token={REDACTED}",
        "q": ["a;b", f"x=1;password={REDACTED}"],
    }
    assert redactor.form("a=1;secret=hunter2&b=2") == f"a=1;secret={REDACTED}&b=2"


def test_only_escapes_of_ascii_send_a_body_the_slow_way(redactor: Redactor) -> None:
    # json.dumps escapes every non-ASCII character: such bodies stay cheap
    assert not redactor.might_hold_secrets('{"name": "caf\\u00e9 \\u4e2d"}')
    body = '{"card\\u002dnumber": "hunter2"}'
    assert redactor.might_hold_secrets(body)
    assert "hunter2" not in redactor.body(body, "application/json", True)


# -- the leaks H23 found: each kind, not only its example ---------------------


@pytest.mark.parametrize(
    "name",
    [
        "password1",
        "password2",
        "token2",
        "api_key2",
        "pwd2",
        "Password2",
        "apiKey2",
        "PHPSESSID",
        "sessid",
        "sid",
        "hmac",
        "secretkey",
        "privatekey",
        "authkey",
        "dbpass",
        "userpwd",
        "jsessionid",
        "Authentication",
        "x-authentication",
        "x-shopify-hmac-sha256",
        "x-secretkey",
    ],
)
def test_secret_names_with_numbers_or_written_as_one_word(
    redactor: Redactor, name: str
) -> None:
    assert redactor.is_secret_name(name)


@pytest.mark.parametrize("name", ["sidebar", "inside", "side", "keyboard", "pincode"])
def test_names_holding_short_secret_words_by_chance_stay(
    redactor: Redactor, name: str
) -> None:
    assert not redactor.is_secret_name(name)


@pytest.mark.parametrize("media_type", ["text/plain", "text/json", ""])
def test_json_under_another_media_type_is_redacted_as_json(
    redactor: Redactor, media_type: str
) -> None:
    body = '{"user": "ada", "password": "hunter2"}'
    redacted = json.loads(redactor.body(body, media_type, complete=True))
    assert redacted == {"user": "ada", "password": REDACTED}


def test_form_text_without_its_media_type_is_redacted_as_a_form(
    redactor: Redactor,
) -> None:
    body = "username=u&password1=hunter2&password2=hunter2"
    redacted = redactor.body(body, "", complete=True)
    assert redacted == "username=u&password1=[REDACTED]&password2=[REDACTED]"


def test_urls_inside_html_and_headers_lose_their_secret_parameters(
    redactor: Redactor,
) -> None:
    page = '<a href="/cb?access_token=tok1&amp;state=s">Redirecting</a>'
    assert redactor.body(page, "text/html", True) == (
        '<a href="/cb?access_token=[REDACTED]&amp;state=s">Redirecting</a>'
    )
    headers = {
        "link": '</next?page=2&access_token=tok2>; rel="next"',
        "refresh": "0; url=/cb?token=tok3",
        "x-original-uri": "/cb?api_key=tok4",
    }
    redactor.headers_in(headers)
    assert not any(f"tok{n}" in str(headers) for n in (2, 3, 4))
    assert headers["link"] == '</next?page=2&access_token=[REDACTED]>; rel="next"'


def test_a_url_in_a_form_value_loses_its_secret_parameters(redactor: Redactor) -> None:
    body = "next=https://x.test/cb?token=tok1&user=ada"
    redacted = redactor.body(body, "application/x-www-form-urlencoded", True)
    assert redacted == "next=https://x.test/cb?token=[REDACTED]&user=ada"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("cookie", "session=a; nameless-secret", "session=[REDACTED]; [REDACTED]"),
        ("set-cookie", "nameless-secret; Path=/", "[REDACTED]; Path=/"),
        (
            "set-cookie",
            "lang=en; Expires=Wed, 21 Oct 2026 07:28:00 GMT, sid=s1; Path=/",
            "lang=[REDACTED]; Expires=Wed, 21 Oct 2026 07:28:00 GMT, "
            "sid=[REDACTED]; Path=/",
        ),
        ("authorization", "Bearer abc", "Bearer [REDACTED]"),
        ("authorization", "GoogleLogin auth=abc", "GoogleLogin [REDACTED]"),
        ("authorization", 'OAuth oauth_token="abc"', "OAuth [REDACTED]"),
        ("authorization", "DPoP abc", "DPoP [REDACTED]"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2026",
            "AWS4-HMAC-SHA256 [REDACTED]",
        ),
        ("authorization", "SECRETBARETOKEN12345 x", REDACTED),
        ("authorization", "s3cr3tT0ken x", REDACTED),
        ("x-sid", "s1", REDACTED),
    ],
)
def test_cookies_and_schemes_keep_no_value(
    redactor: Redactor, name: str, value: str, expected: str
) -> None:
    assert redactor.header(name, value) == expected


def test_keys_that_are_tokens_under_a_secret_member_are_replaced(
    redactor: Redactor,
) -> None:
    body = '{"api_keys": {"sk_live_51HqLyjWDarjtT1zdp7dc": {"created": 1}}}'
    redacted = json.loads(redactor.body(body, "application/json", True))
    assert redacted == {"api_keys": {REDACTED: {"created": 0}}}
    body = '{"credentials": {"userName": "u", "access_token": "t"}}'
    redacted = json.loads(redactor.body(body, "application/json", True))
    assert redacted == {"credentials": {"userName": REDACTED, "access_token": REDACTED}}


def test_card_numbers_are_found_without_a_secret_name(redactor: Redactor) -> None:
    body = json.dumps(
        {
            "card": {"number": "4111 1111 1111 1111", "brand": "visa"},
            "backup": 5555555555554444,
            "createdAtMs": 1733400000000,
            "orderId": "123456789012345678",
        }
    )
    redacted = json.loads(redactor.body(body, "application/json", True))
    assert redacted == {
        "card": {"number": REDACTED, "brand": "visa"},
        "backup": 0,
        "createdAtMs": 1733400000000,
        "orderId": "123456789012345678",
    }
    # a form is searched when it names a card, a query value always
    form = redactor.body(
        "pan=4111111111111111&card_type=visa", "application/x-www-form-urlencoded", True
    )
    assert form == "pan=[REDACTED]&card_type=visa"
    query = {"pan": "4111111111111111", "page": "4111111111111112"}
    redactor.query_in(query)
    assert query == {"pan": REDACTED, "page": "4111111111111112"}


def test_name_value_pairs_and_json_inside_strings(redactor: Redactor) -> None:
    body = json.dumps(
        {
            "fields": [
                {"name": "password", "value": "hunter2"},
                {"field": "api_token", "values": ["t1"]},
                {"name": "city", "value": "Oslo"},
            ],
            "variables": json.dumps({"input": {"password": "hunter3"}}),
        }
    )
    redacted = json.loads(redactor.body(body, "application/json", True))
    assert redacted["fields"] == [
        {"name": "password", "value": REDACTED},
        {"field": "api_token", "values": [REDACTED]},
        {"name": "city", "value": "Oslo"},
    ]
    assert json.loads(redacted["variables"]) == {"input": {"password": REDACTED}}


@pytest.mark.parametrize(
    "disposition",
    [
        "form-data; name=password",
        "form-data; name*=utf-8''password",
        "form-data; name='token'",
        'form-data; filename="a.txt"; name="secret"',
    ],
)
def test_multipart_names_however_written(redactor: Redactor, disposition: str) -> None:
    body = (
        f"--b\r\nContent-Disposition: {disposition}\r\n\r\nhunter2\r\n"
        '--b\r\nContent-Disposition: form-data; name="user"\r\n\r\nada\r\n--b--\r\n'
    )
    redacted = redactor.body(body, "multipart/form-data; boundary=b", True)
    assert "hunter2" not in redacted and "ada" in redacted


def test_path_parameters_and_encoded_jwts_in_paths(redactor: Redactor) -> None:
    assert redactor.text("/p;jsessionid=abc123/x") == "/p;jsessionid=[REDACTED]/x"
    encoded = "/p/%65yJ" + JWT[3:].replace(".", "%2E") + "/x"
    assert redactor.text(encoded) == "/p/[REDACTED]/x"


def test_secret_elements_and_attributes_in_html_and_xml(redactor: Redactor) -> None:
    page = (
        '<form><input type="hidden" name="csrf_token" value="tok1">'
        "<input name=password value=tok2>"
        '<meta name="csrf-token" content="tok3">'
        '<input name="user" value="ada"><a data-token=\'tok4\' href="/x">x</a></form>'
    )
    redacted = redactor.body(page, "text/html", True)
    assert not any(f"tok{n}" in redacted for n in range(1, 5)), redacted
    assert 'name="user" value="ada"' in redacted and 'type="hidden"' in redacted
    document = (
        "<login><user>ada</user><password>tok5</password>"
        '<ns:token a="1">tok6</ns:token><auth><key>tok7</key></auth></login>'
    )
    redacted = redactor.body(document, "application/soap+xml", True)
    assert not any(f"tok{n}" in redacted for n in range(5, 8)), redacted
    assert (
        "<user>ada</user>" in redacted and "<password>[REDACTED]</password>" in redacted
    )


def test_credentials_quoted_in_free_text_after_their_scheme(redactor: Redactor) -> None:
    text = redactor.text(
        "curl -H 'Authorization: Bearer abcdefgh12345' or Basic dXNlcjpwYXNz"
    )
    assert text == ("curl -H 'Authorization: Bearer [REDACTED]' or Basic [REDACTED]")
    prose = "a Basic understanding of Token validation"
    assert redactor.text(prose) == prose


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/reset-password/8f4c2a9be1d04f5e", "/reset-password/[REDACTED]"),
        ("/api/tokens/tok_7Hq2xYz81/uses", "/api/tokens/[REDACTED]/uses"),
        ("/verify-email/k9Qz81aaXy", "/verify-email/[REDACTED]"),
        ("/invitations/Xk9Qz81aaXyP3mN7b", "/invitations/[REDACTED]"),
        ("/sessions/4f1c2a9b-1111-4222-8333-444455556666", "/sessions/[REDACTED]"),
        # a method or an extension after it, an empty segment before it
        ("/invitations/Xk9Qz81aaXyP3mN7b:accept", "/invitations/[REDACTED]:accept"),
        ("/reset-password//8f4c2a9b7d1e3f60", "/reset-password//[REDACTED]"),
        ("/reset-password-v2/8f4c2a9b7d1e3f60", "/reset-password-v2/[REDACTED]"),
        ("/reset%2Dpassword/k9Qz81aaXy", "/reset%2Dpassword/[REDACTED]"),
        ("/x;v=1/confirm/k9Qz81aaXy", "/x;v=1/confirm/[REDACTED]"),
        # a vendor's key after any segment
        ("/hooks/ghp_16C7e42F292c6912E7710c8383/x", "/hooks/[REDACTED]/x"),
        ("/charge/sk_live_4eC39HqLyjWDarjtT1zdp7dc", "/charge/[REDACTED]"),
        ("/hooks/sk_live_abcdefghijklmnop1234.json", "/hooks/[REDACTED].json"),
        # words, and values after innocent segments, stay
        ("/password/reset", "/password/reset"),
        ("/token/refresh", "/token/refresh"),
        ("/auth/oauth2/callback", "/auth/oauth2/callback"),
        ("/users/42/password", "/users/42/password"),
        ("/monkeys/12345678", "/monkeys/12345678"),
        ("/skills/sk_level_2", "/skills/sk_level_2"),
        # numbers, dates and words after a secret word are ids, not secrets
        ("/user/keys/42", "/user/keys/42"),
        ("/orgs/o/invitations/42", "/orgs/o/invitations/42"),
        ("/v5/pins/4815162342", "/v5/pins/4815162342"),
        ("/conferences/9/sessions/42/speakers", "/conferences/9/sessions/42/speakers"),
        ("/secret-santa/2024", "/secret-santa/2024"),
        ("/reset/2025-01-31", "/reset/2025-01-31"),
        ("/translations/keys/home-page-title", "/translations/keys/home-page-title"),
        ("/", "/"),
    ],
)
def test_credentials_in_path_segments(
    redactor: Redactor, path: str, expected: str
) -> None:
    assert redactor.pathname(path) == expected


def test_urls_in_headers_lose_credentials_in_paths_and_query_names(
    redactor: Redactor,
) -> None:
    assert (
        redactor.header("location", "/reset-password/8f4c2a9b7d1e3f60?a=1")
        == "/reset-password/[REDACTED]?a=1"
    )
    assert redactor.header("location", "/magic?k9Qz81aaXyP3mN7b") == "/magic?[REDACTED]"
    assert (
        redactor.header("referer", "http://t/verify/8f4c2a9b7d1e3f60#x")
        == "http://t/verify/[REDACTED]#x"
    )


def test_urls_inside_link_and_refresh_headers_lose_credentials_in_paths(
    redactor: Redactor,
) -> None:
    link = (
        "</reset-password/8f4c2a9b7d1e3f60>; rel=next, "
        "<https://a.test/x?k9Qz81aaXyP3mN7b>"
    )
    assert redactor.header("link", link) == (
        "</reset-password/[REDACTED]>; rel=next, <https://a.test/x?[REDACTED]>"
    )
    refresh = "0; URL=/verify/8f4c2a9b7d1e3f60;v=1"
    assert redactor.header("refresh", refresh) == "0; URL=/verify/[REDACTED];v=1"
    plain = "</users?page=2>; rel=next"
    assert redactor.header("link", plain) == plain


def test_replayed_paths_and_urls_lose_credentials_in_segments(
    redactor: Redactor,
) -> None:
    exchange = {
        "request": {
            "method": "get",
            "path": "/reset-password/k9Qz81aaXy?x=1&k9Qz81aaXyP3mN7b",
            "url": "http://t/verify/k9Qz81aaXz#top",
        },
        "response": {"statusCode": 200},
    }
    request = redactor.exchange(exchange)["request"]
    assert request["path"] == "/reset-password/[REDACTED]?x=1&[REDACTED]"
    assert request["url"] == "http://t/verify/[REDACTED]#top"


def test_tokens_as_query_names_are_found_whatever_their_alphabet(
    redactor: Redactor,
) -> None:
    import secrets

    names = [secrets.token_urlsafe(size) for size in (16, 32) for _ in range(500)]
    names += [secrets.token_hex(16) for _ in range(100)]
    names += [f"{secrets.token_urlsafe(12)}==", "4f1c2a9b-1111-4222-8333-444455556666"]
    kept = []
    for name in names:
        query = {name: ""}
        redactor.query_in(query)
        if name in query:
            kept.append(name)
    # a short random token without a digit may pass for a word: rarely
    assert len(kept) <= len(names) * 3 // 100, kept[:5]


@pytest.mark.parametrize(
    "name",
    [
        "k9Qz81aaXyP3mN7bVc2x",
        "a1b2c3d4e5f6a7b8c9d0",
        "ghp_16C7e42F292c6912E7710c8383",
        JWT,
    ],
)
def test_a_query_name_that_is_a_credential_is_replaced(
    redactor: Redactor, name: str
) -> None:
    query = {name: "", "page": "2"}
    redactor.query_in(query)
    assert query == {"page": "2", REDACTED: REDACTED}


@pytest.mark.parametrize(
    "name",
    [
        "utm_campaign2024",
        "includeDeleted2024",
        "getUserByIdAndName",
        "XMLHttpRequestTimeout",
        "filter[createdAt][gte]",
        "page_size_limit_max",
        "userAccountSettingsPage",
    ],
)
def test_query_names_made_of_words_stay(redactor: Redactor, name: str) -> None:
    query = {name: "x"}
    redactor.query_in(query)
    assert query == {name: "x"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/reset-password/8f4c2a9b7d1e3f60", "/reset-password/[REDACTED]"),
        (
            "https://a.test/verify/k9Qz81aaXy?x=1",
            "https://a.test/verify/[REDACTED]?x=1",
        ),
        ("//a.test/invitations/Xk9Qz81aaXyP3mN7b", "//a.test/invitations/[REDACTED]"),
        # text that is no link keeps its words, even ones after secret words
        ("reset-password/8f4c2a9b7d1e3f60", "reset-password/8f4c2a9b7d1e3f60"),
        ("/users/42", "/users/42"),
        ("see https://a.test/x", "see https://a.test/x"),
    ],
)
def test_links_as_query_values_and_json_strings_lose_tokens_in_paths(
    redactor: Redactor, value: str, expected: str
) -> None:
    query: dict = {"next": value, "many": [value, "x"]}
    redactor.query_in(query)
    assert query == {"next": expected, "many": [expected, "x"]}
    body = redactor.body(json.dumps({"link": value, "n": 1}), "application/json", True)
    assert json.loads(body)["link"] == expected


def test_encoded_links_in_form_values_lose_tokens_in_paths(redactor: Redactor) -> None:
    form = (
        "next=%2Freset-password%2F8f4c2a9b7d1e3f60&user=ada"
        "&back=https%3A%2F%2Fa.test%2Fverify%2Fk9Qz81aaXy&plain=%2Fusers%2F42"
    )
    redacted = redactor.form(form)
    assert "8f4c2a9b7d1e3f60" not in redacted and "k9Qz81aaXy" not in redacted
    assert "user=ada" in redacted and "plain=%2Fusers%2F42" in redacted


def test_secrets_assigned_in_text_strings_and_pairs_are_replaced(
    redactor: Redactor,
) -> None:
    document = {
        "query": 'mutation { login(email: "a@b.c", password: "tok1") { token } }',
        "creds": "tok2",
        "client_assertion": "tok3",
        "env": "DB_PASSWORD=tok4\nAPI_TOKEN='tok5'\nHOST=db:5432",
        "pairs": [["password", "tok6"], ["user", "ada"], ["pin", 1234]],
    }
    redacted = redactor.body(json.dumps(document), "application/json", True)
    assert not any(f"tok{n}" in redacted for n in range(1, 7)), redacted
    parsed = json.loads(redacted)
    assert parsed["query"].endswith('password: "[REDACTED]") { token } }')
    assert "HOST=db:5432" in parsed["env"] and "API_TOKEN='[REDACTED]'" in parsed["env"]
    assert parsed["pairs"] == [["password", "[REDACTED]"], ["user", "ada"], ["pin", 0]]
    text = redactor.body("password=tok7\ntoken: tok8\nuser: ada\n", "text/plain", True)
    assert text == "password=[REDACTED]\ntoken: [REDACTED]\nuser: ada\n"


def test_markup_elements_named_secret_lose_their_value_attributes(
    redactor: Redactor,
) -> None:
    xml = '<auth><token value="tok9"/><user value="ada"/></auth>'
    assert redactor.body(xml, "application/xml", True) == (
        '<auth><token value="[REDACTED]"/><user value="ada"/></auth>'
    )


@pytest.mark.parametrize(
    "document",
    [
        {"label": "Password: at least 8 characters", "s": "Session: 3, key: A-minor"},
        {"q": "key = PROJ-123", "p": "pin:true"},
        {"query": "query($token: String!) { me(token: $token) { id } }"},
        {"tags": ["auth", "login"], "required": ["password", "email"]},
        {"assertions": 12, "assertionResults": [{"title": "t", "status": "passed"}]},
        {"config": "bearerAuth:\n  type: http\nauth:\n  user: admin"},
    ],
)
def test_ordinary_text_lists_and_settings_stay(redactor: Redactor, document) -> None:
    text = json.dumps(document)
    assert json.loads(redactor.body(text, "application/json", True)) == document


def test_an_empty_setting_leaves_the_next_line_alone(redactor: Redactor) -> None:
    text = "DB_PASSWORD=\nDB_HOST=localhost\nAPI_KEY=k1 with, spaces; and & more\n"
    assert redactor.body(text, "text/plain", True) == (
        "DB_PASSWORD=\nDB_HOST=localhost\nAPI_KEY=[REDACTED]\n"
    )


def test_json_quoted_in_text_and_graphql_block_strings(redactor: Redactor) -> None:
    text = 'login failed {"password": "tok1"} at 10:00'
    assert redactor.body(text, "text/plain", True) == (
        'login failed {"password": "[REDACTED]"} at 10:00'
    )
    query = {"query": 'mutation { login(password: """tok2""") { id } }'}
    redacted = redactor.body(json.dumps(query), "application/json", True)
    assert (
        "tok2" not in redacted and '"""[REDACTED]"""' in json.loads(redacted)["query"]
    )


def test_settings_elements_named_by_a_key_attribute(redactor: Redactor) -> None:
    xml = (
        '<appSettings><add key="DbPassword" value="tok3"/><add key="Mode" value="x"/>'
        '</appSettings><map><entry key="password">tok4</entry>'
        '<entry key="user">ada</entry></map>'
    )
    assert redactor.body(xml, "application/xml", True) == (
        '<appSettings><add key="DbPassword" value="[REDACTED]"/>'
        '<add key="Mode" value="x"/></appSettings><map>'
        '<entry key="password">[REDACTED]</entry><entry key="user">ada</entry></map>'
    )


def test_links_in_plain_form_values_and_routes_after_the_hash(
    redactor: Redactor,
) -> None:
    token = "8f4c2a9b7d1e3f60"
    assert redactor.form(f"next=/reset-password/{token}&user=ada") == (
        "next=/reset-password/[REDACTED]&user=ada"
    )
    assert redactor.header("referer", f"https://a.test/in?next=/verify/{token}") == (
        "https://a.test/in?next=/verify/[REDACTED]"
    )
    assert redactor.header("location", f"https://app.test/#/verify/{token}?x=1") == (
        "https://app.test/#/verify/[REDACTED]?x=1"
    )
    # a link longer than any URL a server takes is text: its segments are
    # never walked one by one
    long = "/verify/" + "/".join(["abc"] * 1000)
    assert redactor.link(long) == long
