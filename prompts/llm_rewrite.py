"""Optional: a configured model restates the user's latest request for the detected role (off by default).

The restatement is *added* as one delimited system message after the client's last message; the client's own
messages are never changed. It costs a model call on the request path, so it runs under a strict time budget
(`PROMPT_REWRITE_TIMEOUT_MS`), is cached by a hash of the role and the request text (LRU, per process), and on
timeout or any error the request goes on with the template strategy alone (counted in `failures`). Only a new
task of plain text up to `MAX_CHARS` characters is restated: tool loops and pasted logs are left alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import Any

import orjson

from providers import provider_for
from routing.snapshot import RoutingSnapshot

logger = logging.getLogger(__name__)

MAX_CHARS = 4000
INSTRUCTION = (
    "Rewrite the user's request below for an assistant working as: {role}. Make it specific and unambiguous and "
    "state the expected deliverable. Keep every fact, name and constraint; add no new requirements. Answer with "
    "the rewritten request only."
)


class Restater:
    def __init__(self, model: str, timeout_ms: float, cache_size: int) -> None:
        self.model = model
        self.timeout = timeout_ms / 1000
        self._cache_size = cache_size
        self._cache: OrderedDict[str, str] = OrderedDict()
        self.calls = 0
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return bool(self.model)

    async def restate(self, snapshot: RoutingSnapshot, role: str, text: str) -> str | None:
        """The restated request, or None (disabled, not applicable, too slow, or the model failed)."""
        if not self.enabled or not text or len(text) > MAX_CHARS:
            return None
        key = hashlib.blake2b(f"{role}\0{text}".encode(), digest_size=16).hexdigest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        spec = snapshot.models.get(self.model)
        provider = snapshot.providers.get(spec.provider) if spec is not None else None
        if spec is None or provider is None:
            self.failures += 1
            logger.warning("PROMPT_REWRITE_MODEL %r is not a configured model", self.model)
            return None
        body = {"model": spec.public_id, "max_tokens": 512, "temperature": 0, "messages": [
            {"role": "system", "content": INSTRUCTION.format(role=role)}, {"role": "user", "content": text}]}
        self.calls += 1
        try:
            completion = await asyncio.wait_for(provider_for(provider).complete(body, spec), self.timeout)
            answer = _answer_text(orjson.loads(completion.body))
        except Exception:  # timeout, provider error, odd body: the template result stands
            self.failures += 1
            logger.info("prompt rewrite by %s failed or timed out; using the template strategy", self.model,
                        exc_info=True)
            return None
        if not answer:
            self.failures += 1
            return None
        self._cache[key] = answer
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return answer


def _answer_text(data: Any) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return content.strip() if isinstance(content, str) else ""


def restatement_message(role: str, text: str) -> dict:
    return {"role": "system", "content": f'<gateway-restatement role="{role}">\n{text}\n</gateway-restatement>'}
