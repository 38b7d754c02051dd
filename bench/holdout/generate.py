"""Traffic for the held-out APIs: a mock per spec, driven by a client, recorded.

    python -m bench.holdout.generate [--requests-per-operation N] [--seed S]

For each ``specs/NAME.yaml`` a small WSGI app answers every operation of the
spec with schema-valid random data; this project's ``RecordingMiddleware``
(memory sink) records the exchanges, which are written to
``traffic/NAME.jsonl``. The client sends valid requests: path values come
from small pools so they repeat across requests, optional query parameters
and body fields are sent about half the time, and some requests ask the mock
for a non-default status. Nothing leaves the process: the app is called
through werkzeug's test client, with a host of 127.0.0.1.

The specs carry two vendor extensions the mock reads and the scorer ignores:
``x-gen`` on a string or integer schema names the kind of value to make
(``sku``, ``ulid``, ``login``, ...), ``x-keys`` on a map names the kind of its
keys.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from werkzeug.test import Client

from recorder import RecordingMiddleware

HERE = Path(__file__).resolve().parent
METHODS = ("get", "put", "post", "patch", "delete")
# the mock's answer status for one request, set by the client in the environ
STATUS_KEY = "holdout.status"
# share of requests that ask for a status other than the first success
OTHER_STATUS_SHARE = 0.12
# share of optional fields, query parameters and nullable values
OPTIONAL_SHARE = 0.55
NULL_SHARE = 0.25
# a distinct port per API, so each file has its own host
PORTS = {
    "codehub": 8401,
    "shop": 8402,
    "newsroom": 8403,
    "jobrunner": 8404,
    "payments": 8405,
    "handbook": 8406,
}

WORDS = [
    "alpha",
    "bridge",
    "cedar",
    "delta",
    "ember",
    "falcon",
    "garden",
    "harbor",
    "island",
    "jungle",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orbit",
    "pepper",
    "quartz",
    "river",
    "saddle",
    "timber",
    "umber",
    "velvet",
    "willow",
    "yonder",
    "zephyr",
    "amber",
    "basil",
    "copper",
    "dune",
    "fern",
    "granite",
    "hazel",
    "indigo",
]
LOGINS = [
    "octocat",
    "mona-lisa",
    "torvalds",
    "dhh",
    "sindresorhus",
    "gaearon",
    "yyx990803",
    "kentcdodds",
    "addyosmani",
    "jwiegley",
]
ORGS = ["rust-lang", "pallets", "encode", "apache", "kubernetes", "nodejs"]
REPOS = [
    "hello-world",
    "flask",
    "httpx",
    "kafka",
    "ripgrep",
    "dotfiles",
    "linux",
    "react",
    "spoon-knife",
    "awesome-python",
]
STORES = [
    "berlin-mitte",
    "paris-marais",
    "london-soho",
    "lisbon",
    "oslo-centrum",
    "madrid",
]
AUTHORS = ["mhernandez", "jsmith", "akowalski", "lchen", "cokafor", "bnakamura"]
SECTIONS = [
    "politics",
    "science",
    "sport",
    "culture",
    "technology",
    "travel",
    "business",
    "opinion",
]
NAMES = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
)
COUNTRIES = ["DE", "FR", "GB", "PT", "NO", "ES", "US", "JP", "IT", "NL"]
KEY_POOLS = {
    "language": [
        "Python",
        "Go",
        "Rust",
        "C",
        "Shell",
        "TypeScript",
        "Makefile",
        "HTML",
        "Dockerfile",
    ],
    "emoji": ["+1", "-1", "laugh", "heart", "hooray", "rocket", "eyes", "confused"],
    "weekday": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "country": COUNTRIES,
}
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# fixed pools of the kinds added after the first three APIs: built on first
# use, so the random sequence (and the traffic) of those three stays the same
FIXED_POOLS = {
    "project": [
        "acme-prod",
        "acme-staging",
        "billing-eu",
        "ml-training-42",
        "web-frontend",
        "data-lake-7",
    ],
    "jobname": [
        "nightly-backup",
        "etl-orders",
        "reindex-search",
        "send-digests",
        "rotate-keys",
        "compact-logs",
        "warm-cache",
        "export-ledger",
    ],
    "version": ["0.9.8", "1.2.3", "1.3.0", "2.0.0", "2.0.1", "2.1.0", "2.1.1"],
    "locale": ["en-US", "de-DE", "fr-FR", "pt-BR", "ja-JP", "es-419", "zh-Hant-TW"],
    "username": [
        "ana.souza",
        "j.doe",
        "li.wei",
        "m.curie",
        "priya.n",
        "tom.baker",
        "o.okafor",
    ],
    "page": [
        "getting-started",
        "install",
        "configuration",
        "faq",
        "upgrading",
        "cli-reference",
        "troubleshooting",
        "glossary",
    ],
    "month": [f"2025-{month:02d}" for month in range(1, 10)],
    "email": [
        "ana.souza@example.test",
        "j.doe@example.test",
        "li.wei@mail.example.test",
        "m.curie@example.test",
        "priya.n@example.test",
        "tom.baker@example.test",
        "o.okafor@example.test",
        "sales@shop.example.test",
    ],
    "bic": ["DEUTDEFF", "BNPAFRPP", "INGBNL2A", "BARCGB22", "COBADEFF"],
}


class Values:
    """Random values of each generated kind, with fixed pools for identifiers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools: dict[str, list[Any]] = {
            "login": LOGINS,
            "org": ORGS,
            "reponame": REPOS,
            "storeslug": STORES,
            "authorid": AUTHORS,
            "section": SECTIONS,
            "sku": [self._sku() for _ in range(12)],
            "ulid": [self._ulid() for _ in range(10)],
            "articleslug": [self._article_slug() for _ in range(14)],
            "smallid": rng.sample(range(1, 500), 20),
            "bigid": [rng.randint(1_000_000, 2_000_000_000) for _ in range(15)],
            "date": [self._date().isoformat() for _ in range(8)],
            "uuid": [
                str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(8)
            ],
        }

    def pooled(self, kind: str) -> Any:
        """Return a value from the pool of one kind (values repeat)."""
        pool = self.pools.get(kind)
        if pool is None:
            pool = self.pools[kind] = self._late_pool(kind)
        return self.rng.choice(pool)

    def _late_pool(self, kind: str) -> list[Any]:
        """Make the pool of a kind only the later APIs use."""
        if kind == "checkout":
            alphabet = string.ascii_letters + string.digits
            return [
                "cs_live_" + "".join(self.rng.choices(alphabet, k=24))
                for _ in range(10)
            ]
        return FIXED_POOLS[kind]

    def make(self, kind: str) -> Any:
        """Return a fresh value of one kind (pooled kinds come from their pool)."""
        makers: dict[str, Callable[[], Any]] = {
            "word": lambda: self.rng.choice(WORDS),
            "name": lambda: self.rng.choice(NAMES),
            "country": lambda: self.rng.choice(COUNTRIES),
            "hexcolor": lambda: f"{self.rng.getrandbits(24):06x}",
            "bigid": lambda: self.rng.randint(1_000_000, 2_000_000_000),
            "last4": lambda: f"{self.rng.randint(0, 9999):04d}",
            "iban": lambda: "DE" + "".join(self.rng.choices(string.digits, k=20)),
        }
        if kind in makers:
            return makers[kind]()
        if kind == "ulid":
            return self._ulid()
        return self.pooled(kind)

    def text(self) -> str:
        """Return a few lorem words."""
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(2, 7))).capitalize()

    def _sku(self) -> str:
        letters = "".join(self.rng.choices(string.ascii_uppercase, k=2))
        return f"{letters}-{self.rng.randint(1000, 9999)}"

    def _ulid(self) -> str:
        return "01" + "".join(self.rng.choices(CROCKFORD, k=24))

    def _article_slug(self) -> str:
        return "-".join(self.rng.sample(WORDS, self.rng.randint(3, 5)))

    def _date(self) -> date:
        return date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 700))

    def date_time(self) -> str:
        """Return an RFC 3339 timestamp."""
        moment = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(
            seconds=self.rng.randint(0, 60_000_000)
        )
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Spec:
    """An OpenAPI document with local $refs resolved on demand."""

    def __init__(self, document: dict) -> None:
        self.document = document

    def deref(self, node: Any) -> Any:
        """Follow $ref chains to the node they point at."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def operations(self) -> Iterable[tuple[str, str, dict]]:
        """Yield (template, method, operation) for every operation."""
        for template, item in self.document["paths"].items():
            for method in METHODS:
                if method in item:
                    yield template, method, item[method]


class Faker:
    """Schema-valid random JSON values."""

    def __init__(self, spec: Spec, values: Values) -> None:
        self.spec = spec
        self.values = values
        self.rng = values.rng

    def value(self, schema: dict, depth: int = 0, full: bool = False) -> Any:
        """Return a random value of a schema; full sends every optional field."""
        schema = self.spec.deref(schema)
        if "allOf" in schema:
            merged: dict = {}
            for part in schema["allOf"]:
                merged.update(self.value(part, depth, full))
            return merged
        if "anyOf" in schema:
            branches = [self.spec.deref(b) for b in schema["anyOf"]]
            real = [b for b in branches if b.get("type") != "null"]
            if len(real) < len(branches) and self.rng.random() < NULL_SHARE:
                return None
            return self.value(self.rng.choice(real), depth, full)
        if "oneOf" in schema:
            # one branch; a discriminator is a field each branch fixes by enum
            return self.value(self.rng.choice(schema["oneOf"]), depth, full)
        kind = schema.get("type", "object")
        if isinstance(kind, list):
            if "null" in kind and self.rng.random() < NULL_SHARE:
                return None
            kind = next(k for k in kind if k != "null")
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        if kind == "object":
            return self._object(schema, depth, full)
        if kind == "array":
            count = 0 if self.rng.random() < 0.15 else self.rng.randint(1, 3)
            return [self.value(schema["items"], depth + 1, full) for _ in range(count)]
        if kind == "integer":
            if "x-gen" in schema:
                return self.values.make(schema["x-gen"])
            low = schema.get("minimum", 0)
            return self.rng.randint(low, schema.get("maximum", low + 5000))
        if kind == "number":
            return round(self.rng.uniform(0.5, 900.0), 2)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return self._string(schema)

    def _object(self, schema: dict, depth: int, full: bool) -> dict:
        if "additionalProperties" in schema:
            keys = self._map_keys(schema.get("x-keys", "word"))
            return {key: self.value(schema["additionalProperties"]) for key in keys}
        required = set(schema.get("required", ()))
        result = {}
        for name, sub in schema.get("properties", {}).items():
            if name in required or full or self.rng.random() < OPTIONAL_SHARE:
                result[name] = self.value(sub, depth + 1, full)
        return result

    def _map_keys(self, kind: str) -> list[str]:
        pool = KEY_POOLS.get(kind) or self.values.pools.get(kind) or WORDS
        return self.rng.sample(list(pool), self.rng.randint(1, min(5, len(pool))))

    def _string(self, schema: dict) -> str:
        form = schema.get("format")
        if form == "date-time":
            return self.values.date_time()
        if form == "date":
            return self.values.pooled("date")
        if form == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if form == "email":
            return f"{self.rng.choice(WORDS)}.{self.rng.choice(WORDS)}@example.test"
        if form == "uri":
            return f"https://example.test/{self.rng.choice(WORDS)}"
        if "x-gen" in schema:
            return str(self.values.make(schema["x-gen"]))
        return self.values.text()


class MockApp:
    """A WSGI app answering each operation of a spec with random valid data."""

    def __init__(self, spec: Spec, faker: Faker) -> None:
        self.spec = spec
        self.faker = faker
        routes = []
        for template, method, operation in spec.operations():
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
            # literal paths before templates, as a router ranks them, and
            # among those the longer literal text first ({job}:cancel before
            # {job})
            rank = (template.count("{"), -len(re.sub(r"\{[^}]+\}", "", template)))
            routes.append((rank, re.compile(pattern + "$"), method, operation))
        routes.sort(key=lambda route: route[0])
        self.routes = routes

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        method = environ["REQUEST_METHOD"].lower()
        path = environ["PATH_INFO"]
        for _, pattern, route_method, operation in self.routes:
            if route_method == method and pattern.match(path):
                return self._answer(operation, environ, start_response)
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"message": "not found"}']

    def _answer(self, operation: dict, environ: dict, start_response) -> list[bytes]:
        environ["wsgi.input"].read()
        status = environ.get(STATUS_KEY) or _success(operation)
        response = self.spec.deref(operation["responses"][status])
        content = response.get("content") or {}
        reason = "OK" if status.startswith("2") else "Error"
        headers = [
            (name, str(self.faker.value(item["schema"])))
            for name, item in response.get("headers", {}).items()
        ]
        if not content:
            start_response(f"{status} {reason}", headers)
            return []
        media, body = next(iter(content.items()))
        if media.startswith("text/"):
            payload = self._text(media).encode()
        else:
            payload = json.dumps(self.faker.value(body["schema"])).encode()
        headers += [("Content-Type", media), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {reason}", headers)
        return [payload]

    def _text(self, media: str) -> str:
        """Return a plain-text or CSV body."""
        rng = self.faker.rng
        if media == "text/csv":
            rows = [
                f"{uuid.UUID(int=rng.getrandbits(128), version=4)},"
                f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}"
                for _ in range(rng.randint(1, 6))
            ]
            return "id,total\n" + "\n".join(rows) + "\n"
        return self.faker.values.text() + "\n"


def _success(operation: dict) -> str:
    """Return the first 2xx status of an operation, else its first 3xx."""
    codes = list(operation["responses"])
    return next((c for c in codes if c.startswith("2")), None) or next(
        c for c in codes if c.startswith("3")
    )


class Driver:
    """The client: valid requests for every operation of a spec."""

    def __init__(self, spec: Spec, faker: Faker, client: Client, base_url: str) -> None:
        self.spec = spec
        self.base_url = base_url
        self.faker = faker
        self.rng = faker.rng
        self.client = client

    def send(self, template: str, method: str, operation: dict) -> None:
        """Send one request for an operation."""
        params = [self.spec.deref(p) for p in operation.get("parameters", ())]
        path = template
        query: list[tuple[str, str]] = []
        for param in params:
            schema = self.spec.deref(param["schema"])
            if param["in"] == "path":
                path = path.replace(
                    "{" + param["name"] + "}", str(self._path_value(schema))
                )
            elif param["in"] == "query" and self._sends(param):
                query.extend(self._query_pairs(param["name"], schema))
        headers = {"Accept": "application/json", "User-Agent": "holdout-client/1.0"}
        headers.update(self._credentials())
        data, content_type = self._body(operation)
        others = [
            code for code in operation["responses"] if code != _success(operation)
        ]
        extra = {}
        if others and self.rng.random() < OTHER_STATUS_SHARE:
            extra[STATUS_KEY] = self.rng.choice(others)
        response = self.client.open(
            path,
            base_url=self.base_url,
            method=method.upper(),
            query_string=urlencode(query),
            headers=headers,
            data=data,
            content_type=content_type,
            environ_overrides=extra,
        )
        # reading the whole answer is what completes the recorded exchange
        response.get_data()
        response.close()

    def _sends(self, param: dict) -> bool:
        return bool(param.get("required")) or self.rng.random() < OPTIONAL_SHARE

    def _path_value(self, schema: dict) -> Any:
        if schema.get("format") == "uuid":
            return self.faker.values.pooled("uuid")
        if schema.get("format") == "date":
            return self.faker.values.pooled("date")
        if schema.get("format") == "email":
            return self.faker.values.pooled("email")
        return self.faker.values.pooled(schema["x-gen"])

    def _query_pairs(self, name: str, schema: dict) -> list[tuple[str, str]]:
        if schema.get("type") == "array":
            count = self.rng.randint(1, 3)
            return [
                (name, str(self.faker.value(schema["items"]))) for _ in range(count)
            ]
        value = self.faker.value(schema)
        if isinstance(value, bool):
            value = str(value).lower()
        return [(name, str(value))]

    def _credentials(self) -> dict[str, str]:
        schemes = self.spec.document.get("x-auth", "")
        if schemes == "bearer":
            return {"Authorization": "Bearer tok_holdout_0c1d2e3f"}
        if schemes == "apikey":
            return {"X-Api-Key": "key_holdout_9a8b7c"}
        return {}

    def _body(self, operation: dict) -> tuple[bytes | None, str | None]:
        body = self.spec.deref(operation.get("requestBody") or {})
        if not body:
            return None, None
        media, content = next(iter(body["content"].items()))
        value = self.faker.value(content["schema"])
        if media == "application/x-www-form-urlencoded":
            pairs = {
                k: str(v).lower() if isinstance(v, bool) else v
                for k, v in value.items()
            }
            return urlencode(pairs).encode(), media
        return json.dumps(value).encode(), media


def generate(name: str, per_operation: int, seed: int) -> int:
    """Write traffic/NAME.jsonl for specs/NAME.yaml; return the exchange count."""
    document = yaml.safe_load((HERE / "specs" / f"{name}.yaml").read_text())
    spec = Spec(document)
    rng = random.Random(f"{seed}:{name}")
    faker = Faker(spec, Values(rng))
    recorded = RecordingMiddleware(MockApp(spec, faker), sink="memory")
    base_url = f"http://127.0.0.1:{PORTS.get(name, 8400)}"
    driver = Driver(spec, faker, Client(recorded), base_url)
    plan = [op for op in spec.operations() for _ in range(per_operation)]
    rng.shuffle(plan)
    for template, method, operation in plan:
        driver.send(template, method, operation)
    exchanges = recorded.sink.wait_for(len(plan), timeout=30)
    recorded.sink.close()
    lines = [json.dumps(exchange, sort_keys=True) for exchange in exchanges]
    (HERE / "traffic" / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    """Generate the traffic of every spec in specs/."""
    parser = argparse.ArgumentParser(prog="python -m bench.holdout.generate")
    parser.add_argument("--requests-per-operation", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "names", nargs="*", help="APIs to generate (default: every spec)"
    )
    args = parser.parse_args(argv)
    (HERE / "traffic").mkdir(exist_ok=True)
    for path in sorted((HERE / "specs").glob("*.yaml")):
        if args.names and path.stem not in args.names:
            continue
        count = generate(path.stem, args.requests_per_operation, args.seed)
        print(f"{path.stem}: {count} exchanges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
