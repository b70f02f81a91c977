"""`POST /v1/responses`, framework-free: bytes and headers in, a `ChatResult` out (as `handle_chat`).

authenticate (before the body: the stored history is the caller's own) → load the history of
`previous_response_id` → translate → `proxy.pipeline.handle_chat` (every step, fallback and the
usage row are the chat pipeline's) → translate the answer or the stream back → store the response
(before the client sees it complete, so that a follow-up finds it) unless `store` is false.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from django.conf import settings

from apikeys.access import Access
from apikeys.gate import authenticate_request
from core.background import run_read, run_write
from core.errors import GatewayError, InvalidRequest
from proxy.fronts.responses.stream import ResponseStreamBuilder, responses_events
from proxy.fronts.responses.translate_request import Translation, to_chat_request
from proxy.fronts.responses.translate_response import ResponseEnvelope, chat_messages_of, to_response
from proxy.pipeline import SSE_HEADERS, ChatResult, handle_chat, record_rejection
from stored_responses.selectors import stored_messages
from stored_responses.services import stored_response_create

logger = logging.getLogger(__name__)


async def handle_responses(
    raw: bytes, headers: Mapping[str, str], client_host: str | None = None, access: Access | None = None
) -> ChatResult:
    """Raises GatewayError (OpenAI's shape) for what the client must fix, as the chat pipeline does."""
    if access is None:
        access = await authenticate_request(headers, client_host)
    try:
        body = _json_object(raw)
        history = await _history(body.get("previous_response_id"), access)
        translation = to_chat_request(body, history)
    except GatewayError as error:
        record_rejection(error, access)  # refused before the pipeline: the row is written here
        raise
    result = await handle_chat(orjson.dumps(translation.chat), headers, client_host, access=access)
    envelope = ResponseEnvelope.for_request(body, translation.custom_tools)
    store = body.get("store", True) is not False and settings.RESPONSES_STORE_DAYS > 0

    async def keep(response: dict[str, Any]) -> None:
        if store and response["status"] in ("completed", "incomplete"):
            await _store(response, translation, history, access)

    if result.stream is not None:
        events = responses_events(result.stream, ResponseStreamBuilder(envelope), before_completed=keep)
        return ChatResult(status=result.status, headers={**SSE_HEADERS, **result.headers}, stream=events,
                          content_type="text/event-stream")  # type: ignore[arg-type]
    try:
        completion = orjson.loads(result.body or b"")
    except orjson.JSONDecodeError:
        logger.warning("upstream answer for %s is not JSON", result.headers.get("x-request-id"))
        raise GatewayError("The upstream answer was not valid JSON.", status=502, error_type="upstream_error",
                           code="upstream_bad_response", headers=result.headers) from None
    response = to_response(completion, envelope)
    await keep(response)
    return ChatResult(status=result.status, headers=result.headers, body=orjson.dumps(response))


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


async def _history(previous_id: Any, access: Access) -> list[dict[str, Any]] | None:
    if previous_id is None:
        return None
    if not isinstance(previous_id, str) or not previous_id:
        raise InvalidRequest("'previous_response_id' must be a string.", param="previous_response_id")
    if settings.RESPONSES_STORE_DAYS == 0:
        raise InvalidRequest("This gateway stores no responses (RESPONSES_STORE_DAYS=0): send the whole "
                             "conversation in 'input' instead.", param="previous_response_id",
                             code="previous_response_not_found")
    history = await run_read(stored_messages, response_id=previous_id, api_key_prefix=access.prefix)
    if history is None:
        raise InvalidRequest(
            f"Previous response with id '{previous_id[:100]}' not found: this gateway keeps the responses it "
            "answered with store=true (for RESPONSES_STORE_DAYS days, for the key that made them); send the "
            "whole conversation in 'input' instead.", param="previous_response_id",
            code="previous_response_not_found")
    return history


async def _store(response: dict[str, Any], translation: Translation, history: list[dict[str, Any]] | None,
                 access: Access) -> None:
    """A failed write is logged, never the client's problem: the answer it already has is complete."""
    messages = [*(history or ()), *translation.new_messages, *chat_messages_of(response["output"])]
    try:
        await run_write(stored_response_create, response_id=response["id"], api_key_prefix=access.prefix,
                        model=str(response.get("model") or ""), messages=messages)
    except Exception:
        logger.exception("could not store response %s", response["id"])
