"""Request/response shapes for the OpenAPI docs. Parsing itself is done by `chat_request`, so the
body reaches the upstream exactly as sent (unknown fields included)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(description="system, developer, user, assistant or tool")
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(description="A model id from /v1/models, '<provider>/<model>', 'auto' or 'auto:<role>'")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    seed: int | None = None
    user: str | None = None
    role: str | None = Field(None, description="Gateway extension: the task's role (also X-Gateway-Role)")
    conversation_id: str | None = Field(
        None, description="Gateway extension: groups requests of one conversation (also X-Conversation-Id)"
    )


class ModelObject(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelObject]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
