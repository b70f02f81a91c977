"""WebSocket routes of the usage app (mounted by gateway_project.asgi)."""

from django.urls import path

from usage.live import LiveFeedConsumer

websocket_urlpatterns = [path("ws/usage/live/", LiveFeedConsumer.as_asgi())]
