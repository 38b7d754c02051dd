"""JSON bodies for every error the API answers, so clients never get HTML."""

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as JSON: a status, a message and maybe the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None) -> Response:
    """Build the JSON error body `{"error": ..., "status": ..., "field"?: ...}`."""
    body: dict[str, object] = {"error": message, "status": status}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer API errors, HTTP errors and unexpected failures with JSON."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message, error.field)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500, error.description or error.name)
        # keep headers such as Allow on 405
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unexpected error while handling a request")
        return error_response(500, InternalServerError.description)
