"""One error path for the public API: GatewayError and its rendering in OpenAI's error shape.

`{"error": {"message", "type", "param", "code"}}` with the status a client of OpenAI would expect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse

if TYPE_CHECKING:
    from ninja import NinjaAPI


class GatewayError(Exception):
    status = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


class InvalidRequest(GatewayError):
    """The client sent something we cannot serve; the message says what to fix."""


class ModelNotFound(GatewayError):
    status = 404
    code = "model_not_found"


class ModelNotAvailable(GatewayError):
    """The model exists but cannot be used now (provider disabled, key missing, profile excludes it)."""

    status = 400
    code = "model_not_available"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "request_too_large"


class UpstreamFailed(GatewayError):
    """Every candidate failed before anything was sent to the client."""

    status = 502
    error_type = "upstream_error"
    code = "all_candidates_failed"


class CandidateSkipped(Exception):
    """Raised while a candidate's request is prepared (e.g. by a body transform): pass it over, call nothing.

    Dispatch records `reason` in the attempt log and moves to the next candidate; when every candidate was
    passed over, the client gets `message` as a GatewayError with `status` and `code` (`reason` if unset).
    """

    def __init__(self, message: str, *, reason: str, status: int = 400, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status
        self.code = code or reason


def error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: GatewayError) -> HttpResponse:
    response = HttpResponse(orjson.dumps(error.body()), status=error.status, content_type="application/json")
    for name, value in error.headers.items():
        response[name] = value
    return response


def install_error_handlers(api: NinjaAPI) -> None:
    """Every failure of the API becomes an OpenAI-shaped body: no HTML pages, no tracebacks."""
    from ninja.errors import AuthenticationError, HttpError, ValidationError

    def gateway_error(request, exc: GatewayError) -> HttpResponse:
        return error_response(exc)

    def too_big(request, exc: RequestDataTooBig) -> HttpResponse:
        return error_response(PayloadTooLarge("Request body is larger than the gateway's limit."))

    def validation_error(request, exc: ValidationError) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        location = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
        message = first.get("msg", "Invalid request")
        return error_response(InvalidRequest(f"{location}: {message}" if location else message, param=location))

    def http_error(request, exc: HttpError) -> HttpResponse:
        return error_response(GatewayError(str(exc), status=exc.status_code))

    def auth_error(request, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            GatewayError("Invalid or missing API key.", status=401, code="invalid_api_key")
        )

    def unexpected(request, exc: Exception) -> HttpResponse:
        import logging

        logging.getLogger("gateway").exception("unhandled error on %s", request.path)
        return error_response(
            GatewayError("The gateway hit an internal error.", status=500, error_type="server_error")
        )

    api.add_exception_handler(GatewayError, gateway_error)
    api.add_exception_handler(RequestDataTooBig, too_big)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(AuthenticationError, auth_error)
    api.add_exception_handler(Exception, unexpected)
