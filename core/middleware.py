"""A base for Django middleware that serves sync and async stacks alike, so neither forces a thread hop."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class HybridMiddleware:
    """Subclasses implement `handle(request)` (sync) and `ahandle(request)` (async); `get_response` is the
    next layer, called the matching way."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        return self.ahandle(request) if self.is_async else self.handle(request)

    def handle(self, request):
        raise NotImplementedError

    async def ahandle(self, request):
        raise NotImplementedError
