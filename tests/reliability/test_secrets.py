"""Planted secrets never reach Kafka, a log line or the generated document."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import orjson
import pytest
import requests

from tests.reliability.figures import write_figures
from tests.reliability.topic import read_topic

pytestmark = pytest.mark.slow

MISSING_USER = "/users/00000000-0000-4000-8000-000000000000"


def secret(label: str) -> str:
    """A value that cannot occur by chance; letters and digits only, so no
    encoding (percent, JSON, base64 of the whole) can hide it from a search."""
    return f"SECRET{label}{secrets.token_hex(12)}"


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


class Secrets:
    """The planted values, by where they were planted."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def new(self, where: str) -> str:
        value = secret(str(len(self.values)))
        self.values[where] = value
        return value


def plant_in_demo_requests(base_url: str, planted: Secrets) -> list[requests.Response]:
    """Send requests to the demo API that carry secrets in every usual place."""
    session = requests.Session()
    basic_password = planted.new("Authorization Basic password")
    basic = base64.b64encode(f"alice:{basic_password}".encode()).decode()
    planted.values["Authorization Basic credentials (base64)"] = basic
    proxy_password = planted.new("Proxy-Authorization password")
    proxy = base64.b64encode(f"proxy:{proxy_password}".encode()).decode()
    planted.values["Proxy-Authorization credentials (base64)"] = proxy
    signature = planted.new("JWT signature in a custom header")
    jwt = (
        f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url({'sub': 'ada'})}.{signature}"
    )
    planted.values["JWT in a custom header"] = jwt
    referer_token = planted.new("access_token in a Referer URL")
    deep = {
        "name": "Ada",
        "email": "ada@example.org",
        "profile": {
            "settings": {
                "security": {
                    "login": {
                        "password": planted.new(
                            "password nested four objects deep in a JSON body"
                        )
                    }
                }
            }
        },
    }
    in_list = {"name": "Ada", "keys": [{"api_key": planted.new("api_key in a list")}]}
    form = f"name=Ada&password={planted.new('password form field')}"
    calls = [
        (
            "GET",
            "/users",
            {
                "headers": {
                    "Authorization": f"Bearer {planted.new('Authorization Bearer')}"
                }
            },
        ),
        ("GET", MISSING_USER, {"headers": {"Authorization": f"Basic {basic}"}}),
        ("GET", "/users", {"headers": {"Proxy-Authorization": f"Basic {proxy}"}}),
        (
            "GET",
            "/users",
            {
                "headers": {
                    "Cookie": f"session={planted.new('Cookie session')}; theme=dark"
                }
            },
        ),
        ("GET", "/users", {"headers": {"X-Api-Key": planted.new("X-Api-Key")}}),
        (
            "GET",
            "/users",
            {"headers": {"X-Auth-Token": planted.new("X-Auth-Token header")}},
        ),
        ("GET", "/users", {"headers": {"X-Context": jwt}}),
        (
            "GET",
            "/users",
            {
                "headers": {
                    "Referer": "https://app.example.org/callback"
                    f"?state=ok&access_token={referer_token}"
                }
            },
        ),
        ("GET", f"/users?limit=5&api_key={planted.new('api_key query')}", {}),
        ("GET", f"/users?token={planted.new('token query')}", {}),
        ("POST", "/users", {"json": deep}),
        ("POST", "/users", {"json": in_list}),
        (
            "POST",
            "/users",
            {
                "data": form,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        (
            "PATCH",
            MISSING_USER,
            {"json": {"client_secret": planted.new("client_secret in a JSON body")}},
        ),
    ]
    responses = []
    for method, path, options in calls:
        responses.append(
            session.request(method, base_url + path, timeout=30, **options)
        )
    return responses


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (hidden ones too), by path."""
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_planted_secrets_never_leave_the_process(
    kafka_bootstrap, kafka_topic, start_server, start_reader
):
    planted = Secrets()
    demo = start_server(bootstrap=kafka_bootstrap, topic=kafka_topic)
    session_cookie = planted.new("Set-Cookie session")
    remember_cookie = planted.new("Set-Cookie remember")
    access_token = planted.new("access_token in a JSON response body")
    login = start_server(
        bootstrap=kafka_bootstrap,
        topic=kafka_topic,
        app="tests.reliability.login_app:app",
        env={
            "LOGIN_SESSION_COOKIE": session_cookie,
            "LOGIN_REMEMBER_COOKIE": remember_cookie,
            "LOGIN_ACCESS_TOKEN": access_token,
        },
    )

    responses = plant_in_demo_requests(demo.base_url, planted)
    password = planted.new("password field of a login form")
    answer = requests.post(
        f"{login.base_url}/login",
        data={"username": "ada", "password": password},
        timeout=30,
    )
    assert answer.status_code == 200
    # the client got the real secrets: the recorder changes nothing it sees
    assert answer.cookies["session"] == session_cookie
    assert answer.json()["access_token"] == access_token
    assert all(response.status_code < 500 for response in responses)
    demo.stop()
    login.stop()

    sent = len(responses) + 1
    messages = read_topic(kafka_bootstrap, kafka_topic, at_least=sent)
    exchanges = [orjson.loads(message) for message in messages]
    # every planted request was recorded, so the check below is not vacuous
    assert len(exchanges) == sent
    headers = [exchange["request"]["headers"] for exchange in exchanges]
    assert any(h.get("authorization", "").startswith("Bearer ") for h in headers)
    login_exchange = next(e for e in exchanges if e["request"]["pathname"] == "/login")
    assert len(login_exchange["response"]["headers"]["set-cookie"]) == 2

    reader = start_reader(kafka_bootstrap, kafka_topic)
    reader.wait_for_read(sent)
    reader.stop()

    places = {f"kafka message {n}": m for n, m in enumerate(messages)}
    places["server log"] = demo.log.read_bytes()
    places["login server log"] = login.log.read_bytes()
    places["reader log"] = reader.log.read_bytes()
    places.update(files_under(reader.out))
    leaks = [
        f"{where} leaked in {place}"
        for where, value in planted.values.items()
        for place, content in places.items()
        if value.encode() in content
    ]
    write_figures(
        "secrets",
        {
            "secrets_planted": len(planted.values),
            "requests_recorded": len(exchanges),
            "places_searched": len(places),
            "secrets_leaked": len(leaks),
            "leaks": leaks,
            "planted_where": sorted(planted.values),
        },
    )
    assert len(planted.values) >= 12
    assert leaks == []
