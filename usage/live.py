"""The live feed: every committed batch of usage rows goes to the staff dashboards' WebSockets.

The usage writer calls `live_publisher(events)` after each batch commits, in the event loop and off
the response path. One group message per batch (at most LIVE_MAX_ROWS rows; more are counted as
dropped), sent by a background task; while one is still being sent the next batch is dropped rather
than queued. So each socket gets at most one message per flush (USAGE_FLUSH_INTERVAL) of at most
LIVE_MAX_ROWS rows, however many requests a second the gateway serves; the channel layer keeps at
most its capacity of messages for a consumer that falls behind and drops the rest (channels'
in-memory layer and channels_redis both do). With REDIS_URL the layer is channels_redis: every
gateway process feeds every dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from orjson import dumps

from usage.events import UsageEvent

logger = logging.getLogger(__name__)

GROUP = "usage-live"
LIVE_MAX_ROWS = 200  # per batch message: a burst costs each socket a bounded number of bytes per flush
REFUSED = 4403


def live_row(event: UsageEvent) -> dict:
    return {
        "time": event.created_at.isoformat(),
        "request_id": event.request_id,
        "key": event.api_key_prefix,
        "model": event.model or event.requested_model,
        "provider": event.provider,
        "role": event.role,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "tokens": event.total_tokens,
        "cost": round(float(event.cost), 8),
        "latency_ms": round(event.latency_ms, 1),
        "ttft_ms": None if event.ttft_ms is None else round(event.ttft_ms, 1),
        "status_code": event.status_code,
        "status": event.status,
    }


class LivePublisher:
    def __init__(self) -> None:
        self._sending: asyncio.Task | None = None
        self.published = 0
        self.dropped = 0
        self._failing = False

    def __call__(self, events: Sequence[UsageEvent]) -> None:
        """Never raises and never waits; call it from the event loop."""
        if not settings.USAGE_LIVE_FEED or not events:
            return
        if self._sending is not None and not self._sending.done():
            self.dropped += len(events)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a sync flush at shutdown: nobody is watching
        shown = events[-LIVE_MAX_ROWS:]
        message = {"type": "usage.batch", "requests": [live_row(event) for event in shown],
                   "dropped": len(events) - len(shown) + self.dropped}
        self.dropped = 0
        self._sending = loop.create_task(self._send(message, len(shown)), name="usage-live-publish")

    async def _send(self, message: dict, rows: int) -> None:
        try:
            layer = get_channel_layer()
            if layer is not None:
                await layer.group_send(GROUP, message)
                self.published += rows
            if self._failing:
                self._failing = False
                logger.info("usage live feed publishes again")
        except Exception:
            if not self._failing:
                logger.exception("usage live feed could not publish; dashboards miss these rows")
            self._failing = True


live_publisher = LivePublisher()


class LiveFeedConsumer(AsyncWebsocketConsumer):
    """ws …/ws/usage/live/: staff sessions only (an anonymous or non-staff handshake is refused with 403)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not (user.is_authenticated and user.is_active and user.is_staff):
            await self.close(code=REFUSED)
            return
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.channel_layer is not None:
            await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # the feed is one-way

    async def usage_batch(self, message: dict) -> None:
        await self.send(text_data=dumps({"requests": message["requests"], "dropped": message["dropped"]}).decode())
