"""Gemini `generateContent` answers and `alt=sse` events → OpenAI completions and chunks (pure).

Thought parts (`thought: true`) are dropped; function calls become tool calls whose ids carry the
part's thought signature. Usage: completion tokens include the thinking tokens, as OpenAI's do.
"""

from __future__ import annotations

from typing import Any

import orjson

from providers.google.ids import new_call_id, tool_call_id

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


class BlockedPrompt(Exception):
    """Gemini refused the prompt itself (`promptFeedback.blockReason`) and produced no candidate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def prompt_block_reason(data: dict) -> str | None:
    if data.get("candidates"):
        return None
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return str(reason) if reason else None


def finish_reason(gemini_reason: Any, has_tool_calls: bool) -> str:
    mapped = FINISH_REASONS.get(str(gemini_reason), "stop")
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def usage_from_gemini(meta: Any) -> dict | None:
    """OpenAI's usage object for Gemini's `usageMetadata` (None when absent)."""
    if not isinstance(meta, dict):
        return None
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    thoughts = _int(meta.get("thoughtsTokenCount"))
    completion = _int(meta.get("candidatesTokenCount")) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _int(meta.get("totalTokenCount")) or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _int(meta.get("cachedContentTokenCount"))},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def message_parts(parts: Any) -> tuple[list[str], list[dict]]:
    """(the texts, the OpenAI tool calls) of a candidate's parts, thoughts left out."""
    texts: list[str] = []
    calls: list[dict] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict) or part.get("thought") is True:
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            calls.append({
                "id": tool_call_id(call.get("id"), part.get("thoughtSignature")),
                "type": "function",
                "function": {"name": str(call.get("name", "")), "arguments": _json(call.get("args") or {})},
            })
    return texts, calls


def completion_from_gemini(data: dict, *, model: str, created: int) -> dict:
    """The OpenAI `chat.completion` for a Gemini answer. Raises BlockedPrompt, ValueError (no candidate)."""
    reason = prompt_block_reason(data)
    if reason:
        raise BlockedPrompt(reason)
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise ValueError("the answer has no candidates")
    choices = []
    for position, candidate in enumerate(candidates):
        content = candidate.get("content") if isinstance(candidate, dict) else None
        texts, calls = message_parts(content.get("parts") if isinstance(content, dict) else None)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(texts) if texts and (any(texts) or not calls) else None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        choices.append({
            "index": _int(candidate.get("index")) if "index" in candidate else position,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)),
        })
    result = {
        "id": _completion_id(data),
        "object": "chat.completion",
        "created": created,
        "model": str(data.get("modelVersion") or model),
        "choices": choices,
    }
    usage = usage_from_gemini(data.get("usageMetadata"))
    if usage:
        result["usage"] = usage
    return result


class StreamTranslator:
    """Turns each `alt=sse` event into OpenAI chunks. Gemini sends whole parts and cumulative usage.

    `feed` raises BlockedPrompt; `complete` says whether a finish reason arrived; `usage_chunk` is the
    final OpenAI usage chunk (from the last usage seen).
    """

    def __init__(self, *, model: str, created: int) -> None:
        self.model = model
        self.created = created
        self.id = ""
        self.complete = False
        self._usage: dict | None = None
        self._started: set[int] = set()
        self._tool_calls: dict[int, int] = {}  # choice index → tool calls sent so far

    def feed(self, event: dict) -> list[dict]:
        if not self.id:
            self.id = _completion_id(event)
            self.model = str(event.get("modelVersion") or self.model)
        reason = prompt_block_reason(event)
        if reason:
            raise BlockedPrompt(reason)
        usage = usage_from_gemini(event.get("usageMetadata"))
        if usage:
            self._usage = usage
        chunks = []
        for position, candidate in enumerate(event.get("candidates") or ()):
            if isinstance(candidate, dict):
                chunks.extend(self._candidate(candidate, _int(candidate.get("index", position))))
        return chunks

    def _candidate(self, candidate: dict, index: int) -> list[dict]:
        chunks = []
        if index not in self._started:
            self._started.add(index)
            chunks.append(self._chunk(index, {"role": "assistant", "content": "", "refusal": None}))
        content = candidate.get("content")
        texts, calls = message_parts(content.get("parts") if isinstance(content, dict) else None)
        text = "".join(texts)
        if text:
            chunks.append(self._chunk(index, {"content": text}))
        for call in calls:
            position = self._tool_calls.get(index, 0)
            self._tool_calls[index] = position + 1
            head = {"index": position, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            chunks.append(self._chunk(index, {"tool_calls": [head]}))
            arguments = {"index": position, "function": {"arguments": call["function"]["arguments"]}}
            chunks.append(self._chunk(index, {"tool_calls": [arguments]}))
        if candidate.get("finishReason"):
            self.complete = True
            reason = finish_reason(candidate["finishReason"], self._tool_calls.get(index, 0) > 0)
            chunks.append(self._chunk(index, {}, reason))
        return chunks

    def _chunk(self, index: int, delta: dict, finish: str | None = None) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def usage_chunk(self) -> dict:
        usage = self._usage or usage_from_gemini({})
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage}


def _completion_id(data: dict) -> str:
    response_id = data.get("responseId")
    return f"chatcmpl-{response_id}" if isinstance(response_id, str) and response_id else (
        f"chatcmpl-{new_call_id()[5:]}")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
