"""The documented ninja route for `POST /v1/embeddings` (OpenAPI docs, Django's test client).

Served in production by the pure-ASGI front (`proxy.fronts.asgi`), which calls the same
`handle_embeddings`; errors raise GatewayError and the one handler renders them in OpenAI's shape.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from proxy.embeddings import handle_embeddings
from proxy.fronts.django_serving import pipeline_response
from proxy.fronts.schemas import ErrorResponse

router = Router(tags=["OpenAI-compatible"])


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(description="An embedding model id from /v1/models (kind: embedding), or '<provider>/<model>'")
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A string, a list of strings, or token arrays (up to 2048 items)")
    encoding_format: str | None = Field(None, description="float (default) or base64 (little-endian float32)")
    dimensions: int | None = Field(None, description="Output dimensions, for models that can shorten vectors")
    user: str | None = None


_docs = {"requestBody": {"required": True,
                         "content": {"application/json": {"schema": EmbeddingsRequest.model_json_schema()}}}}


@router.post(
    "/embeddings", openapi_extra=_docs,
    response={200: dict, 400: ErrorResponse, 404: ErrorResponse, 413: ErrorResponse, 502: ErrorResponse},
    summary="Create embeddings (OpenAI-compatible; routed by model to OpenAI-compatible, Gemini or Vertex AI)",
)
async def create_embeddings(request: HttpRequest):
    return await pipeline_response(handle_embeddings, request)
