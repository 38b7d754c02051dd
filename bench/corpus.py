"""The benchmark corpus: the tutorial API's traffic mixed with real-API traffic.

Half the exchanges are what the demo server's recorder produces for the
users API; the other half replay the recorded traffic of four real APIs
(``shared/accuracy/traffic``) with their path ids varied, so paths repeat
the way real ids do: a few very often, most rarely.
"""

from __future__ import annotations

import datetime
import logging
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TRAFFIC = ROOT.parent / "shared" / "accuracy" / "traffic"
TUTORIAL_HOST = "localhost:5000"
# bump when the generated corpus changes, so cached files are rebuilt
VERSION = 1

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX_ID = re.compile(r"^[0-9a-f]{16,}$")
_PREFIXED_TOKEN = re.compile(r"^([a-z]{2,5}_)([A-Za-z0-9]+)$")
_NAMES = ["ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "linus"]


def _timestamps(rng: random.Random, clock: list[float]) -> tuple[str, str, float]:
    """Return request and response times (ISO 8601) and the duration in ms."""
    clock[0] += rng.expovariate(500.0)
    took = rng.uniform(0.4, 6.0)
    start = datetime.datetime.fromtimestamp(clock[0], datetime.timezone.utc)
    end = start + datetime.timedelta(milliseconds=took)
    return (
        start.isoformat(timespec="milliseconds"),
        end.isoformat(timespec="milliseconds"),
        round(took, 3),
    )


def _user(rng: random.Random, user_id: str) -> dict:
    name = f"{rng.choice(_NAMES)} {rng.choice(_NAMES).title()}"
    return {
        "id": user_id,
        "name": name,
        "email": f"{name.split()[0]}{rng.randrange(1000)}@example.com",
        "created_at": "2026-12-04T10:00:00+00:00",
    }


def tutorial_exchange(
    rng: random.Random, ids: list[str], clock: list[float] | None = None
) -> dict:
    """Return one exchange of the demo users API, shaped like the recorder's."""
    clock = clock if clock is not None else [1_796_000_000.0]
    user_id = rng.choice(ids)
    pick = rng.random()
    request_body = ""
    query: dict = {}
    if pick < 0.35:
        method, pathname = "get", f"/users/{user_id}"
        found = rng.random() < 0.9
        status = 200 if found else 404
        body = _user(rng, user_id) if found else {"error": "user not found"}
    elif pick < 0.60:
        method, pathname = "get", "/users"
        limit = rng.choice(["10", "20", "50"])
        query = {"limit": limit, "offset": str(rng.randrange(0, 200, 10))}
        if rng.random() < 0.3:
            query["name"] = rng.choice(_NAMES)
        items = [_user(rng, rng.choice(ids)) for _ in range(rng.randrange(0, 4))]
        status = 200
        body = {"items": items, "total": 200, "limit": int(limit), "offset": 0}
    elif pick < 0.80:
        method, pathname = "post", "/users"
        new = _user(rng, str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        if rng.random() < 0.9:
            request_body = orjson.dumps({"name": new["name"], "email": new["email"]})
            status, body = 201, new
        else:
            request_body = orjson.dumps({"name": new["name"]})
            status, body = 400, {"error": "email is required", "field": "email"}
    elif pick < 0.92:
        method, pathname = "patch", f"/users/{user_id}"
        request_body = orjson.dumps({"name": rng.choice(_NAMES)})
        status, body = 200, _user(rng, user_id)
    else:
        method, pathname = "delete", f"/users/{user_id}"
        status, body = rng.choice([204, 404]), None

    started, finished, took = _timestamps(rng, clock)
    request_text = (
        request_body.decode() if isinstance(request_body, bytes) else request_body
    )
    response_text = orjson.dumps(body).decode() if body is not None else ""
    request_headers = {
        "host": TUTORIAL_HOST,
        "user-agent": "curl/8.5.0",
        "accept": "*/*",
    }
    if request_text:
        request_headers["content-type"] = "application/json"
        request_headers["content-length"] = str(len(request_text))
    response_headers = {"content-type": "application/json"} if response_text else {}
    response_headers["content-length"] = str(len(response_text))
    return {
        "request": {
            "method": method,
            "protocol": "http",
            "host": TUTORIAL_HOST,
            "headers": request_headers,
            "pathname": pathname,
            "query": query,
            "body": request_text,
            "timestamp": started,
        },
        "response": {
            "statusCode": status,
            "headers": response_headers,
            "body": response_text,
            "timestamp": finished,
        },
        "meta": {
            "durationMs": took,
            "requestId": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            "truncated": {"request": False, "response": False},
            "bodyLength": {
                "request": len(request_text),
                "response": len(response_text),
            },
        },
    }


def _vary_segment(segment: str, variant: int) -> str:
    """Return another id of the same shape, the same one for the same variant."""
    if variant == 0 or not any(char.isdigit() for char in segment):
        # words-only segments may be literals (findByTags, logout): keep them
        return segment
    rng = random.Random(f"{segment}/{variant}")
    if _UUID.match(segment):
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if _HEX_ID.match(segment):
        return "".join(rng.choice("0123456789abcdef") for _ in segment)
    prefixed = _PREFIXED_TOKEN.match(segment)
    if prefixed:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        tail = "".join(rng.choice(alphabet) for _ in prefixed.group(2))
        return prefixed.group(1) + tail
    return re.sub(r"\d", lambda _: rng.choice("0123456789"), segment)


def vary_ids(exchange: dict, variant: int) -> dict:
    """Return a copy of a real-API exchange with its path ids replaced."""
    request = dict(exchange["request"])
    segments = request["pathname"].split("/")
    request["pathname"] = "/".join(_vary_segment(s, variant) for s in segments)
    return {**exchange, "request": request}


def real_api_exchanges() -> list[dict]:
    """Load the real-API traffic recorded for the accuracy benchmark."""
    files = sorted(TRAFFIC.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no traffic in {TRAFFIC}")
    exchanges = []
    for path in files:
        with path.open("rb") as lines:
            exchanges.extend(orjson.loads(line) for line in lines if line.strip())
    return exchanges


def user_ids(rng: random.Random, count: int) -> list[str]:
    """Return count fixed uuid4 user ids."""
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def exchanges(count: int, seed: int = 8) -> Iterator[bytes]:
    """Yield count encoded exchanges of the mixed corpus, deterministically."""
    rng = random.Random(seed)
    ids = user_ids(rng, 5000)
    real = real_api_exchanges()
    clock = [1_796_000_000.0]
    for _ in range(count):
        if rng.random() < 0.5:
            yield orjson.dumps(tutorial_exchange(rng, ids, clock))
        else:
            # a heavy tail: a few ids come back very often, most rarely
            variant = min(int(rng.paretovariate(0.8)) - 1, 5000)
            yield orjson.dumps(vary_ids(rng.choice(real), variant))


def corpus_file(count: int, cache: Path) -> Path:
    """Return a JSON Lines file of count exchanges, generating it once."""
    path = cache / f"corpus-v{VERSION}-{count}.jsonl"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".jsonl.tmp")
    with partial.open("wb") as out:
        for line in exchanges(count):
            out.write(line + b"\n")
    partial.rename(path)
    logger.info("wrote a corpus of %d exchanges to %s", count, path)
    return path


def fixed_endpoint_exchanges(count: int, seed: int = 9) -> Iterator[bytes]:
    """Yield count tutorial exchanges: fixed endpoints, ever new ids and bodies."""
    rng = random.Random(seed)
    clock = [1_796_000_000.0]
    for _ in range(count):
        # a fresh id every time: the builder must not keep per-id state
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4))]
        yield orjson.dumps(tutorial_exchange(rng, ids, clock))
