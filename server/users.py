"""The /users resource: create, list, read, update and delete users."""

import logging
import re
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import ClientDisconnected

from server.errors import ApiError
from server.store import UserStore

logger = logging.getLogger(__name__)

bp = Blueprint("users", __name__)

FIELDS = ("name", "email")
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
# deliberately loose: one @, no spaces, a dot in the domain
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DIGITS = re.compile(r"[0-9]{1,9}")
# C0 and C1 controls (NUL, escape, ...): no part of a person's name
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _body_read_errors() -> tuple[type[Exception], ...]:
    """What reading a request body raises when the client sent a broken one.

    Sockets and werkzeug's server raise OSError (a cut connection, a
    malformed chunk, a read timeout), which werkzeug's body stream turns
    into ClientDisconnected; gunicorn's parser raises its own errors
    (InvalidChunkSize), found only when gunicorn is installed.
    """
    errors: tuple[type[Exception], ...] = (OSError, ValueError, ClientDisconnected)
    try:
        from gunicorn.http.errors import ParseException
    except ImportError:
        return errors
    return (*errors, ParseException)


BODY_READ_ERRORS = _body_read_errors()


def get_store() -> UserStore:
    """Return the app's user store."""
    return current_app.extensions["user_store"]


@bp.post("/users")
def create_user() -> tuple[Response, int, dict[str, str]]:
    """Create a user from `{"name", "email"}`.

    :raise 400: a field is missing or invalid, or the body is not JSON.
    :raise 408: the body stalled (under gunicorn).
    :raise 413: the body is over MAX_BODY_BYTES.
    :raise 415: the body is not declared as JSON.
    """
    fields = read_json_object()
    for name in FIELDS:
        if name not in fields:
            raise ApiError(400, f"field {name!r} is required", name)
    user = get_store().create(**validate_fields(fields))
    location = url_for("users.get_user", user_id=user["id"])
    return jsonify(user), 201, {"Location": location}


@bp.get("/users")
def list_users() -> Response:
    """List users, one page at a time, optionally filtered by name.

    :raise 400: limit is not 1 to 100 or offset is not a whole number.
    """
    limit = query_int("limit", default=20, low=1, high=100)
    offset = query_int("offset", default=0, low=0, high=None)
    name = request.args.get("name") or None
    items, total = get_store().list(limit, offset, name)
    return jsonify({"items": items, "total": total, "limit": limit, "offset": offset})


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> Response:
    """Return one user.

    :raise 404: there is no user with this id.
    """
    user = get_store().get(user_id)
    if user is None:
        raise ApiError(404, "user not found")
    return jsonify(user)


@bp.patch("/users/<user_id>")
def update_user(user_id: str) -> Response:
    """Change some fields of a user.

    :raise 400, 408, 413, 415: as for creating a user.
    :raise 404: there is no user with this id.
    """
    changes = validate_fields(read_json_object())
    user = get_store().update(user_id, changes)
    if user is None:
        raise ApiError(404, "user not found")
    return jsonify(user)


@bp.delete("/users/<user_id>")
def delete_user(user_id: str) -> Response:
    """Delete a user.

    :raise 404: there is no user with this id.
    """
    if not get_store().delete(user_id):
        raise ApiError(404, "user not found")
    response = Response(status=204)
    # no content, so no Content-Type (Flask would say text/html)
    del response.headers["Content-Type"]
    return response


def read_json_object() -> dict[str, Any]:
    """Return the request body as a JSON object, or raise a 4xx ApiError."""
    limit = current_app.config["MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body is larger than {limit} bytes")
    if not is_json_media_type(request.mimetype):
        raise ApiError(415, "body must be JSON (Content-Type: application/json)")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        # JSON between systems is UTF-8 (RFC 8259); another one is a mistake
        raise ApiError(415, f"body must be UTF-8 JSON, not {charset[:40]}")

    raw = read_body()
    if request.content_length is None and len(raw) >= limit and body_goes_on():
        # werkzeug's limit stops a chunked body quietly; more bytes mean too big
        raise ApiError(413, f"body is larger than {limit} bytes")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "body is not valid UTF-8") from None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "body must be a JSON object")
    return value


def read_body() -> bytes:
    """Return the raw request body, or raise a 400 or 408 ApiError.

    :raise 400: the body is malformed (bad chunked encoding) or cut short.
    :raise 408: the client sent no body bytes for BODY_TIMEOUT seconds.
    """
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        # a client that stalls mid-body would hold one of gunicorn's threads
        # for as long as it likes; the timeout gives the thread back.
        # Limitation: the timeout is per read, so a client trickling bytes
        # keeps its thread; a buffering reverse proxy is the real remedy
        sock.settimeout(current_app.config["BODY_TIMEOUT"])
    try:
        return request.get_data(cache=True)
    except BODY_READ_ERRORS as error:
        cause = error.__context__ or error
        if isinstance(cause, TimeoutError):
            logger.info("request body stalled; answered 408")
            raise ApiError(408, "the request body did not arrive in time") from None
        logger.info("request body unreadable (%s); answered 400", type(cause).__name__)
        raise ApiError(400, "the request body could not be read") from None
    finally:
        if sock is not None:
            sock.settimeout(None)


def body_goes_on() -> bool:
    """Whether a body without a length has bytes past what werkzeug let through.

    Only for streams the server ends itself (chunked), so this never waits.
    """
    if not request.environ.get("wsgi.input_terminated"):
        return False
    return bool(request.environ["wsgi.input"].read(1))


def is_json_media_type(mimetype: str) -> bool:
    """Whether a media type is JSON (application/json or a +json type)."""
    return mimetype == "application/json" or mimetype.endswith("+json")


def validate_fields(fields: dict[str, Any]) -> dict[str, str]:
    """Check user fields (any subset of name and email); return them cleaned."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}", unknown[0])

    cleaned: dict[str, str] = {}
    if "name" in fields:
        name = fields["name"]
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "field 'name' must be a non-empty string", "name")
        if CONTROL_CHARACTERS.search(name):
            message = "field 'name' must not hold control characters"
            raise ApiError(400, message, "name")
        if len(name) > MAX_NAME_LENGTH:
            message = f"field 'name' must be at most {MAX_NAME_LENGTH} characters"
            raise ApiError(400, message, "name")
        cleaned["name"] = name.strip()
    if "email" in fields:
        email = fields["email"]
        if (
            not isinstance(email, str)
            or len(email) > MAX_EMAIL_LENGTH
            or not EMAIL_PATTERN.fullmatch(email)
        ):
            raise ApiError(400, "field 'email' must be an email address", "email")
        cleaned["email"] = email
    return cleaned


def query_int(name: str, default: int, low: int, high: int | None) -> int:
    """Read a whole-number query parameter within bounds, or raise a 400."""
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name!r} given more than once", name)
    raw = values[0]
    if not DIGITS.fullmatch(raw):
        raise ApiError(400, f"query parameter {name!r} must be a whole number", name)
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"from {low} to {high}"
        raise ApiError(400, f"query parameter {name!r} must be {bounds}", name)
    return value
