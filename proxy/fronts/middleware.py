"""Keep API answers in OpenAI's error shape (Anthropic's under /v1/messages) even where Django or ninja
would send an HTML page."""

from __future__ import annotations

import orjson
from django.http import HttpResponse

from core.errors import GatewayError, error_response
from core.middleware import HybridMiddleware
from proxy.fronts.messages.translate_response import error_body as anthropic_error_body

API_PREFIX = "/v1/"
ANTHROPIC_PREFIX = "/v1/messages"
MESSAGES = {
    404: ("No such endpoint: {method} {path}. The API lives under /v1 (e.g. POST /v1/chat/completions).",
          "not_found"),
    405: ("{method} is not allowed on {path}.", "method_not_allowed"),
}


class OpenAIErrorPagesMiddleware(HybridMiddleware):
    def handle(self, request):
        return self._convert(request, self.get_response(request))

    async def ahandle(self, request):
        return self._convert(request, await self.get_response(request))

    @staticmethod
    def _convert(request, response):
        if response.status_code not in MESSAGES or not request.path.startswith(API_PREFIX):
            return response
        if response.get("content-type", "").startswith("application/json"):
            return response
        template, code = MESSAGES[response.status_code]
        message = template.format(method=request.method, path=request.path)
        if request.path.startswith(ANTHROPIC_PREFIX):
            converted = HttpResponse(orjson.dumps(anthropic_error_body(response.status_code, message)),
                                     status=response.status_code, content_type="application/json")
        else:
            converted = error_response(GatewayError(message, status=response.status_code, code=code))
        if "allow" in response:
            converted["allow"] = response["allow"]
        return converted
