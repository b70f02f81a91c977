"""How the documented ninja routes serve a pipeline handler (chat completions, responses, embeddings).

Production traffic takes the pure-ASGI front (`proxy.fronts.asgi`); these routes give the OpenAPI docs and
Django's test client the same behaviour: the size check (a refused body still gets its usage row), the
handler, then its answer or stream with the gateway's headers. A GatewayError propagates to ninja's handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from core.errors import PayloadTooLarge
from proxy.fronts.bodies import refuse_oversize
from proxy.pipeline import ChatResult, record_rejection

Handler = Callable[[bytes, Mapping[str, str], str | None], Awaitable[ChatResult]]


async def pipeline_response(handler: Handler, request: HttpRequest) -> HttpResponse:
    try:
        refuse_oversize(request.headers.get("content-length"))
    except PayloadTooLarge as error:
        record_rejection(error)
        raise
    result = await handler(request.body, request.headers, request.META.get("REMOTE_ADDR"))
    if result.stream is not None:
        response = StreamingHttpResponse(result.stream, status=result.status, content_type=result.content_type)
    else:
        response = HttpResponse(result.body, status=result.status, content_type=result.content_type)
    for name, value in result.headers.items():
        response[name] = value
    return response
