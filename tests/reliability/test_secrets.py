"""Planted secrets never reach Kafka, a log line or the generated document."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import orjson
import pytest
import requests

from tests.conftest import free_port
from tests.reliability.figures import write_figures
from tests.reliability.processes import wait_for_drain
from tests.reliability.topic import read_topic

pytestmark = pytest.mark.slow

MISSING_USER = "/users/00000000-0000-4000-8000-000000000000"


def secret(label: str) -> str:
    """A value that cannot occur by chance.

    Letters and digits only, so no encoding (percent, JSON) can hide it from
    a plain search.
    """
    return f"SECRET{label}{secrets.token_hex(12)}"


def b64(text: str) -> str:
    """Standard base64, as in Basic credentials."""
    return base64.b64encode(text.encode()).decode()


def b64url(data: dict) -> str:
    """Unpadded base64url of a JSON object, as in a JWT part."""
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


class Secrets:
    """The planted values, by where they were planted."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def new(self, where: str) -> str:
        """A fresh secret, remembered under where it goes."""
        value = secret(str(len(self.values)))
        self.values[where] = value
        return value

    def derived(self, where: str, value: str) -> str:
        """Remember a value made from secrets (base64 of credentials, a JWT)."""
        self.values[where] = value
        return value


def demo_secrets(planted: Secrets) -> dict[str, str]:
    """Make the secrets for the demo API's requests, by the part that takes them."""
    basic_password = planted.new("Authorization Basic password")
    proxy_password = planted.new("Proxy-Authorization password")
    signature = planted.new("JWT signature in a custom header")
    jwt_head = f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url({'sub': 'ada'})}"
    return {
        "bearer": planted.new("Authorization Bearer"),
        "basic": planted.derived(
            "Authorization Basic credentials (base64)", b64(f"alice:{basic_password}")
        ),
        "proxy": planted.derived(
            "Proxy-Authorization credentials (base64)", b64(f"proxy:{proxy_password}")
        ),
        "jwt": planted.derived("JWT in a custom header", f"{jwt_head}.{signature}"),
        "cookie": planted.new("Cookie session"),
        "api_key": planted.new("X-Api-Key"),
        "auth_token": planted.new("X-Auth-Token header"),
        "referer": planted.new("access_token in a Referer URL"),
        "query_key": planted.new("api_key query"),
        "query_token": planted.new("token query"),
        "deep": planted.new("password nested four objects deep in a JSON body"),
        "listed": planted.new("api_key in a list"),
        "form": planted.new("password form field"),
        "client_secret": planted.new("client_secret in a JSON body"),
    }


