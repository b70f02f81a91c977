"""The documented ninja route for `POST /v1/responses` (OpenAPI docs, Django's test client).

Served in production by the pure-ASGI front (`proxy.fronts.asgi`), which calls the same
`handle_responses`; errors raise GatewayError and the one handler renders them in OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from proxy.fronts.django_serving import pipeline_response
from proxy.fronts.responses.service import handle_responses
from proxy.fronts.schemas import ErrorResponse

router = Router(tags=["OpenAI-compatible"])


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(description="A model id from /v1/models, '<provider>/<model>', 'auto' or 'auto:<role>'")
    input: str | list[dict[str, Any]] = Field(
        description="A string, or items: messages, function_call, function_call_output, custom_tool_call(_output)")
    instructions: str | None = None
    previous_response_id: str | None = Field(None, description="A response this gateway stored (store: true)")
    store: bool | None = Field(None, description="Keep the response for previous_response_id (default true)")
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = Field(None, description="function and custom tools (no built-in tools)")
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = Field(None, description="format: text, json_object or json_schema")
    reasoning: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, Any] | None = None
    user: str | None = None
    role: str | None = Field(None, description="Gateway extension: the task's role (also X-Gateway-Role)")


_docs = {"requestBody": {"required": True,
                         "content": {"application/json": {"schema": ResponsesRequest.model_json_schema()}}}}


@router.post(
    "/responses", openapi_extra=_docs,
    response={200: dict, 400: ErrorResponse, 404: ErrorResponse, 413: ErrorResponse, 502: ErrorResponse},
    summary="Create a model response (OpenAI Responses API; streams typed events with \"stream\": true)",
)
async def create_response(request: HttpRequest):
    return await pipeline_response(handle_responses, request)
