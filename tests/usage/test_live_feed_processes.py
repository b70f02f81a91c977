"""The live feed across real gateway processes sharing Redis (channels_redis): a dashboard socket open on
one process receives the requests another process served; the server refuses an anonymous handshake."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import httpx
import pytest
from django.contrib.auth.models import User

from tests.conftest import dedicated_gateway

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_process_feeds_every_dashboard(routing, upstream, redis_url, tmp_path, client):
    upstream.reset()
    client.force_login(User.objects.create_user("live-ops", password="x", is_staff=True))
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    with dedicated_gateway(tmp_path, REDIS_URL=redis_url) as watched, \
            dedicated_gateway(tmp_path, REDIS_URL=redis_url) as serving:
        serving.sync_config()

        async def run() -> tuple[int, list[dict]]:
            origin = {"Origin": watched.url}
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(f"{watched.url.replace('http', 'ws')}/ws/usage/live/", headers=origin)
                async with session.ws_connect(f"{watched.url.replace('http', 'ws')}/ws/usage/live/",
                                              headers={**origin, "Cookie": cookie}) as socket:
                    async with httpx.AsyncClient(base_url=serving.base_url, timeout=20) as http:
                        response = await http.post("/chat/completions", json={
                            "model": "fast-model", "messages": [{"role": "user", "content": "seen elsewhere"}]})
                        assert response.status_code == 200
                        request_id = response.headers["x-request-id"]
                    received: list[dict] = []
                    while not any(row["request_id"] == request_id for row in received):
                        message = await asyncio.wait_for(socket.receive(), timeout=10)
                        received.extend(json.loads(message.data)["requests"])
            return refused.value.status, [row for row in received if row["request_id"] == request_id]

        status, rows = asyncio.run(run())
    assert status == 403
    [row] = rows
    assert (row["model"], row["provider"], row["status_code"]) == ("fast-model", "mockai", 200)
    assert row["tokens"] > 0 and row["latency_ms"] > 0
