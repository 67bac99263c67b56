"""The Django Channels side of the benchmark: idiomatic consumers."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer

GROUP = "bench"


class EchoConsumer(AsyncWebsocketConsumer):
    """Send every message back (async)."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Echo."""
        await self.send(text_data=text_data, bytes_data=bytes_data)


class SyncEchoConsumer(WebsocketConsumer):
    """Send every message back (sync: runs in Channels' thread)."""

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Echo."""
        self.send(text_data=text_data, bytes_data=bytes_data)


class WhoamiConsumer(AsyncWebsocketConsumer):
    """Name the user AuthMiddlewareStack found in the session, then echo."""

    async def connect(self) -> None:
        """Accept and send the user's name."""
        await self.accept()
        user = self.scope["user"]
        await self.send(text_data=user.get_username() or "anonymous")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Echo."""
        await self.send(text_data=text_data, bytes_data=bytes_data)


class SubscribeConsumer(AsyncWebsocketConsumer):
    """Join the group on the channel layer and say "ready"."""

    async def connect(self) -> None:
        """Accept, join, announce."""
        await self.accept()
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.send(text_data="ready")

    async def disconnect(self, code: int) -> None:
        """Leave the group."""
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_message(self, event: dict[str, Any]) -> None:
        """Forward one group message."""
        await self.send(text_data=event["text"])


class ControlConsumer(AsyncWebsocketConsumer):
    """Publish every message received to the group."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """group_send the message."""
        await self.channel_layer.group_send(GROUP, {"type": "bench.message", "text": text_data})