def send_with_secrets(base_url: str, s: dict[str, str]) -> list[requests.Response]:
    """Send requests to the demo API that carry secrets in every usual place."""
    deep = {
        "name": "Ada",
        "profile": {"settings": {"security": {"login": {"password": s["deep"]}}}},
    }
    listed = {"name": "Ada", "keys": [{"api_key": s["listed"]}]}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    form_body = f"name=Ada&password={s['form']}"
    referer_url = f"https://app.example.org/cb?state=ok&access_token={s['referer']}"
    calls = [
        ("GET", "/users", {"headers": {"Authorization": f"Bearer {s['bearer']}"}}),
        ("GET", MISSING_USER, {"headers": {"Authorization": f"Basic {s['basic']}"}}),
        ("GET", "/users", {"headers": {"Proxy-Authorization": f"Basic {s['proxy']}"}}),
        ("GET", "/users", {"headers": {"Cookie": f"session={s['cookie']}; a=b"}}),
        ("GET", "/users", {"headers": {"X-Api-Key": s["api_key"]}}),
        ("GET", "/users", {"headers": {"X-Auth-Token": s["auth_token"]}}),
        ("GET", "/users", {"headers": {"X-Context": s["jwt"]}}),
        ("GET", "/users", {"headers": {"Referer": referer_url}}),
        ("GET", f"/users?limit=5&api_key={s['query_key']}", {}),
        ("GET", f"/users?token={s['query_token']}", {}),
        ("POST", "/users", {"json": deep}),
        ("POST", "/users", {"json": listed}),
        ("POST", "/users", {"data": form_body, "headers": form}),
        ("PATCH", MISSING_USER, {"json": {"client_secret": s["client_secret"]}}),
    ]  # fmt: skip
    session = requests.Session()
    return [
        session.request(method, base_url + path, timeout=30, **options)
        for method, path, options in calls
    ]


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
    redirect_token = planted.new("access_token in a redirect (Location, HTML)")
    login = start_server(
        bootstrap=kafka_bootstrap,
        topic=kafka_topic,
        app="tests.reliability.login_app:app",
        env={
            "LOGIN_SESSION_COOKIE": session_cookie,
            "LOGIN_REMEMBER_COOKIE": remember_cookie,
            "LOGIN_ACCESS_TOKEN": access_token,
            "LOGIN_REDIRECT_TOKEN": redirect_token,
        },
    )

    demo_values = demo_secrets(planted)
    responses = send_with_secrets(demo.base_url, demo_values)
    # the same secrets again through a server whose Kafka cannot be reached:
    # failing sends are logged, and those lines must not carry them either
    unreachable = start_server(
        bootstrap=f"127.0.0.1:{free_port()}",
        topic=kafka_topic,
        app="tests.reliability.stats_app:app",
    )
    replanted = send_with_secrets(unreachable.base_url, demo_values)
    undelivered = wait_for_drain(unreachable)
    unreachable.stop()
    password = planted.new("password field of a login form")
    answer = requests.post(
        f"{login.base_url}/login",
        data={"username": "ada", "password": password},
        timeout=30,
    )
    assert answer.status_code == 200
    redirected = requests.get(
        f"{login.base_url}/authorize", allow_redirects=False, timeout=30
    )
    assert redirect_token in redirected.text
    signup = orjson.dumps(
        {
            "user": "ada",
            "password1": planted.new("password1 of a JSON sign-up sent as text"),
            "password2": planted.new("password2 of a JSON sign-up sent as text"),
        }
    )
    signed_up = requests.post(
        f"{login.base_url}/signup",
        data=signup,
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert signed_up.status_code == 201
    # a GraphQL mutation writes the password into the query text
    graphql_password = planted.new("password argument of a GraphQL mutation")
    mutation = (
        f'mutation {{ signUp(user: "ada", password: "{graphql_password}") {{ id }} }}'
    )
    signed_up_graphql = requests.post(
        f"{login.base_url}/signup", json={"query": mutation}, timeout=30
    )
    assert signed_up_graphql.status_code == 201
    path_token = planted.new("token in a reset link's path")
    # a token sent as a query name (letters and digits taking turns)
    name_token = planted.derived(
        "token as a query name",
        "Key" + "".join(f"{secrets.choice('abcdef')}{n % 10}" for n in range(12)),
    )
    # a reset link sent on as a query value (where to go after signing in)
    next_token = planted.new("token in a reset link sent as a query value")
    reset = requests.get(
        f"{login.base_url}/reset-password/{path_token}?{name_token}",
        params={"next": f"/reset-password/{next_token}"},
        timeout=30,
    )
    assert reset.json() == {"valid": True}
    responses += [redirected, signed_up, signed_up_graphql, reset]
    # the client got the real secrets: the recorder changes nothing it sees
    assert answer.cookies["session"] == session_cookie
    assert answer.json()["access_token"] == access_token
    assert all(response.status_code < 500 for response in responses)
    # personal data a user really sent: recorded (that is the point), but the
    # document describes the API, so no value of it belongs there
    person = {"name": secret("Name"), "email": f"{secret('mail').lower()}@example.org"}
    created = requests.post(f"{demo.base_url}/users", json=person, timeout=30)
    assert created.status_code == 201
    person["id"] = created.json()["id"]
    fetched = requests.get(f"{demo.base_url}/users/{person['id']}", timeout=30)
    assert fetched.ok
    responses += [created, fetched]
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
    places["log of the server without Kafka"] = unreachable.log.read_bytes()
    places["login server log"] = login.log.read_bytes()
    places["reader log"] = reader.log.read_bytes()
    documents = {
        path: content
        for path, content in files_under(reader.out).items()
        if Path(path).name in ("openapi.json", "openapi.yaml")
    }
    assert documents, "the reader wrote no document"
    places.update(files_under(reader.out))
    personal = [
        f"{field} in {path}"
        for field, value in person.items()
        for path, content in documents.items()
        if value.encode() in content
    ]
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
            "requests_to_the_server_without_kafka": len(replanted),
            "its_counters": undelivered,
            "places_searched": len(places),
            "secrets_leaked": len(leaks),
            "personal_values_in_document": len(personal),
            "leaks": leaks,
            "planted_where": sorted(planted.values),
        },
    )
    assert len(planted.values) >= 12
    assert all(response.status_code < 500 for response in replanted)
    assert undelivered["recorded"] == len(replanted) and undelivered["delivered"] == 0
    assert leaks == []
    assert personal == []
