"""The live feed WebSocket, through the gateway's real ASGI application: staff sessions get each committed
batch of usage rows; anonymous, non-staff and foreign-origin sockets are refused; bursts are bounded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from usage.events import UsageEvent
from usage.live import LIVE_MAX_ROWS, LivePublisher, live_publisher
from usage.recorder import UsageRecorder

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/ws/usage/live/"


def session_cookie(client, **user_fields) -> bytes:
    client.force_login(User.objects.create_user(f"live-{len(user_fields)}", password="x", **user_fields))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(cookie: bytes | None = None, origin: bytes = b"http://127.0.0.1:8090") -> WebsocketCommunicator:
    from gateway_project.asgi import application

    headers = [(b"host", b"127.0.0.1:8090"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, PATH, headers=headers)


def event(index: int) -> UsageEvent:
    return UsageEvent(created_at=datetime.now(UTC), request_id=f"live-{index}", api_key_prefix="gwk_live0001",
                      model="fast-model", provider="mockai", role="debugging", prompt_tokens=7, completion_tokens=5,
                      total_tokens=12, cost=0.0042, latency_ms=123.4, status_code=200, status="ok")


def test_a_staff_socket_receives_each_committed_batch(client):
    from usage.services import usage_records_write

    cookie = session_cookie(client, is_staff=True)

    async def run():
        communicator = socket(cookie)
        connected, _ = await communicator.connect()
        assert connected
        recorder = UsageRecorder(usage_records_write, flush_interval=0.05, batch_size=100, on_written=live_publisher)
        for index in range(3):
            recorder.record(event(index))
        await recorder.flush()
        message = await communicator.receive_json_from(timeout=5)
        await recorder.aclose()
        await communicator.disconnect()
        return message

    message = asyncio.run(run())
    assert [row["request_id"] for row in message["requests"]] == ["live-0", "live-1", "live-2"]
    first = message["requests"][0]
    assert (first["key"], first["model"], first["provider"], first["role"], first["tokens"], first["cost"],
            first["latency_ms"], first["status_code"]) == ("gwk_live0001", "fast-model", "mockai", "debugging", 12,
                                                           0.0042, 123.4, 200)
    assert message["dropped"] == 0


@pytest.mark.parametrize("who", ["anonymous", "not staff", "foreign origin"])
def test_other_sockets_are_refused(client, who):
    cookie = None if who == "anonymous" else session_cookie(client, is_staff=who != "not staff")
    origin = b"https://evil.example" if who == "foreign origin" else b"http://127.0.0.1:8090"

    async def run():
        communicator = socket(cookie, origin)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert asyncio.run(run()) is False


def test_a_burst_is_bounded_not_buffered():
    sent: list[dict] = []

    class SlowLayer:
        async def group_send(self, group, message):
            sent.append(message)
            await asyncio.sleep(0.05)

    async def run(publisher: LivePublisher):
        import usage.live

        original = usage.live.get_channel_layer
        usage.live.get_channel_layer = lambda: SlowLayer()
        try:
            publisher([event(index) for index in range(LIVE_MAX_ROWS + 50)])  # more than one message holds
            for index in range(10):  # batches while the first is still being sent: dropped, counted
                publisher([event(1000 + index)])
            await asyncio.sleep(0.1)
            publisher([event(2000)])
            await asyncio.sleep(0.1)
        finally:
            usage.live.get_channel_layer = original

    asyncio.run(run(LivePublisher()))
    assert len(sent) == 2
    assert len(sent[0]["requests"]) == LIVE_MAX_ROWS and sent[0]["dropped"] == 50
    assert [row["request_id"] for row in sent[1]["requests"]] == ["live-2000"] and sent[1]["dropped"] == 10
