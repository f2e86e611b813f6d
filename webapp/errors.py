"""One JSON error shape for every failure: {code, status, message, errors}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from storage.errors import StorageError, StorageUnavailable

logger = logging.getLogger(__name__)


def error_body(code: int, status: str, message: str, errors: dict | None = None) -> dict:
    return {"code": code, "status": status, "message": message, "errors": errors or {}}


def http_error_response(exc: HTTPException):
    """Turn any HTTP exception, including flask-smorest's validation 422, into the JSON shape."""
    data = getattr(exc, "data", None) or {}
    message = data.get("message") or exc.description or exc.name
    errors = data.get("errors") or data.get("messages") or {}
    body = error_body(exc.code or 500, exc.name, message, errors)
    response = jsonify(body)
    response.status_code = exc.code or 500
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(StorageUnavailable)
    def _unavailable(exc: StorageUnavailable):
        logger.warning("dependency_unavailable dependency=%s detail=%s", exc.dependency, exc.detail)
        response = jsonify(error_body(
            503, "Service Unavailable",
            f"{exc.dependency} is unavailable; retry in a few seconds",
            {"dependency": exc.dependency},
        ))
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(StorageError)
    def _storage_error(exc: StorageError):
        # The message may quote internal SQL, so it is logged and not returned.
        logger.error("storage_error error=%s", exc)
        response = jsonify(error_body(500, "Internal Server Error", "a storage operation failed; see the service log"))
        response.status_code = 500
        return response

    @app.errorhandler(InternalServerError)
    def _internal(exc: InternalServerError):
        original = getattr(exc, "original_exception", None)
        logger.error("unhandled_error error=%s", type(original).__name__ if original else "unknown", exc_info=original)
        response = jsonify(error_body(500, "Internal Server Error", "an unexpected error occurred; see the service log"))
        response.status_code = 500
        return response
